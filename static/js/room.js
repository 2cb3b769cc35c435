// The open room: the message list, kept complete and in seq order across reconnects.

import { fillMessage, renderMessage } from "./messages.js";

const NEAR_BOTTOM_PX = 80;

export class RoomView {
  constructor({ config, socket, list, me }) {
    this.roomId = config.id;
    this.socket = socket;
    this.list = list;
    this.me = me;
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
    this.early = new Map(); // seq → message that arrived ahead of a gap
    this.syncing = false;
    this.scrollToBottom();

    socket.on("message.new", (frame) => this.receive(frame.message));
    socket.on("sync.done", (frame) => this.syncDone(frame));
    socket.addEventListener("open", () => this.sync());
    // A broadcast lost with no message after it leaves no gap to notice: check now and then.
    socket.on("pong", () => this.sync());
  }

  isNearBottom() {
    const scroller = this.list;
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToBottom() {
    this.list.scrollTop = this.list.scrollHeight;
  }

  sync() {
    if (this.syncing) return;
    this.syncing = this.socket.send({ type: "sync", room: this.roomId, after_seq: this.lastSeq });
  }

  syncDone(frame) {
    if (frame.room !== this.roomId) return;
    this.syncing = false;
    if (frame.has_more) this.sync();
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
    this.show(message);
    // Messages that arrived ahead of the gap can follow now, in order.
    while (this.early.has(this.lastSeq + 1)) {
      const next = this.early.get(this.lastSeq + 1);
      this.early.delete(this.lastSeq + 1);
      if (!this.ids.has(next.id)) this.show(next);
    }
  }

  show(message) {
    const stick = this.isNearBottom() || message.author.username === this.me;
    const pending = message.client_id
      ? this.list.querySelector(`.message.pending[data-client-id="${CSS.escape(message.client_id)}"]`)
      : null;
    if (pending) {
      fillMessage(pending, message, { me: this.me });
      this.list.append(pending); // its place is by seq, which is now known
    } else {
      this.list.append(renderMessage(message, { me: this.me }));
    }
    this.ids.add(message.id);
    this.lastSeq = message.seq;
    document.getElementById("empty-room")?.remove();
    this.dispatchDelivered(message);
    if (stick) this.scrollToBottom();
  }

  dispatchDelivered(message) {
    this.list.dispatchEvent(new CustomEvent("delivered", { detail: message }));
  }

  showPending(message) {
    document.getElementById("empty-room")?.remove();
    const item = renderMessage(message, { me: this.me, pending: true });
    this.list.append(item);
    this.scrollToBottom();
    return item;
  }

  async loadOlder(button) {
    const first = this.list.querySelector(".message[data-seq]");
    const before = first ? Number(first.dataset.seq) : this.lastSeq + 1;
    button.disabled = true;
    const response = await fetch(`${this.historyUrl}?before_seq=${before}`, { credentials: "same-origin" });
    button.disabled = false;
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
    this.list.scrollTop += this.list.scrollHeight - height;
    if (!messages.length || messages[0].seq <= 1) button.remove();
  }
}
