// The message box: Enter sends, Shift+Enter is a new line, the box grows with the text, the draft
// survives a reload, and a message is resent with its client_id until the server has it.

import { setDelivery } from "./messages.js";

const MAX_HEIGHT_PX = 192;
const DRAFT_PREFIX = "parley.draft.";

export function draftKey(me, roomId) {
  return `${DRAFT_PREFIX}${me}.${roomId}`;
}

/** Drafts are per person and room; logging out forgets this person's. */
export function forgetDrafts(me) {
  try {
    for (const key of Object.keys(localStorage)) {
      if (key.startsWith(`${DRAFT_PREFIX}${me}.`)) localStorage.removeItem(key);
    }
  } catch {
    // Storage may be disabled; there is nothing to forget then.
  }
}

export class Composer {
  constructor({ form, input, socket, view, me, myName, picker = null }) {
    this.form = form;
    this.input = input;
    this.socket = socket;
    this.view = view;
    this.me = me;
    this.myName = myName;
    this.picker = picker;
    this.pending = new Map(); // client_id → frame, until the echo arrives
    this.failedFrames = new Map(); // client_id → frame the server refused, for Retry
    this.draftKey = draftKey(me, view.roomId);

    input.addEventListener("keydown", (event) => {
      if (this.picker?.handleKey(event)) return;
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    input.addEventListener("input", () => {
      this.grow();
      this.saveDraft();
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    socket.on("message.new", (frame) => {
      this.pending.delete(frame.message.client_id);
      this.failedFrames.delete(frame.message.client_id);
    });
    socket.on("error", (frame) => this.failed(frame));
    // Resend with the same client_id: the server stores each once, however often it arrives.
    socket.addEventListener("open", () => {
      for (const frame of this.pending.values()) {
        socket.send(frame);
        const item = this.itemFor(frame.client_id);
        if (item) setDelivery(item, "sending…");
      }
    });
    this.restoreDraft();
  }

  grow() {
    // CSSOM writes are allowed under the page's style-src 'self'; style="" attributes are not.
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight + 2, MAX_HEIGHT_PX)}px`;
  }

  restoreDraft() {
    let draft = null;
    try {
      draft = localStorage.getItem(this.draftKey);
    } catch {
      return;
    }
    if (draft && !this.input.value) {
      this.input.value = draft;
      this.grow();
    }
  }

  saveDraft() {
    try {
      if (this.input.value.trim()) localStorage.setItem(this.draftKey, this.input.value);
      else localStorage.removeItem(this.draftKey);
    } catch {
      // Storage full or disabled: the draft just does not survive a reload.
    }
  }

  itemFor(clientId) {
    return this.view.list.querySelector(`.message[data-client-id="${CSS.escape(clientId)}"]:not([data-id])`);
  }

  submit() {
    const body = this.input.value.trim();
    if (!body) return;
    this.picker?.close();
    const frame = { type: "message.send", room: this.view.roomId, body, client_id: crypto.randomUUID() };
    this.pending.set(frame.client_id, frame);
    const item = this.view.showPending({
      client_id: frame.client_id,
      room: this.view.roomId,
      body,
      author: { username: this.me, display_name: this.myName },
      created_at: new Date().toISOString(),
      mentions: [],
    });
    if (!this.socket.send(frame)) setDelivery(item, "waiting for the connection…");
    this.input.value = "";
    this.saveDraft();
    this.grow();
    this.input.focus();
  }

  retry(clientId) {
    const frame = this.failedFrames.get(clientId);
    const item = this.itemFor(clientId);
    if (!frame || !item) return;
    this.failedFrames.delete(clientId);
    this.pending.set(clientId, frame);
    item.classList.remove("failed");
    item.classList.add("pending");
    setDelivery(item, this.socket.send(frame) ? "sending…" : "waiting for the connection…");
    this.input.focus();
  }

  discard(clientId) {
    this.failedFrames.delete(clientId);
    this.itemFor(clientId)?.remove();
    this.input.focus();
  }

  failed(frame) {
    if (!frame.client_id || !this.pending.has(frame.client_id)) return;
    if (frame.code === "server_error" || frame.code === "rate_limited") {
      // Worth another try: keep it pending; it is resent on the next reconnect or after the wait.
      const wait = (frame.retry_after || 2) * 1000;
      setTimeout(() => {
        const pendingFrame = this.pending.get(frame.client_id);
        if (pendingFrame) this.socket.send(pendingFrame);
      }, wait);
      return;
    }
    const sent = this.pending.get(frame.client_id);
    this.pending.delete(frame.client_id);
    this.failedFrames.set(frame.client_id, sent);
    const item = this.itemFor(frame.client_id);
    if (!item) return;
    item.classList.remove("pending");
    item.classList.add("failed");
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "secondary";
    retry.textContent = "Retry";
    retry.addEventListener("click", () => this.retry(frame.client_id));
    const discard = document.createElement("button");
    discard.type = "button";
    discard.className = "secondary";
    discard.textContent = "Discard";
    discard.addEventListener("click", () => this.discard(frame.client_id));
    setDelivery(item, `Not sent: ${frame.detail}`, [retry, discard]);
  }
}
