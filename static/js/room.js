// The open room: the message list, kept complete and current in the room's change order across
// reconnects, and the read pointer, moved forward only while the reader can actually see the
// newest message.
//
// Every change of the room (a new message, an edit, a delete, a reaction, a pin) has a position
// in the room's change order, and every frame carries the message's whole current state. The
// view holds the state as of `lastChange`: a frame with the next position is shown at once, one
// further ahead waits in `early` while a `sync` with `after_change` fetches what is missing
// (its answers are waited for too: they are complete only at `sync.done`, whose `last_change`
// is where the view then stands; a position below it that never came was superseded). For each
// seq the payload with the highest change wins, so frames that arrive twice or late change
// nothing. A sync that is refused (`rate_limited`, `server_error`, naming the room and the frame)
// is retried after the wait it names, one never answered after SYNC_TIMEOUT_MS; a sync that
// brought nothing new is not sent again from the same point until a newer change is heard of
// or the periodic check.
//
// A page opened at an old message (`?around=`) does not show the room's newest messages: it
// first fetches them by seq (`after_seq`), then follows the change order from the position the
// page was rendered at.
//
// Thread replies are messages of the room: they take its seqs and change positions like any
// other, so the view follows them in order, and hands every one on (the "message" event) to the
// thread panel and the thread counts. Only those also sent to the room (`in_room`) are shown in
// the timeline; a thread-only reply is a seq the timeline legitimately skips.

import { arrange, enhanceMessages, placeDelivered, renderMessage, updateMessage } from "./messages.js";

const NEAR_BOTTOM_PX = 80;
// Several messages arriving together make one room.read, not one each.
const READ_DEBOUNCE_MS = 400;
// A sync with no answer for this long is given up and tried again.
const SYNC_TIMEOUT_MS = 10000;
// The wait before another try when a refusal names none.
const RETRY_WITHOUT_HINT_MS = 2000;
const RETRYABLE = new Set(["rate_limited", "server_error"]);
// Changes to messages above the loaded window are kept (the newest per seq, this many at most)
// for when "Load earlier messages" brings those messages.
const OUTSIDE_LIMIT = 500;

