// The one chat socket of this tab: connects, reconnects with backoff and jitter, dispatches frames.

// What the client does after each close code: the one table (docs/protocol.md, "Client behaviour").
//
//   code  server's reason                                     client
//   4401  not logged in, or the session ended                 go to the log-in page, never reconnect
//   4409  too many open sockets for this user                 "Too many open tabs", retry slowly (~30 s)
//   4429  abusive flood (refused frames in a row)             reconnect with backoff
//   4413  frame too large (Parley's own limit)                reconnect with backoff
//   1009  frame too large (uvicorn's limit)                   reconnect with backoff
//   4503  this client fell too far behind (1013 before)       reconnect with backoff, then sync
//   1001, 1006, 1011, 1012, anything else                     reconnect with backoff (then sync)
//
// Every reconnect is followed by a sync of the open room and a resend of pending messages.
export const CLOSE_POLICY = new Map([
  [4401, { action: "sign-in" }],
  [4409, { action: "reconnect", slow: true, reason: "Too many open tabs" }],
  [4429, { action: "reconnect" }],
  [4413, { action: "reconnect" }],
  [1009, { action: "reconnect" }],
  [4503, { action: "reconnect" }],
]);
const DEFAULT_POLICY = { action: "reconnect" };

const BASE_DELAY_MS = 500;
// Low enough that a server back from an outage sees its tabs within seconds; the jitter keeps
// them from all arriving at once.
const MAX_DELAY_MS = 5000;
// "Too many open tabs" does not go away by itself soon: try rarely.
const SLOW_DELAY_MS = 30000;
// A socket counts as healthy (the backoff starts again from the bottom) only after staying open
// this long: a server that accepts and then closes at once must not be hit every half second.
const HEALTHY_AFTER_MS = 10000;
const PING_EVERY_MS = 25000;

/** Exponential backoff with jitter: between half and all of min(cap, base × 2^attempt). */
export function reconnectDelay(attempt, random = Math.random) {
  const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** The slow retry after 4409: 24–30 s. */
export function slowDelay(random = Math.random) {
  return Math.round(SLOW_DELAY_MS * (0.8 + random() * 0.2));
}

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
    this.healthyTimer = null;
    this.signedOut = false;

    // Back online, or back to a tab that was in the background: try now rather than at the
    // end of the backoff.
    window.addEventListener("online", () => this.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.reconnectNow();
    });
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
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.setState("connecting");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.setState("open");
      this.healthyTimer = setTimeout(() => {
        this.attempt = 0;
      }, HEALTHY_AFTER_MS);
      this.pingTimer = setInterval(() => this.send({ type: "ping" }), PING_EVERY_MS);
      this.dispatchEvent(new Event("open"));
    });
    ws.addEventListener("message", (event) => this.dispatch(event.data));
    ws.addEventListener("close", (event) => {
      clearInterval(this.pingTimer);
      clearTimeout(this.healthyTimer);
      if (this.ws !== ws) return;
      this.ws = null;
      this.dispatchEvent(new Event("close"));
      this.closed(CLOSE_POLICY.get(event.code) || DEFAULT_POLICY);
    });
  }

  closed(policy) {
    if (policy.action === "sign-in") {
      this.signedOut = true;
      this.setState("signed-out");
      if (this.loginUrl) window.location.assign(this.loginUrl);
      return;
    }
    const delay = policy.slow ? slowDelay() : reconnectDelay(this.attempt);
    this.attempt += 1;
    const retryAt = Date.now() + delay;
    this.setState("closed", { retryAt, reason: policy.reason || null });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Do not wait for the backoff (the person asked, the network came back, the tab is seen). */
  reconnectNow() {
    if (this.ws !== null || this.retryTimer === null || this.signedOut) return;
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
