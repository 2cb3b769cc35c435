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
//
// A thread's replies wait in a queue of their own (room and root): a reply is ordered after the
// replies written before it in that thread, not behind a long queue of the room's messages.

const KEY_PREFIX = "parley.outbox.";
// No echo for this long (a frame lost with a dying connection): send the same message again.
const ACK_TIMEOUT_MS = 10000;
const RETRY_WITHOUT_HINT_MS = 2000;
const RETRYABLE = new Set(["rate_limited", "server_error"]);

/** A queue: a room's messages ("12"), or the replies in one of its threads ("12.t40"). */
export function queueName(roomId, threadRoot = null) {
  return threadRoot ? `${roomId}.t${threadRoot}` : String(roomId);
}

function storageKey(me, queue) {
  return `${KEY_PREFIX}${me}.${queue}`;
}

/** The queue a key of this person's holds, or null (usernames may contain dots). */
function queueOfKey(me, key) {
  const prefix = `${KEY_PREFIX}${me}.`;
  const rest = key.startsWith(prefix) ? key.slice(prefix.length) : "";
  const match = /^(\d+)(?:\.t(\d+))?$/.exec(rest);
  return match ? { name: rest, roomId: Number(match[1]), threadRoot: match[2] ? Number(match[2]) : null } : null;
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
      if (queueOfKey(me, key) !== null) localStorage.removeItem(key);
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
    // queue name → { roomId, threadRoot, inFlight: client_id | null, timer }
    this.queues = new Map();
    try {
      for (const key of Object.keys(localStorage)) {
        const queue = queueOfKey(me, key);
        if (queue !== null) this.queue(queue.roomId, queue.threadRoot);
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
      for (const name of this.queues.keys()) {
        this.idle(name);
        this.pump(name);
      }
    });
    socket.addEventListener("close", () => {
      for (const name of this.queues.keys()) this.idle(name);
    });
  }

  queue(roomId, threadRoot = null) {
    const name = queueName(roomId, threadRoot);
    if (!this.queues.has(name)) this.queues.set(name, { roomId, threadRoot, inFlight: null, timer: null });
    return this.queues.get(name);
  }

  /** The waiting messages of a room (or of a thread of it), oldest first: `{client_id, body, created_at}`. */
  entries(roomId, threadRoot = null) {
    return read(storageKey(this.me, queueName(roomId, threadRoot)));
  }

  /**
   * Queue a message (a new one, or a refused one again, with its own client_id); with
   * `threadRoot`, a reply in that thread, `alsoInRoom` if it is also sent to the room.
   */
  add(
    roomId,
    body,
    { clientId = crypto.randomUUID(), createdAt = new Date().toISOString(), threadRoot = null, alsoInRoom = false } = {},
  ) {
    const name = queueName(roomId, threadRoot);
    const key = storageKey(this.me, name);
    const entry = { client_id: clientId, body, created_at: createdAt };
    if (threadRoot) Object.assign(entry, { thread_root: threadRoot, also_in_room: Boolean(alsoInRoom) });
    write(key, [...read(key).filter((e) => e.client_id !== clientId), entry]);
    this.queue(roomId, threadRoot);
    this.pump(name);
    return entry;
  }

  remove(roomId, clientId, threadRoot = null) {
    const key = storageKey(this.me, queueName(roomId, threadRoot));
    write(key, read(key).filter((e) => e.client_id !== clientId));
  }

  idle(name) {
    const state = this.queues.get(name);
    if (!state) return;
    clearTimeout(state.timer);
    state.timer = null;
    state.inFlight = null;
  }

  /** Send the queue's oldest waiting message, unless one is on its way or the queue must wait. */
  pump(name) {
    const state = this.queues.get(name);
    if (!state || state.inFlight !== null || state.timer !== null) return;
    const [head] = this.entries(state.roomId, state.threadRoot);
    if (!head) return;
    const frame = { type: "message.send", room: state.roomId, body: head.body, client_id: head.client_id };
    if (state.threadRoot) Object.assign(frame, { thread_root: state.threadRoot, also_in_room: Boolean(head.also_in_room) });
    if (!this.socket.send(frame)) return; // sent when the socket opens
    state.inFlight = head.client_id;
    state.timer = setTimeout(() => {
      state.timer = null;
      state.inFlight = null;
      this.pump(name);
    }, ACK_TIMEOUT_MS);
  }

  acknowledged(message) {
    const threadRoot = message.thread_root || null;
    const name = queueName(message.room, threadRoot);
    const state = this.queues.get(name);
    if (!state) return;
    const waiting = this.entries(message.room, threadRoot).some((e) => e.client_id === message.client_id);
    if (!waiting && state.inFlight !== message.client_id) return;
    this.remove(message.room, message.client_id, threadRoot);
    if (state.inFlight === message.client_id) this.idle(name);
    this.pump(name);
  }

  refused(frame) {
    if (!frame.client_id) return;
    const found = this.find(frame.client_id);
    if (!found) return;
    const { name, state, entry } = found;
    const { roomId, threadRoot } = state;
    if (RETRYABLE.has(frame.code)) {
      // Worth another try, and still ahead of everything written after it.
      this.idle(name);
      const wait = frame.retry_after ? frame.retry_after * 1000 : RETRY_WITHOUT_HINT_MS;
      state.timer = setTimeout(() => {
        state.timer = null;
        this.pump(name);
      }, wait);
      return;
    }
    this.remove(roomId, entry.client_id, threadRoot);
    if (state.inFlight === entry.client_id) this.idle(name);
    // The composer of that room (or thread) shows it as failed and cancels the event; see main.js otherwise.
    this.dispatchEvent(
      new CustomEvent("refused", { detail: { roomId, threadRoot, entry, frame }, cancelable: true }),
    );
    this.pump(name);
  }

  find(clientId) {
    for (const [name, state] of this.queues) {
      const entry = this.entries(state.roomId, state.threadRoot).find((e) => e.client_id === clientId);
      if (entry) return { name, state, entry };
    }
    return null;
  }
}