export class RoomView extends EventTarget {
  constructor({ config, socket, list, me, jumpButton = null }) {
    super();
    this.roomId = config.id;
    this.roomName = config.name;
    this.isMember = Boolean(config.member);
    this.socket = socket;
    this.list = list;
    this.me = me;
    this.jumpButton = jumpButton;
    this.historyUrl = config.history_url;
    this.firstSeq = config.first_seq;
    this.items = new Map(); // seq → delivered item
    let newest = 0;
    for (const item of list.querySelectorAll(".message[data-seq]")) {
      this.items.set(Number(item.dataset.seq), item);
      newest = Math.max(newest, Number(item.dataset.seq));
    }
    // The room's change position the page was rendered at, and its newest seq then.
    this.lastChange = Number(list.dataset.lastChange ?? config.last_change ?? 0) || 0;
    // Whether the page shows the room's newest messages; a page opened at an old one fetches
    // the rest by seq first.
    this.tailComplete = newest >= (config.last_seq || 0);
    // The highest seq shown with nothing missing below it (down to firstSeq): what is read.
    this.lastSeq = Math.max(newest, this.firstSeq - 1, 0);
    this.outside = new Map(); // seq → newest payload of a message above the loaded window
    this.threadOnly = new Map(); // seq → change of a reply shown only in its thread
    // Rendering the page reads nothing: the reader reads what the view shows at its bottom, and
    // says so with room.read (the server keeps the pointer from going back).
    this.readSeq = 0; // sent, or heard from another tab
    this.confirmedReadSeq = 0; // the server's answer
    this.readTimer = null;
    this.unseen = 0; // arrived while scrolled up or away, for the jump button and the title
    this.baseTitle = document.title;
    // A muted room's news counts nowhere, the page title neither (sidebar.js passes on the
    // `room.settings` frames that change it).
    this.mutedUntil = config.muted_until ? Date.parse(config.muted_until) : null;
    document.addEventListener("parley:room-settings", (event) => {
      if (event.detail.room !== this.roomId) return;
      this.mutedUntil = event.detail.muted_until ? Date.parse(event.detail.muted_until) : null;
      if (this.isMuted()) document.title = this.baseTitle;
    });
    this.early = new Map(); // change → message that arrived ahead of a gap (or a sync's answer)
    this.syncing = null; // the sync on its way: { bySeq, after, timer }
    this.syncRetry = null;
    // Where a sync last brought nothing new, and the newest change known to exist then: the same
    // sync is not sent again at once unless something newer is heard of.
    this.stalled = null; // { at, known }
    this.knownChange = this.lastChange; // the newest change heard of (held frames, notifications)
    // Whether something covers the timeline (the thread panel, full screen on a phone): then the
    // reader cannot see the newest message, whatever the scroll position says.
    this.covered = () => false;

    enhanceMessages(list, me);
    arrange(list);
    // Opened at an old message (a notification): stay there while the rest arrives below it.
    this.anchored = this.scrollToTarget();
    if (!this.anchored) this.scrollToBottom();

    socket.on("message.new", (frame) => this.receive(frame.message, { isNew: true }));
    socket.on("message.updated", (frame) => this.receive(frame.message, { isNew: false }));
    socket.on("sync.done", (frame) => this.syncDone(frame));
    socket.on("room.read", (frame) => this.readElsewhere(frame));
    socket.on("error", (frame) => this.refused(frame));
    socket.on("notification.new", (frame) => this.notified(frame.notification));
    socket.addEventListener("open", () => {
      this.resetSync();
      this.sync({ periodic: true });
    });
    socket.addEventListener("close", () => this.resetSync());
    // A broadcast lost with nothing after it leaves no gap to notice: check now and then.
    socket.on("pong", () => this.sync({ periodic: true }));

    list.addEventListener("scroll", () => {
      if (this.isNearBottom()) this.caughtUp();
    });
    document.addEventListener("visibilitychange", () => {
      if (this.canSeeLatest()) this.caughtUp();
    });
    window.addEventListener("focus", () => {
      if (this.canSeeLatest()) this.caughtUp();
    });
    jumpButton?.addEventListener("click", () => {
      this.scrollToBottom();
      this.caughtUp();
      document.getElementById("message-input")?.focus();
    });
  }

  isNearBottom() {
    const scroller = this.list;
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < NEAR_BOTTOM_PX;
  }

  /** The newest message is really before the reader: a visible, focused tab, at the bottom, uncovered. */
  canSeeLatest() {
    return document.visibilityState === "visible" && document.hasFocus() && this.isNearBottom() && !this.covered();
  }

  scrollToBottom() {
    this.list.scrollTop = this.list.scrollHeight;
  }

  /** A notification link (#m42) opens the room at that message, not at the bottom. */
  scrollToTarget() {
    const match = /^#m(\d+)$/.exec(window.location.hash);
    const target = match && document.getElementById(`m${match[1]}`);
    if (!target || !this.list.contains(target)) return false;
    target.scrollIntoView({ block: "center" });
    return true;
  }

  /** The delivered message shown for `seq`, if any. */
  itemFor(seq) {
    return this.items.get(seq) || null;
  }

  /**
   * Ask for every change after the one the view stands at (or, while the page lacks the room's
   * newest messages, for the messages after the last one shown). `periodic` (a reconnect, the
   * ping, a retry) may ask again from where a sync brought nothing; a gap or `has_more' may not.
   */
  sync({ periodic = false } = {}) {
    if (this.syncing || !this.isMember) return;
    let frame;
    if (!this.tailComplete) {
      frame = { type: "sync", room: this.roomId, after_seq: this.lastSeq };
    } else {
      const stalled = this.stalled;
      if (!periodic && stalled && stalled.at === this.lastChange && stalled.known >= this.knownChange) return;
      frame = { type: "sync", room: this.roomId, after_change: this.lastChange };
    }
    clearTimeout(this.syncRetry);
    this.syncRetry = null;
    if (!this.socket.send(frame)) return;
    const timer = setTimeout(() => {
      this.syncing = null;
      this.sync({ periodic: true });
    }, SYNC_TIMEOUT_MS);
    this.syncing = { bySeq: "after_seq" in frame, after: frame.after_seq ?? frame.after_change, timer };
  }

