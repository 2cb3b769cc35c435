// Typing: a composer says when its person types (`typing.start`, at most once per 3 s per
// conversation while the typing goes on; `typing.stop` when the box is emptied, the message is
// sent or the page leaves), and a line under each composer says who else is typing there, from
// `typing.started` until `typing.stopped`, a message of theirs in that conversation, or
// `expires_in` seconds without a fresh start. Nothing of it is stored; a lost frame is harmless.

// The server drops a start within 2.5 s of the one before (TYPING_THROTTLE_SECONDS).
const START_EVERY_MS = 3000;
// When a typing.started names no expiry.
const DEFAULT_EXPIRES_S = 6;

/** A conversation: the room's timeline (root null) or one of its threads. */
function conversationKey(room, threadRoot) {
  return `${room}:${threadRoot || 0}`;
}

/** What one composer tells the server while its person types. */
export class TypingReporter {
  constructor({ socket, input, roomId, threadRoot = null, now = () => Date.now() }) {
    this.socket = socket;
    this.input = input;
    this.roomId = roomId;
    this.threadRoot = threadRoot;
    this.now = now;
    this.typing = false; // a start was sent and no stop since
    this.startedAt = 0;
    input.addEventListener("input", () => this.changed());
    // Leaving the page (or the box, for good: another room) ends the typing.
    window.addEventListener("pagehide", () => this.stop());
    // A new socket knows nothing of what the old one said.
    socket.addEventListener("close", () => {
      this.typing = false;
      this.startedAt = 0;
    });
  }

  frame(type) {
    const frame = { type, room: this.roomId };
    if (this.threadRoot) frame.thread_root = this.threadRoot;
    return frame;
  }

  changed() {
    if (!this.input.value.trim()) {
      this.stop();
      return;
    }
    if (this.typing && this.now() - this.startedAt < START_EVERY_MS) return;
    if (this.socket.send(this.frame("typing.start"))) {
      this.typing = true;
      this.startedAt = this.now();
    }
  }

  /** Emptied, sent, or leaving. */
  stop() {
    if (!this.typing) return;
    this.typing = false;
    this.startedAt = 0;
    this.socket.send(this.frame("typing.stop"));
  }

  /** The thread panel's composer now writes in another thread. */
  retarget(threadRoot) {
    if (threadRoot === this.threadRoot) return;
    this.stop();
    this.threadRoot = threadRoot;
  }
}

/** "Bob is typing…", "Bob and Carol are typing…", "Several people are typing…" ("" for nobody). */
export function typingText(names) {
  if (!names.length) return "";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return "Several people are typing…";
}

/**
 * Who is typing where, for the page's typing lines: `lines` are { element, room, threadRoot }
 * where threadRoot is a number, null (the room's timeline) or a function (the open thread).
 */
export class TypingWatcher {
  constructor({ socket, me = null }) {
    this.me = me;
    this.lines = [];
    this.typers = new Map(); // conversation → Map(user id → { name, timer })
    socket.on("typing.started", (frame) => this.started(frame));
    socket.on("typing.stopped", (frame) => this.stopped(frame.room, frame.thread_root, frame.user));
    socket.on("message.new", (frame) => {
      const message = frame.message;
      if (message) this.stopped(message.room, message.thread_root, message.author);
    });
    // Whoever was typing when the connection went is not known to be any more.
    socket.addEventListener("close", () => {
      for (const typers of this.typers.values()) for (const typer of typers.values()) clearTimeout(typer.timer);
      this.typers.clear();
      this.renderAll();
    });
  }

  /** Show who types in `room` (its timeline, or the thread `threadRoot` names) in `element`. */
  show(element, room, threadRoot = null) {
    const line = { element, room, threadRoot };
    this.lines.push(line);
    this.render(line);
    return () => this.render(line);
  }

  started(frame) {
    const user = frame.user;
    if (!user || !Number.isInteger(frame.room) || user.username === this.me) return;
    const key = conversationKey(frame.room, frame.thread_root);
    if (!this.typers.has(key)) this.typers.set(key, new Map());
    const typers = this.typers.get(key);
    const known = typers.get(user.id);
    clearTimeout(known?.timer);
    const seconds = Number(frame.expires_in) > 0 ? Number(frame.expires_in) : DEFAULT_EXPIRES_S;
    const timer = setTimeout(() => this.stopped(frame.room, frame.thread_root, user), seconds * 1000);
    typers.set(user.id, { name: user.display_name || user.username, timer });
    if (!known) this.renderAll();
  }

  stopped(room, threadRoot, user) {
    const key = conversationKey(room, threadRoot);
    const typers = this.typers.get(key);
    const id = user?.id;
    if (!typers || !typers.has(id)) return;
    clearTimeout(typers.get(id).timer);
    typers.delete(id);
    if (!typers.size) this.typers.delete(key);
    this.renderAll();
  }

  renderAll() {
    for (const line of this.lines) this.render(line);
  }

  render(line) {
    const root = typeof line.threadRoot === "function" ? line.threadRoot() : line.threadRoot;
    // A thread line with no thread open says nothing.
    const typers = typeof line.threadRoot === "function" && !root ? null : this.typers.get(conversationKey(line.room, root));
    const text = typingText(typers ? Array.from(typers.values(), (typer) => typer.name) : []);
    if (line.element.textContent !== text) line.element.textContent = text;
  }
}
