// The open room: the message list, kept complete and in seq order across reconnects, and the
// read pointer, moved forward only while the reader can actually see the newest message.
//
// Completeness: messages are shown in seq order; one that arrives ahead of a missing one waits in
// `early` while a `sync` fetches what is missing. `sync.done.last_seq` says how far the server has
// sent: a seq below it that never came does not exist (a hole), so nothing waits on it. A sync
// that is refused (`rate_limited`, `server_error`, naming the room and the frame) is retried after
// the wait it names, one never answered after SYNC_TIMEOUT_MS; a sync that brought nothing new is
// not sent again from the same point until a newer message is heard of or the periodic check.

import { arrange, confirmMessage, enhanceMessages, renderMessage } from "./messages.js";

const NEAR_BOTTOM_PX = 80;
// Several messages arriving together make one room.read, not one each.
const READ_DEBOUNCE_MS = 400;
// A sync with no answer for this long is given up and tried again.
const SYNC_TIMEOUT_MS = 10000;
// The wait before another try when a refusal names none.
const RETRY_WITHOUT_HINT_MS = 2000;
const RETRYABLE = new Set(["rate_limited", "server_error"]);

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
    // The highest seq shown with nothing missing below it (down to firstSeq).
    this.lastSeq = this.firstSeq - 1;
    this.ids = new Set();
    for (const item of list.querySelectorAll(".message[data-id]")) {
      this.ids.add(Number(item.dataset.id));
      this.lastSeq = Math.max(this.lastSeq, Number(item.dataset.seq));
    }
    this.lastSeq = Math.max(this.lastSeq, 0);
    // Rendering the page reads nothing: the reader reads what the view shows at its bottom, and
    // says so with room.read (the server keeps the pointer from going back).
    this.readSeq = 0; // sent, or heard from another tab
    this.confirmedReadSeq = 0; // the server's answer
    this.readTimer = null;
    this.unseen = 0; // arrived while scrolled up or away, for the jump button and the title
    this.baseTitle = document.title;
    this.early = new Map(); // seq → message that arrived ahead of a gap
    this.syncing = null; // the sync on its way: { afterSeq, timer }
    this.syncRetry = null;
    // Where a sync last brought nothing new, and the newest seq known to exist then: the same
    // sync is not sent again at once unless something newer is heard of.
    this.stalled = null; // { at, known }
    this.knownSeq = this.lastSeq; // the newest seq heard of (held messages, notifications)

    enhanceMessages(list, me);
    arrange(list);
    // Opened at an old message (a notification): stay there while the rest arrives below it.
    this.anchored = this.scrollToTarget();
    if (!this.anchored) this.scrollToBottom();

    socket.on("message.new", (frame) => this.receive(frame.message));
    socket.on("sync.done", (frame) => this.syncDone(frame));
    socket.on("room.read", (frame) => this.readElsewhere(frame));
    socket.on("error", (frame) => this.refused(frame));
    socket.on("notification.new", (frame) => this.notified(frame.notification));
    socket.addEventListener("open", () => {
      this.resetSync();
      this.sync({ periodic: true });
    });
    socket.addEventListener("close", () => this.resetSync());
    // A broadcast lost with no message after it leaves no gap to notice: check now and then.
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

  canSeeLatest() {
    return document.visibilityState === "visible" && this.isNearBottom();
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

  /**
   * Ask for everything after the last message shown. `periodic` (a reconnect, the ping, a retry)
   * may ask again from where a sync brought nothing; a gap or `has_more` may not.
   */
  sync({ periodic = false } = {}) {
    if (this.syncing || !this.isMember) return;
    const stalled = this.stalled;
    if (!periodic && stalled && stalled.at === this.lastSeq && stalled.known >= this.knownSeq) return;
    clearTimeout(this.syncRetry);
    this.syncRetry = null;
    const afterSeq = this.lastSeq;
    if (!this.socket.send({ type: "sync", room: this.roomId, after_seq: afterSeq })) return;
    const timer = setTimeout(() => {
      this.syncing = null;
      this.sync({ periodic: true });
    }, SYNC_TIMEOUT_MS);
    this.syncing = { afterSeq, timer };
  }

  resetSync() {
    clearTimeout(this.syncing?.timer);
    clearTimeout(this.syncRetry);
    this.syncing = null;
    this.syncRetry = null;
  }

  syncDone(frame) {
    if (frame.room !== this.roomId) return;
    const afterSeq = this.syncing ? this.syncing.afterSeq : this.lastSeq;
    this.resetSync();
    if (Number.isInteger(frame.last_seq)) this.deliveredUpTo(frame.last_seq);
    this.stalled = this.lastSeq > afterSeq ? null : { at: this.lastSeq, known: this.knownSeq };
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
    if (!message || message.room !== this.roomId || message.seq <= this.lastSeq) return;
    this.knownSeq = Math.max(this.knownSeq, message.seq);
    this.sync();
  }

  /** Everything up to `seq` has been sent: what did not come does not exist. */
  deliveredUpTo(seq) {
    if (seq <= this.lastSeq) return;
    const stick = this.sticks();
    const held = Array.from(this.early.keys())
      .filter((s) => s <= seq)
      .sort((a, b) => a - b);
    let newest = null;
    for (const s of held) {
      const message = this.early.get(s);
      this.early.delete(s);
      if (this.ids.has(message.id)) continue;
      this.show(message);
      newest = message;
    }
    this.lastSeq = Math.max(this.lastSeq, seq);
    newest = this.showEarly() || newest;
    if (newest) this.settle(newest, stick);
  }

  receive(message) {
    if (message.room !== this.roomId) return;
    if (this.ids.has(message.id)) {
      // Already shown (a resend answered after a reload): the pending copy goes.
      this.dropPendingCopy(message);
      return;
    }
    if (message.seq > this.lastSeq + 1) {
      // A gap: hold this one, fetch what is missing; sync brings them in order.
      this.early.set(message.seq, message);
      this.knownSeq = Math.max(this.knownSeq, message.seq);
      this.sync();
      return;
    }
    const stick = this.sticks() || message.author.username === this.me;
    if (message.seq <= this.lastSeq) {
      if (!this.insertLate(message)) return;
    } else {
      this.show(message);
      this.showEarly();
    }
    this.settle(message, stick);
  }

  /** Whether the view follows new messages down: it is at the bottom, and not held at a target. */
  sticks() {
    return !this.anchored && this.isNearBottom();
  }

  settle(message, stick) {
    arrange(this.list);
    if (stick) this.scrollToBottom();
    if (this.canSeeLatest()) this.caughtUp();
    else this.noteUnseen(message);
  }

  /** Messages that arrived ahead of a gap follow, in order, once it is filled. */
  showEarly() {
    let newest = null;
    while (this.early.has(this.lastSeq + 1)) {
      const next = this.early.get(this.lastSeq + 1);
      this.early.delete(this.lastSeq + 1);
      if (this.ids.has(next.id)) this.lastSeq += 1;
      else {
        this.show(next);
        newest = next;
      }
    }
    return newest;
  }

  /** A message below the last one shown that was taken for missing: into its place, by seq. */
  insertLate(message) {
    if (message.seq < this.firstSeq) {
      this.dropPendingCopy(message);
      return false;
    }
    this.dropPendingCopy(message);
    const later = Array.from(this.list.querySelectorAll(".message[data-id]")).find(
      (item) => Number(item.dataset.seq) > message.seq,
    );
    const item = renderMessage(message, { me: this.me });
    this.list.insertBefore(item, later || this.list.querySelector(".message.pending, .message.failed"));
    this.ids.add(message.id);
    return true;
  }

  dropPendingCopy(message) {
    if (!message.client_id) return;
    this.list.querySelector(`.message[data-client-id="${CSS.escape(message.client_id)}"]:not([data-id])`)?.remove();
  }

  /** Delivered messages go after the last delivered one: pending and failed ones stay at the end. */
  show(message) {
    const pending = message.client_id
      ? this.list.querySelector(`.message[data-client-id="${CSS.escape(message.client_id)}"]:not([data-id])`)
      : null;
    let item = pending;
    if (item) confirmMessage(item, message, { me: this.me });
    else item = renderMessage(message, { me: this.me });
    const undelivered = Array.from(this.list.querySelectorAll(".message.pending, .message.failed")).find(
      (other) => other !== item,
    );
    if (undelivered) this.list.insertBefore(item, undelivered);
    else this.list.append(item);
    this.ids.add(message.id);
    this.lastSeq = message.seq;
    document.getElementById("empty-room")?.remove();
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
    document.title = `(${this.unseen}) ${this.baseTitle}`;
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
    for (const message of messages) {
      if (this.ids.has(message.id)) continue;
      this.ids.add(message.id);
      fragment.append(renderMessage(message, { me: this.me }));
    }
    this.list.prepend(fragment);
    arrange(this.list);
    this.list.scrollTop += this.list.scrollHeight - height;
    if (!messages.length || messages[0].seq <= 1) button.remove();
  }
}