  resetSync() {
    clearTimeout(this.syncing?.timer);
    clearTimeout(this.syncRetry);
    this.syncing = null;
    this.syncRetry = null;
  }

  syncDone(frame) {
    if (frame.room !== this.roomId) return;
    const syncing = this.syncing;
    this.resetSync();
    if (syncing?.bySeq) {
      // The newest messages of a page opened at an old one: a seq below `last_seq` that never
      // came does not exist (a hole). Then the change order, from where the page was rendered.
      if (Number.isInteger(frame.last_seq)) this.seqDeliveredUpTo(frame.last_seq);
      if (!frame.has_more) this.completeTail();
      this.sync({ periodic: true });
      return;
    }
    const after = syncing ? syncing.after : this.lastChange;
    if (Number.isInteger(frame.last_change)) this.deliveredUpTo(frame.last_change);
    if (!frame.has_more && Number.isInteger(frame.last_seq) && this.tailComplete && !this.early.size) {
      this.lastSeq = Math.max(this.lastSeq, frame.last_seq);
    }
    this.stalled = this.lastChange > after ? null : { at: this.lastChange, known: this.knownChange };
    if (frame.has_more || this.early.size) {
      this.sync();
      return;
    }
    this.anchored = false;
    if (this.canSeeLatest()) this.caughtUp();
  }

  /** The server refused a frame of ours about this room. */
  refused(frame) {
    if (frame.room !== this.roomId) return;
    const wait = frame.retry_after ? frame.retry_after * 1000 : RETRY_WITHOUT_HINT_MS;
    if (frame.frame === "sync") {
      this.resetSync();
      if (RETRYABLE.has(frame.code)) this.syncRetry = setTimeout(() => this.sync({ periodic: true }), wait);
    } else if (frame.frame === "room.read") {
      this.readSeq = this.confirmedReadSeq;
      if (RETRYABLE.has(frame.code)) {
        clearTimeout(this.readTimer);
        this.readTimer = setTimeout(() => this.sendRead(), wait);
      }
    }
  }

  /**
   * A notification can come before its message (held behind a gap, or lost): the message exists,
   * so fetch what is missing; it is shown by the sync, in order, never from the notification.
   */
  notified(notification) {
    const message = notification?.message;
    if (!message || message.room !== this.roomId || this.itemFor(message.seq) || this.threadOnly.has(message.seq)) return;
    if (Number.isInteger(message.change) && message.change <= this.lastChange) return;
    this.knownChange = Math.max(this.knownChange, message.change || this.lastChange + 1);
    this.sync();
  }

  /** Every change up to `change` has been sent: what is held up to it is shown. */
  deliveredUpTo(change) {
    const stick = this.sticks();
    const held = Array.from(this.early.keys())
      .filter((c) => c <= change)
      .sort((a, b) => a - b);
    let newest = null;
    let touched = false;
    for (const c of held) {
      const message = this.early.get(c);
      this.early.delete(c);
      const shown = this.apply(message);
      if (shown) touched = true;
      if (shown?.added) newest = message;
    }
    this.lastChange = Math.max(this.lastChange, change);
    const later = this.showEarly();
    if (later.touched) touched = true;
    newest = later.newest || newest;
    if (touched) this.settle(newest, stick);
  }

  /** Everything up to `seq` has been sent by a sync by seq. */
  seqDeliveredUpTo(seq) {
    if (seq > this.lastSeq) this.lastSeq = seq;
  }

  completeTail() {
    this.tailComplete = true;
    this.lastSeq = Math.max(this.lastSeq, ...this.items.keys(), ...this.threadOnly.keys());
  }

