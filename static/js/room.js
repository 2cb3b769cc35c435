// The open room: the message list, kept complete and in seq order across reconnects, and the
// read pointer, moved forward while the reader can actually see the newest message.

import { arrange, confirmMessage, enhanceMessages, renderMessage } from "./messages.js";

const NEAR_BOTTOM_PX = 80;
// Several messages arriving together make one room.read, not one each.
const READ_DEBOUNCE_MS = 400;

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
    // The server marked the room read when it rendered this page, but the reader's other tabs do
    // not know: the first room.read (after the first sync) tells them, through the server's echo.
    this.readSeq = 0;
    this.readTimer = null;
    this.unseen = 0; // arrived while scrolled up or away, for the jump button and the title
    this.baseTitle = document.title;
    this.early = new Map(); // seq → message that arrived ahead of a gap
    this.syncing = false;

    enhanceMessages(list, me);
    arrange(list);
    if (!this.scrollToTarget()) this.scrollToBottom();

    socket.on("message.new", (frame) => this.receive(frame.message));
    socket.on("sync.done", (frame) => this.syncDone(frame));
    socket.on("room.read", (frame) => this.readElsewhere(frame));
    socket.addEventListener("open", () => {
      this.syncing = false;
      this.sync();
    });
    // A broadcast lost with no message after it leaves no gap to notice: check now and then.
    socket.on("pong", () => this.sync());

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

  sync() {
    if (this.syncing || !this.isMember) return;
    this.syncing = this.socket.send({ type: "sync", room: this.roomId, after_seq: this.lastSeq });
  }

  syncDone(frame) {
    if (frame.room !== this.roomId) return;
    this.syncing = false;
    if (frame.has_more) this.sync();
    else if (this.canSeeLatest()) this.caughtUp();
  }

  receive(message) {
    if (message.room !== this.roomId || this.ids.has(message.id)) return;
    if (message.seq > this.lastSeq + 1) {
      // A gap: hold this one, fetch what is missing; sync brings them in order.
      this.early.set(message.seq, message);
      this.sync();
      return;
    }
    if (message.seq <= this.lastSeq) return;
    const stick = this.isNearBottom() || message.author.username === this.me;
    this.show(message);
    // Messages that arrived ahead of the gap can follow now, in order.
    while (this.early.has(this.lastSeq + 1)) {
      const next = this.early.get(this.lastSeq + 1);
      this.early.delete(this.lastSeq + 1);
      if (!this.ids.has(next.id)) this.show(next);
    }
    arrange(this.list);
    if (stick) this.scrollToBottom();
    if (this.canSeeLatest()) this.caughtUp();
    else this.noteUnseen(message);
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
    this.readSeq = Math.max(this.readSeq, frame.seq);
    if (this.readSeq >= this.lastSeq) {
      this.unseen = 0;
      document.title = this.baseTitle;
    }
  }

  /** The server took this person out of the room: stop writing and syncing, say why. */
  leave() {
    this.isMember = false;
    const composer = document.getElementById("composer");
    if (composer) {
      for (const control of composer.querySelectorAll("textarea, button")) control.disabled = true;
      const note = document.createElement("p");
      note.className = "composer-hint";
      note.setAttribute("role", "status");
      note.textContent = "You are no longer a member of this room.";
      composer.append(note);
    }
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
