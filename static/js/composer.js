// The message box: Enter sends, Shift+Enter is a new line; unsent messages are resent on reconnect.

export class Composer {
  constructor({ form, input, socket, view, me, myName }) {
    this.form = form;
    this.input = input;
    this.socket = socket;
    this.view = view;
    this.me = me;
    this.myName = myName;
    this.pending = new Map(); // client_id → frame, until the echo arrives

    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    input.addEventListener("input", () => this.grow());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    socket.on("message.new", (frame) => this.pending.delete(frame.message.client_id));
    socket.on("error", (frame) => this.failed(frame));
    // Resend with the same client_id: the server stores each once, however often it arrives.
    socket.addEventListener("open", () => {
      for (const frame of this.pending.values()) socket.send(frame);
    });
  }

  grow() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 200)}px`;
  }

  submit() {
    const body = this.input.value.trim();
    if (!body) return;
    const frame = { type: "message.send", room: this.view.roomId, body, client_id: crypto.randomUUID() };
    this.pending.set(frame.client_id, frame);
    this.view.showPending({
      client_id: frame.client_id,
      room: this.view.roomId,
      body,
      author: { username: this.me, display_name: this.myName },
      created_at: new Date().toISOString(),
      mentions: [],
    });
    this.socket.send(frame);
    this.input.value = "";
    this.grow();
  }

  failed(frame) {
    if (!frame.client_id || !this.pending.has(frame.client_id)) return;
    const item = this.view.list.querySelector(`.message.pending[data-client-id="${CSS.escape(frame.client_id)}"]`);
    if (frame.code === "server_error" || frame.code === "rate_limited") {
      // Worth another try: keep it pending; it is resent on the next reconnect or after the wait.
      const wait = (frame.retry_after || 2) * 1000;
      setTimeout(() => {
        const pendingFrame = this.pending.get(frame.client_id);
        if (pendingFrame) this.socket.send(pendingFrame);
      }, wait);
      return;
    }
    this.pending.delete(frame.client_id);
    if (item) {
      item.classList.remove("pending");
      item.classList.add("failed");
      const state = item.querySelector(".send-state");
      if (state) state.textContent = `not sent: ${frame.detail}`;
    }
  }
}
