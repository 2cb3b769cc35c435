// The thread panel beside the room (a full-screen view on a phone): a root and its replies, live,
// with a reply box that works like the room's, Follow/Unfollow and Mute, and the thread's read
// pointer, moved forward only while the reader can see the newest reply.
//
// The panel holds no order of its own: every reply is a message of the room, and the room view
// (room.js) hands each one on in the room's change order (its "message" event), sync after an
// outage included. The panel only asks the server for the thread as it is when it opens
// (`replies_url`); what arrives while that answer is on its way is kept and applied after it,
// the higher change winning for each seq. The panel is a "view" for actions.js and composer.js
// (roomId, list, itemFor, showPending), so editing, deleting, reacting, Retry and drafts work in
// it exactly as in the room.

import { MessageActions } from "./actions.js";
import { Composer } from "./composer.js";
import { MentionPicker } from "./mentions.js";
import { arrange, messageState, placeDelivered, renderMessage, updateMessage } from "./messages.js";

const NEAR_BOTTOM_PX = 80;
// Several replies arriving together make one thread.read, as for room.read.
const READ_DEBOUNCE_MS = 400;

export class ThreadPanel extends EventTarget {
  constructor({ panel, room, config, socket, outbox, store, me, myName, picker, presence = null }) {
    super();
    this.panel = panel;
    this.room = room; // the RoomView
    this.roomId = room.roomId;
    this.socket = socket;
    this.outbox = outbox;
    this.store = store;
    this.me = me;
    this.myName = myName;
    this.repliesUrl = config.replies_url || `/rooms/${config.slug}/threads/{root}/replies/`;
    this.list = panel.querySelector("#thread-messages");
    this.status = panel.querySelector("#thread-status");
    this.followButton = panel.querySelector("#thread-follow");
    this.muteButton = panel.querySelector("#thread-mute");
    this.form = panel.querySelector("#thread-composer");
    this.input = panel.querySelector("#thread-input");
    this.alsoInRoom = panel.querySelector("#thread-also");
    this.olderButton = panel.querySelector("#thread-older");
    this.members = config.members || [];
    this.typingOn = Boolean(config.typing);
    this.presence = presence; // the page's PresenceStore, for the mention picker's dots
    this.root = null; // the open thread's root seq
    this.items = new Map(); // seq → delivered item (the root and its replies)
    this.waiting = null; // payloads heard while the thread's replies are being fetched
    this.loading = 0; // which open() the fetch on its way belongs to
    this.readSeq = 0; // sent for the open thread, or heard from another tab
    this.readTimer = null;
    this.opener = null;
    this.composer = null;
    this.pushed = false; // whether opening added a history entry (Back then closes)
    this.fetchedStanding = null; // the open thread's T as its replies' answer said

    this.actions = new MessageActions({
      view: this,
      socket,
      list: this.list,
      me,
      picker,
      versionsUrl: config.versions_url || `/rooms/${config.slug}/messages/{seq}/versions/`,
      canSeeVersions: config.can_see_versions !== false,
      alert: panel.querySelector("#thread-alert"),
    });

    room.addEventListener("message", (event) => this.heard(event.detail.message));
    room.list.addEventListener("click", (event) => this.clickedInRoom(event));
    this.list.addEventListener("click", (event) => {
      const reply = event.target.closest('[data-action="reply"]');
      if (reply) this.input?.focus();
    });
    store.addEventListener("change", (event) => {
      const thread = event.detail.thread;
      if (!thread || (thread.room === this.roomId && thread.root === this.root)) this.renderStanding();
      if (this.isOpen && this.canSeeLatest()) this.caughtUp();
    });
    room.covered = () => this.coversRoom();
    store.reading = () => (this.isOpen && this.canSeeLatest() ? { room: this.roomId, root: this.root } : null);
    socket.on("thread.read", (frame) => {
      const thread = frame.thread;
      if (thread?.room === this.roomId && thread.root === this.root) {
        this.readSeq = Math.max(this.readSeq, thread.last_read_seq || 0);
      }
    });
    socket.on("error", (frame) => {
      if (frame.frame === "thread.read" && frame.room === this.roomId) this.readSeq = 0;
      if (frame.frame === "thread.follow" && frame.room === this.roomId) this.actions.say(`Not changed: ${frame.detail}`);
    });

    this.olderButton?.addEventListener("click", () => this.loadOlder());
    panel.querySelector("#thread-close")?.addEventListener("click", () => this.close());
    panel.querySelector("#thread-back")?.addEventListener("click", () => this.close());
    panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !event.defaultPrevented && !event.target.closest(".edit-form")) {
        event.preventDefault();
        this.close();
      }
    });
    this.followButton?.addEventListener("click", () => this.follow({ following: !this.standing().following }));
    this.muteButton?.addEventListener("click", () => this.follow({ following: true, muted: !this.standing().muted }));
    this.list.addEventListener("scroll", () => {
      if (this.canSeeLatest()) this.caughtUp();
    });
    document.addEventListener("visibilitychange", () => {
      if (this.isOpen && this.canSeeLatest()) this.caughtUp();
    });
    window.addEventListener("focus", () => {
      if (this.isOpen && this.canSeeLatest()) this.caughtUp();
    });
    // The browser's Back (a phone's too) closes a thread that opening put in the history.
    window.addEventListener("popstate", () => {
      const root = threadInUrl();
      if (root) this.open(root, { history: "none" });
      else if (this.isOpen) this.close({ history: "none" });
    });
    const root = threadInUrl();
    if (root) this.open(root, { history: "none" });
  }

  get isOpen() {
    return !this.panel.hidden && this.root !== null;
  }

  /** The message shown in the panel for `seq` (actions.js asks). */
  itemFor(seq) {
    return this.items.get(seq) || null;
  }

  isNearBottom() {
    return this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < NEAR_BOTTOM_PX;
  }

  canSeeLatest() {
    return document.visibilityState === "visible" && document.hasFocus() && !this.panel.hidden && this.isNearBottom();
  }

  // --- opening and closing -------------------------------------------------------------------

  clickedInRoom(event) {
    const trigger = event.target.closest('[data-action="reply"], [data-action="thread"]');
    const item = event.target.closest(".message[data-seq]");
    if (!trigger || !item) return;
    event.preventDefault();
    const root = Number(trigger.dataset.root || item.dataset.threadRoot || item.dataset.seq);
    this.opener = trigger.dataset.action === "reply" ? item : trigger;
    this.open(root, { focus: trigger.dataset.action === "reply" ? "composer" : "panel" });
  }

  open(root, { focus = "panel", history: how = "push" } = {}) {
    if (!Number.isInteger(root) || root < 1) return;
    const same = root === this.root && !this.panel.hidden;
    if (!same) {
      this.root = root;
      this.readSeq = this.store.get(this.roomId, root)?.last_read_seq || 0;
      clearTimeout(this.readTimer);
      this.items.clear();
      this.list.replaceChildren();
      if (this.olderButton) this.olderButton.hidden = true;
      this.status.textContent = "Loading the thread…";
      this.panel.hidden = false;
      document.body.classList.add("thread-open");
      this.aimComposer(root);
      this.showRootFromRoom();
      this.renderStanding();
      this.load(root);
      // Another conversation: its own "is typing…".
      this.dispatchEvent(new Event("retarget"));
    }
    // Another thread in place of one that opening put in the history: one entry for both, so
    // Back (or Close) returns to the room, not to the thread before.
    if (how !== "none") this.remember(root, how === "push" && this.pushed ? "replace" : how);
    if (focus === "composer" && this.input) this.input.focus();
    else if (!same) this.panel.querySelector("#thread-title")?.focus();
  }

  close({ history: how = "auto" } = {}) {
    if (this.panel.hidden) return;
    clearTimeout(this.readTimer);
    this.composer?.typing?.stop();
    this.panel.hidden = true;
    document.body.classList.remove("thread-open");
    this.root = null;
    this.items.clear();
    this.list.replaceChildren();
    this.waiting = null;
    this.dispatchEvent(new Event("retarget"));
    if (how === "auto") {
      if (this.pushed) {
        this.pushed = false;
        window.history.back(); // the popstate that follows finds the panel closed already
      } else {
        this.remember(null, "replace");
      }
    } else {
      this.pushed = false;
    }
    const opener = this.opener;
    this.opener = null;
    if (opener?.isConnected) opener.focus();
    else document.getElementById("message-input")?.focus();
    // Uncovered (on a phone): the room's newest messages are in sight again.
    if (this.room.canSeeLatest()) this.room.caughtUp();
  }

  /** On a phone the panel covers the room's timeline. */
  coversRoom() {
    return !this.panel.hidden && window.matchMedia("(max-width: 767px)").matches;
  }

  /** The open thread in the address (`?thread=`), so a reload or a shared link opens it again. */
  remember(root, how) {
    const url = new URL(window.location.href);
    if (root) url.searchParams.set("thread", String(root));
    else url.searchParams.delete("thread");
    if (url.href === window.location.href) return;
    if (how === "push") {
      window.history.pushState({ thread: root }, "", url);
      this.pushed = true;
    } else {
      window.history.replaceState(window.history.state, "", url);
    }
  }

  aimComposer(root) {
    if (!this.form || !this.input) return;
    if (!this.composer) {
      this.composer = new Composer({
        form: this.form,
        input: this.input,
        socket: this.socket,
        outbox: this.outbox,
        view: this,
        me: this.me,
        myName: this.myName,
        picker: new MentionPicker({
          input: this.input,
          container: this.form,
          members: this.members,
          me: this.me,
          idPrefix: "thread-mention",
          presence: this.presence,
        }),
        editLast: () => this.actions.editLast(this.input),
        threadRoot: root,
        alsoInRoom: this.alsoInRoom,
        typing: this.typingOn,
      });
    } else {
      this.composer.retarget(root);
    }
    if (this.alsoInRoom) this.alsoInRoom.checked = false;
  }

  /** The root as the room shows it, at once, while the thread is fetched. */
  showRootFromRoom() {
    const shown = this.room.itemFor(this.root);
    const message = shown ? messageState(shown) : this.room.outside.get(this.root);
    if (message) this.apply(message);
  }

  async load(root) {
    const ticket = ++this.loading;
    this.waiting = [];
    let answer = null;
    let failure = "The thread could not be loaded. Check the connection and try again.";
    try {
      const response = await fetch(this.repliesUrl.replace("{root}", String(root)), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      const body = await response.json().catch(() => ({}));
      if (response.ok) answer = body;
      else if (body.detail) failure = body.detail;
    } catch {
      // Said below.
    }
    if (ticket !== this.loading || this.root !== root) return;
    const heard = this.waiting || [];
    this.waiting = null;
    if (!answer) {
      this.status.textContent = failure;
      return;
    }
    this.status.textContent = "";
    // The reader's standing as the answer has it, for the header's buttons until the store (all
    // of the person's threads, from threads.state) knows the thread: seeding the store with one
    // thread would count the badge from part of the threads for a moment.
    this.fetchedStanding = answer.thread || null;
    if (answer.thread && this.store.synced && !this.store.get(this.roomId, root)) this.store.update(answer.thread);
    for (const message of [answer.root, ...(answer.replies || [])]) if (message) this.apply(message);
    for (const message of heard) this.apply(message);
    if (this.olderButton) this.olderButton.hidden = !answer.has_older;
    this.composer?.showWaiting();
    arrange(this.list);
    // Opened at a reply (a notification, a link to it): there, else at the newest.
    const target = /^#m(\d+)$/.exec(window.location.hash);
    const targetItem = target && this.itemFor(Number(target[1]));
    if (targetItem && Number(target[1]) !== root) {
      targetItem.scrollIntoView({ block: "center" });
      targetItem.classList.add("flash");
    } else {
      this.scrollToBottom();
    }
    this.renderStanding();
    if (this.canSeeLatest()) this.caughtUp();
  }

  /** A long thread opens at its newest replies; the earlier ones page in above them. */
  async loadOlder() {
    const root = this.root;
    const first = Math.min(...Array.from(this.items.keys()).filter((seq) => seq !== root));
    if (!Number.isFinite(first)) return;
    this.olderButton.disabled = true;
    let answer = null;
    try {
      const url = `${this.repliesUrl.replace("{root}", String(root))}?before_seq=${first}`;
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok) answer = await response.json();
    } catch {
      // The button stays for another try.
    } finally {
      this.olderButton.disabled = false;
    }
    if (!answer || this.root !== root) return;
    const height = this.list.scrollHeight;
    // Already known (live, or a later change of it) wins: apply keeps the higher change.
    for (const message of answer.replies || []) this.apply(message);
    arrange(this.list);
    this.list.scrollTop += this.list.scrollHeight - height;
    this.olderButton.hidden = !answer.has_older;
  }

  // --- messages ------------------------------------------------------------------------------

  /** A message of the room as it now is (from the room view, in the room's change order). */
  heard(message) {
    if (!this.isOpen || message.room !== this.roomId) return;
    if (message.seq !== this.root && message.thread_root !== this.root) return;
    if (this.waiting) {
      this.waiting.push(message);
      return;
    }
    const stick = this.isNearBottom() || (message.author.username === this.me && message.seq !== this.root);
    const shown = this.apply(message);
    if (!shown) return;
    arrange(this.list);
    if (stick) this.scrollToBottom();
    if (this.canSeeLatest()) this.caughtUp();
  }

  /** Show `message` in its place by seq (the root first); null when nothing changed. */
  apply(message) {
    if (message.seq === this.root) this.rootIs(message);
    const item = this.itemFor(message.seq);
    if (item) {
      this.dropPendingCopy(message);
      if (Number(item.dataset.change || 0) >= (message.change ?? 0)) return null;
      updateMessage(item, message, { me: this.me });
      this.dispatchEvent(new CustomEvent("message", { detail: { message, item } }));
      return item;
    }
    const added = placeDelivered(this.list, this.items, message, { me: this.me });
    if (message.seq === this.root) added.classList.add("thread-root");
    this.dispatchEvent(new CustomEvent("message", { detail: { message, item: added } }));
    return added;
  }

  /** A deleted root keeps its thread readable, but it takes no new replies (the server says so). */
  rootIs(root) {
    if (!this.composer) return;
    if (root.deleted) this.composer.disable("The message this thread answers was deleted; the thread takes no new replies.");
    else this.composer.enable();
  }

  dropPendingCopy(message) {
    if (!message.client_id) return;
    this.list.querySelector(`.message[data-client-id="${CSS.escape(message.client_id)}"]:not([data-id])`)?.remove();
  }

  /** The composer's reply on its way (composer.js). */
  showPending(message) {
    const item = renderMessage(message, { me: this.me, pending: true });
    this.list.append(item);
    arrange(this.list);
    this.scrollToBottom();
    return item;
  }

  scrollToBottom() {
    this.list.scrollTop = this.list.scrollHeight;
  }

  // --- following and reading -----------------------------------------------------------------

  standing() {
    return (
      this.store.get(this.roomId, this.root) ||
      (this.fetchedStanding?.root === this.root ? this.fetchedStanding : null) || {
        following: false,
        muted: false,
        last_read_seq: 0,
      }
    );
  }

  renderStanding() {
    if (this.root === null) return;
    const { following, muted } = this.standing();
    if (this.followButton) {
      this.followButton.textContent = following ? "Unfollow" : "Follow";
      this.followButton.title = following
        ? "Stop following: no notifications or unread count for new replies"
        : "Follow: a notification and an unread count for each new reply";
    }
    if (this.muteButton) {
      this.muteButton.hidden = !following;
      this.muteButton.textContent = muted ? "Unmute" : "Mute";
      this.muteButton.title = muted ? "Notify me of new replies again" : "Keep following, without notifications";
    }
  }

  follow({ following, muted }) {
    const frame = { type: "thread.follow", room: this.roomId, root: this.root, following };
    if (muted !== undefined) frame.muted = muted;
    if (!this.socket.send(frame)) this.actions.say("Not connected. Try again once the connection is back.");
  }

  newestReplySeq() {
    let newest = 0;
    for (const seq of this.items.keys()) if (seq !== this.root && seq > newest) newest = seq;
    return newest;
  }

  /** The reader sees the newest reply: move the thread's read pointer, soon. */
  caughtUp({ force = false } = {}) {
    if (!this.isOpen || this.waiting) return;
    const newest = this.newestReplySeq();
    if (!newest || (!force && newest <= this.readSeq)) return;
    clearTimeout(this.readTimer);
    this.readTimer = setTimeout(() => this.sendRead({ force }), READ_DEBOUNCE_MS);
  }

  sendRead({ force = false } = {}) {
    const seq = this.newestReplySeq();
    if (!seq || (!force && seq <= this.readSeq) || !this.canSeeLatest()) return;
    if (!this.standing().following && !force) return; // nothing is counted for a thread not followed
    const frame = { type: "thread.read", room: this.roomId, root: this.root, seq };
    if (this.socket.send(frame)) this.readSeq = Math.max(this.readSeq, seq);
  }

  /** A reply notification for the thread being read: read again, so the server marks it read too. */
  readNotified() {
    this.caughtUp({ force: true });
  }
}

function threadInUrl() {
  const value = new URL(window.location.href).searchParams.get("thread");
  return value && /^\d{1,16}$/.test(value) ? Number(value) : null;
}