  receive(message, { isNew }) {
    if (message.room !== this.roomId) return;
    const change = message.change;
    // Answers of a sync by seq (the newest messages of a page opened at an old one) are
    // complete as they come; their change positions are followed afterwards.
    const fillingTail = this.syncing?.bySeq && isNew && message.seq > this.lastSeq;
    if (Number.isInteger(change) && change > this.lastChange + 1 && !fillingTail) {
      // Ahead of a gap: hold it, fetch what is missing; it is shown in order once that is here.
      this.early.set(change, message);
      this.knownChange = Math.max(this.knownChange, change);
      this.sync();
      return;
    }
    // One's own new message brings the view down to it, but not one of the newer messages a
    // page opened at an old one is fetching: those are history, and the reader stays put.
    const stick = this.sticks() || (isNew && !fillingTail && message.author.username === this.me);
    const shown = this.apply(message);
    let newest = shown?.added ? message : null;
    let touched = Boolean(shown);
    if (change === this.lastChange + 1) {
      this.lastChange = change;
      const later = this.showEarly();
      newest = later.newest || newest;
      touched = touched || later.touched;
    }
    if (touched) this.settle(newest, stick);
  }

  /**
   * Show `message` as it now is: it replaces what is shown for its seq if its change is newer,
   * or goes into its place by seq. A message above the loaded window is not shown.
   * Returns null when nothing changed on screen, else { item, added }.
   */
  apply(message) {
    if (message.thread_root && message.in_room === false) return this.applyThreadOnly(message);
    const item = this.itemFor(message.seq);
    if (item) {
      this.dropPendingCopy(message);
      if (Number(item.dataset.change || 0) >= (message.change ?? 0)) return null;
      updateMessage(item, message, { me: this.me });
      this.announce(message, item);
      return { item, added: false };
    }
    if (message.seq < this.firstSeq) {
      const known = this.outside.get(message.seq);
      if (!known || known.change < message.change) this.outside.set(message.seq, message);
      if (this.outside.size > OUTSIDE_LIMIT) this.outside.delete(this.outside.keys().next().value);
      this.dropPendingCopy(message);
      this.announce(message, null);
      return null;
    }
    const added = this.insert(message);
    this.announce(message, added);
    return { item: added, added: true };
  }

  /**
   * A reply not in the timeline: nothing changes on screen, and no room.read is sent for it, but
   * its seq is accounted for (a page filling its tail by seq sees no hole there) and the thread
   * hears of it, once per change.
   */
  applyThreadOnly(message) {
    const known = this.threadOnly.get(message.seq);
    if (known !== undefined && known >= (message.change ?? 0)) return null;
    this.threadOnly.set(message.seq, message.change ?? 0);
    // Not read by reading the room: the pointer passes it only with the next message shown.
    if (message.seq >= this.firstSeq && !this.tailComplete) this.advanceLastSeq();
    this.announce(message, null);
    return null;
  }

  /** Past every seq that is shown or legitimately not (a thread-only reply). */
  advanceLastSeq() {
    while (this.items.has(this.lastSeq + 1) || this.threadOnly.has(this.lastSeq + 1)) this.lastSeq += 1;
  }

  /** Tell the rest of the page (actions, the pinned list, threads) what a message is now like. */
  announce(message, item) {
    this.dispatchEvent(new CustomEvent("message", { detail: { message, item } }));
  }

  /** Whether the view follows new messages down: it is at the bottom, and not held at a target. */
  sticks() {
    return !this.anchored && this.isNearBottom();
  }

  settle(message, stick) {
    arrange(this.list);
    if (stick) this.scrollToBottom();
    if (this.canSeeLatest()) this.caughtUp();
    else if (message && !message.deleted) this.noteUnseen(message);
  }

  /** Changes that arrived ahead of a gap follow, in order, once it is filled. */
  showEarly() {
    let newest = null;
    let touched = false;
    while (this.early.has(this.lastChange + 1)) {
      const next = this.early.get(this.lastChange + 1);
      this.early.delete(this.lastChange + 1);
      this.lastChange += 1;
      const shown = this.apply(next);
      if (shown) touched = true;
      if (shown?.added) newest = next;
    }
    for (const c of this.early.keys()) if (c <= this.lastChange) this.early.delete(c);
    return { newest, touched };
  }

