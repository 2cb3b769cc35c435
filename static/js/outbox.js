// Messages written but not yet stored by the server: one queue per room, in the order they were
// written, kept in localStorage so that a reload, a crash or a lost connection loses none.
//
// Each room's queue sends one message at a time and the next only once the server has the one
// before (its `message.new` echo, by me, with that client_id, or that message as a sync by change
// brings it: `message.updated`): a message refused for flood control
// (`rate_limited`) or a failure (`server_error`) is resent after the wait, still ahead of
// everything written after it, so messages are stored in the order the person wrote them.
// Resending is always safe: the server stores a client_id once. A message the server refuses for
// good (a bad or too long body, not a member) leaves the queue and is reported as refused.
//
// Every tab of the person reads and writes the same stored queues. Two tabs may then both send a
// message: the server keeps one, and both tabs see its echo.

const KEY_PREFIX = "parley.outbox.";
// No echo for this long (a frame lost with a dying connection): send the same message again.
const ACK_TIMEOUT_MS = 10000;
const RETRY_WITHOUT_HINT_MS = 2000;
const RETRYABLE = new Set(["rate_limited", "server_error"]);

function storageKey(me, roomId) {
  return `${KEY_PREFIX}${me}.${roomId}`;
}

/** The room a key of this person's holds the queue of, or null (usernames may contain dots). */
function roomOfKey(me, key) {
  const prefix = `${KEY_PREFIX}${me}.`;
  const rest = key.startsWith(prefix) ? key.slice(prefix.length) : "";
  return /^\d+$/.test(rest) ? Number(rest) : null;
}

function read(key) {
  try {
    const entries = JSON.parse(localStorage.getItem(key) || "[]");
    return Array.isArray(entries) ? entries.filter((e) => e && typeof e.client_id === "string") : [];
  } catch {
    return [];
  }
}

function write(key, entries) {
  try {
    if (entries.length) localStorage.setItem(key, JSON.stringify(entries));
    else localStorage.removeItem(key);
  } catch {
    // Storage full or disabled: the queue still works, it just does not survive a reload.
  }
}

/** Logging out forgets this person's unsent messages too. */
export function forgetOutbox(me) {
  try {
    for (const key of Object.keys(localStorage)) {
      if (roomOfKey(me, key) !== null) localStorage.removeItem(key);
    }
  } catch {
    // Nothing stored, nothing to forget.
  }
}

export class Outbox extends EventTarget {
  constructor({ socket, me }) {
    super();
    this.socket = socket;
    this.me = me;
    this.rooms = new Map(); // room id → { inFlight: client_id | null, timer }
    try {
      for (const key of Object.keys(localStorage)) {
        const roomId = roomOfKey(me, key);
        if (roomId !== null) this.room(roomId);
      }
    } catch {
      // Storage disabled: nothing was kept.
    }

    // A message stored while its echo was lost comes back from a sync by change as an update.
    for (const type of ["message.new", "message.updated"]) {
      socket.on(type, (frame) => {
        const message = frame.message;
        if (message.client_id && message.author?.username === me) this.acknowledged(message);
      });
    }
    socket.on("error", (frame) => this.refused(frame));
    socket.addEventListener("open", () => {
      for (const roomId of this.rooms.keys()) {
        this.idle(roomId);
        this.pump(roomId);
      }
    });
    socket.addEventListener("close", () => {
      for (const roomId of this.rooms.keys()) this.idle(roomId);
    });
  }

  room(roomId) {
    if (!this.rooms.has(roomId)) this.rooms.set(roomId, { inFlight: null, timer: null });
    return this.rooms.get(roomId);
  }

  /** The room's waiting messages, oldest first: `{client_id, body, created_at}`. */
  entries(roomId) {
    return read(storageKey(this.me, roomId));
  }

  /** Queue a message (a new one, or a refused one again, with its own client_id). */
  add(roomId, body, { clientId = crypto.randomUUID(), createdAt = new Date().toISOString() } = {}) {
    const key = storageKey(this.me, roomId);
    const entry = { client_id: clientId, body, created_at: createdAt };
    write(key, [...read(key).filter((e) => e.client_id !== clientId), entry]);
    this.pump(roomId);
    return entry;
  }

  remove(roomId, clientId) {
    const key = storageKey(this.me, roomId);
    write(key, read(key).filter((e) => e.client_id !== clientId));
  }

  idle(roomId) {
    const state = this.room(roomId);
    clearTimeout(state.timer);
    state.timer = null;
    state.inFlight = null;
  }

  /** Send the room's oldest waiting message, unless one is on its way or the room must wait. */
  pump(roomId) {
    const state = this.room(roomId);
    if (state.inFlight !== null || state.timer !== null) return;
    const [head] = this.entries(roomId);
    if (!head) return;
    const frame = { type: "message.send", room: roomId, body: head.body, client_id: head.client_id };
    if (!this.socket.send(frame)) return; // sent when the socket opens
    state.inFlight = head.client_id;
    state.timer = setTimeout(() => {
      state.timer = null;
      state.inFlight = null;
      this.pump(roomId);
    }, ACK_TIMEOUT_MS);
  }

  acknowledged(message) {
    const state = this.rooms.get(message.room);
    const waiting = this.entries(message.room).some((e) => e.client_id === message.client_id);
    if (!state || (!waiting && state.inFlight !== message.client_id)) return;
    this.remove(message.room, message.client_id);
    if (state.inFlight === message.client_id) this.idle(message.room);
    this.pump(message.room);
  }

  refused(frame) {
    if (!frame.client_id) return;
    const found = this.find(frame.client_id);
    if (!found) return;
    const { roomId, entry } = found;
    const state = this.room(roomId);
    if (RETRYABLE.has(frame.code)) {
      // Worth another try, and still ahead of everything written after it.
      this.idle(roomId);
      const wait = frame.retry_after ? frame.retry_after * 1000 : RETRY_WITHOUT_HINT_MS;
      state.timer = setTimeout(() => {
        state.timer = null;
        this.pump(roomId);
      }, wait);
      return;
    }
    this.remove(roomId, entry.client_id);
    if (state.inFlight === entry.client_id) this.idle(roomId);
    // The composer of that room shows it as failed (and cancels the event); see main.js otherwise.
    this.dispatchEvent(new CustomEvent("refused", { detail: { roomId, entry, frame }, cancelable: true }));
    this.pump(roomId);
  }

  find(clientId) {
    for (const roomId of this.rooms.keys()) {
      const entry = this.entries(roomId).find((e) => e.client_id === clientId);
      if (entry) return { roomId, entry };
    }
    return null;
  }
}
