// "Seen by": under the person's own newest message in the room's timeline, who of the others has
// read that far ("Seen by Bob, Carol", or "Seen by 12" opening the list), live. The server sends
// the others' read pointers (`receipts.state` after a `receipts.sync`, then `receipts.changed`),
// absolute, so a lost frame is healed by the next: each pointer is kept as the highest heard.
// Only in rooms small enough for receipts (room_config `receipts`) and only while the person
// shares their own read state (`shared`: reciprocity).

// Up to this many names are written out; more make a count that opens the list.
const NAMES_SHOWN = 3;

export function seenByText(names) {
  return names.length <= NAMES_SHOWN ? `Seen by ${names.join(", ")}` : `Seen by ${names.length}`;
}

export class ReadReceipts {
  constructor({ view, socket, me }) {
    this.view = view; // the RoomView
    this.socket = socket;
    this.me = me;
    this.roomId = view.roomId;
    this.shared = false; // until the server says so
    this.reads = new Map(); // user id → { user, seq }
    this.line = null; // the "Seen by" element, inside the message it is about
    this.open = false; // the list of a "Seen by 12" is shown
    this.pending = false;

    socket.on("hello", () => this.sync());
    // Back in the room (after the view has taken it back).
    socket.on("room.joined", (frame) => {
      if (frame.room?.id === this.roomId) queueMicrotask(() => this.sync());
    });
    socket.on("receipts.state", (frame) => {
      if (frame.room !== this.roomId) return;
      this.shared = frame.shared !== false;
      // The whole state: who no longer shares is no longer in it.
      this.reads = new Map();
      for (const read of frame.reads || []) this.heard(read);
      this.render();
    });
    socket.on("receipts.changed", (frame) => {
      if (frame.room !== this.roomId) return;
      for (const read of frame.reads || []) this.heard(read);
      this.render();
    });
    // A new own message (or one deleted) moves the line; a re-drawn message loses it.
    view.addEventListener("message", () => this.soon());
    // In the capture phase: before the thread panel's own Escape, which then sees it handled.
    document.addEventListener(
      "keydown",
      (event) => {
        if (event.key === "Escape" && this.open && !event.defaultPrevented) {
          // Closes the list and nothing else (not the thread panel behind it).
          event.preventDefault();
          this.open = false;
          this.render();
          this.line?.querySelector("button")?.focus();
        }
      },
      true,
    );
  }

  sync() {
    // Removed from the room meanwhile: nothing to ask (the server would refuse it).
    if (this.view.isMember) this.socket.send({ type: "receipts.sync", room: this.roomId });
  }

  heard(read) {
    const id = read?.user?.id;
    if (!Number.isInteger(id) || read.user.username === this.me || !Number.isInteger(read.seq)) return;
    const known = this.reads.get(id);
    if (!known || known.seq < read.seq) this.reads.set(id, { user: read.user, seq: read.seq });
  }

  soon() {
    if (this.pending) return;
    this.pending = true;
    queueMicrotask(() => {
      this.pending = false;
      this.render();
    });
  }

  /** The person's own newest delivered message in the timeline, not deleted. */
  newestOwn() {
    const own = this.view.list.querySelectorAll(".message.own[data-seq]:not(.deleted)");
    let newest = null;
    for (const item of own) if (!newest || Number(item.dataset.seq) > Number(newest.dataset.seq)) newest = item;
    return newest;
  }

  render() {
    const item = this.shared ? this.newestOwn() : null;
    const seq = item ? Number(item.dataset.seq) : 0;
    const readers = Array.from(this.reads.values())
      .filter((read) => read.seq >= seq)
      .map((read) => read.user.display_name || read.user.username)
      .sort((a, b) => a.localeCompare(b));
    if (!item || !readers.length) {
      this.line?.remove();
      this.line = null;
      this.open = false;
      return;
    }
    const text = seenByText(readers);
    const key = `${seq}|${readers.join("\u0000")}|${this.open}`;
    if (this.line?.isConnected && this.line.parentElement === item && this.line.dataset.key === key) return;
    const hadFocus = this.line?.contains(document.activeElement);
    this.line?.remove();
    this.line = this.build(text, readers);
    this.line.dataset.key = key;
    item.append(this.line);
    if (hadFocus) this.line.querySelector("button")?.focus();
  }

  build(text, readers) {
    const line = document.createElement("div");
    line.className = "seen-by";
    // Inside the timeline's live region, but not news of its own: a screen reader would read it
    // again at every change (who read what is a look away, under one's message).
    line.setAttribute("aria-live", "off");
    if (readers.length <= NAMES_SHOWN) {
      line.textContent = text;
      return line;
    }
    const button = document.createElement("button");
    button.type = "button";
    button.className = "quiet-button seen-by-toggle";
    button.textContent = text;
    button.setAttribute("aria-expanded", String(this.open));
    const list = document.createElement("ul");
    list.className = "seen-by-list";
    list.id = "seen-by-list";
    list.setAttribute("aria-label", "Seen by");
    list.hidden = !this.open;
    for (const name of readers) {
      const entry = document.createElement("li");
      entry.textContent = name;
      list.append(entry);
    }
    button.setAttribute("aria-controls", list.id);
    button.addEventListener("click", () => {
      this.open = !this.open;
      button.setAttribute("aria-expanded", String(this.open));
      list.hidden = !this.open;
      line.dataset.key = line.dataset.key.replace(/\|(true|false)$/, `|${this.open}`);
    });
    line.append(button, list);
    return line;
  }
}