  /** A delivered message not shown yet goes into its place by seq; pending and failed ones stay at the end. */
  insert(message) {
    const item = placeDelivered(this.list, this.items, message, { me: this.me });
    if (this.tailComplete) this.lastSeq = Math.max(this.lastSeq, message.seq);
    else this.advanceLastSeq();
    document.getElementById("empty-room")?.remove();
    return item;
  }

  dropPendingCopy(message) {
    if (!message.client_id) return;
    this.list.querySelector(`.message[data-client-id="${CSS.escape(message.client_id)}"]:not([data-id])`)?.remove();
  }

  showPending(message) {
    document.getElementById("empty-room")?.remove();
    const item = renderMessage(message, { me: this.me, pending: true });
    this.list.append(item);
    arrange(this.list);
    this.scrollToBottom();
    return item;
  }

  noteUnseen(message) {
    if (message.author.username === this.me) return;
    this.unseen += 1;
    if (this.jumpButton && !this.isNearBottom()) {
      this.jumpButton.hidden = false;
      this.jumpButton.firstChild.textContent = `${this.unseen} new message${this.unseen === 1 ? "" : "s"} `;
    }
    if (!this.isMuted()) document.title = `(${this.unseen}) ${this.baseTitle}`;
  }

  isMuted() {
    return this.mutedUntil !== null && !Number.isNaN(this.mutedUntil) && this.mutedUntil > Date.now();
  }

  /** The reader sees the newest message: clear the reminders and move the read pointer, soon. */
  caughtUp() {
    this.unseen = 0;
    if (this.jumpButton) this.jumpButton.hidden = true;
    document.title = this.baseTitle;
    if (!this.isMember || this.lastSeq <= this.readSeq) return;
    clearTimeout(this.readTimer);
    this.readTimer = setTimeout(() => this.sendRead(), READ_DEBOUNCE_MS);
  }

  sendRead() {
    if (this.lastSeq <= this.readSeq || !this.canSeeLatest()) return;
    const seq = this.lastSeq;
    if (this.socket.send({ type: "room.read", room: this.roomId, seq })) this.readSeq = seq;
  }

  /** Another tab (or this one) moved the pointer. */
  readElsewhere(frame) {
    if (frame.room !== this.roomId) return;
    this.confirmedReadSeq = Math.max(this.confirmedReadSeq, frame.seq);
    this.readSeq = Math.max(this.readSeq, frame.seq);
    if (this.readSeq >= this.lastSeq) {
      this.unseen = 0;
      document.title = this.baseTitle;
    }
  }

  /** The person is no longer in the room (removed, or left in another tab): stop syncing. */
  leave() {
    this.isMember = false;
    this.resetSync();
  }

  /** Back in the room: fetch what was said meanwhile. */
  rejoin() {
    this.isMember = true;
    this.stalled = null;
    this.sync({ periodic: true });
  }

  async loadOlder(button) {
    const first = this.list.querySelector(".message[data-seq]");
    const before = first ? Number(first.dataset.seq) : this.lastSeq + 1;
    button.disabled = true;
    let response;
    try {
      response = await fetch(`${this.historyUrl}?before_seq=${before}`, { credentials: "same-origin" });
    } finally {
      button.disabled = false;
    }
    if (!response.ok) return;
    const { messages } = await response.json();
    const height = this.list.scrollHeight;
    const fragment = document.createDocumentFragment();
    for (const fetched of messages) {
      if (this.items.has(fetched.seq)) continue;
      // A change heard of while the message was above the window may be newer than the answer.
      const heard = this.outside.get(fetched.seq);
      this.outside.delete(fetched.seq);
      const message = heard && heard.change > fetched.change ? heard : fetched;
      const item = renderMessage(message, { me: this.me });
      this.items.set(message.seq, item);
      fragment.append(item);
      this.announce(message, item);
    }
    if (messages.length) this.firstSeq = Math.min(this.firstSeq, messages[0].seq);
    this.list.prepend(fragment);
    arrange(this.list);
    this.list.scrollTop += this.list.scrollHeight - height;
    if (!messages.length || messages[0].seq <= 1) button.remove();
  }
}
