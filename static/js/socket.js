// The one chat socket of this tab: connects, reconnects with backoff and jitter, dispatches frames.

const CLOSE_UNAUTHENTICATED = 4401;
const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 30000;
const PING_EVERY_MS = 25000;

export class ChatSocket extends EventTarget {
  constructor(path, { loginUrl } = {}) {
    super();
    this.path = path;
    this.loginUrl = loginUrl;
    this.attempt = 0;
    this.handlers = new Map();
    this.ws = null;
    this.pingTimer = null;
    this.retryTimer = null;
  }

  get url() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${window.location.host}${this.path}`;
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  on(type, handler) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(handler);
  }

  setState(state, detail = {}) {
    this.dispatchEvent(new CustomEvent("state", { detail: { state, ...detail } }));
  }

  connect() {
    this.setState("connecting");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.attempt = 0;
      this.setState("open");
      this.pingTimer = setInterval(() => this.send({ type: "ping" }), PING_EVERY_MS);
      this.dispatchEvent(new Event("open"));
    });
    ws.addEventListener("message", (event) => this.dispatch(event.data));
    ws.addEventListener("close", (event) => {
      clearInterval(this.pingTimer);
      if (this.ws !== ws) return;
      this.ws = null;
      if (event.code === CLOSE_UNAUTHENTICATED) {
        this.setState("signed-out");
        if (this.loginUrl) window.location.assign(this.loginUrl);
        return;
      }
      this.scheduleReconnect();
    });
  }

  scheduleReconnect() {
    // Exponential backoff with full jitter, so a restarted server is not hit by every tab at once.
    const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** this.attempt);
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this.attempt += 1;
    const retryAt = Date.now() + delay;
    this.setState("closed", { retryAt });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** The person asked not to wait for the backoff. */
  reconnectNow() {
    if (this.ws !== null) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  dispatch(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    for (const handler of this.handlers.get(frame.type) || []) handler(frame);
  }

  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }
}
