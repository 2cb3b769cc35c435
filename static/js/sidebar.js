// The room list in the sidebar: live unread counts, rooms joined and left while the page is open.
// A room's count is the server's (the page's, then each room.read's `unread`) plus the messages
// of its timeline by others that arrived since, each counted once (by seq). A thread reply not
// sent to the room is the thread's news, never the room's (threads.js counts those).
//
// Direct conversations have a section of their own, named by their other people (the server
// names them, in the page and in `room.joined`). A muted room (`room.settings` frames, from any
// tab or device) shows no bold and no count while its mute lasts; a timed mute ends here by a
// timer at its end, as it does on the server, with nothing sent.

// setTimeout's longest wait; a mute ending later is looked at again then.
const MAX_TIMER_MS = 2 ** 31 - 1;

export class RoomList {
  constructor({ nav, socket, me, openRoomId = null }) {
    this.nav = nav;
    this.list = nav.querySelector(".room-links:not(.direct-links)");
    this.directList = nav.querySelector(".direct-links");
    this.socket = socket;
    this.me = me;
    this.openRoomId = openRoomId;
    this.refreshUrl = nav.dataset.refreshUrl;
    this.rooms = new Map(); // room id → { link, badge, lastSeq, unread, mutedUntil, timer }
    for (const link of nav.querySelectorAll(".room-links a[data-room-id]")) this.track(link);

    socket.on("message.new", (frame) => this.messageArrived(frame.message));
    // A sync by change brings new messages as updates; their seq still counts.
    socket.on("message.updated", (frame) => this.messageSeen(frame.message));
    socket.on("room.read", (frame) => this.read(frame.room, frame.seq, frame.unread));
    socket.on("room.joined", (frame) => this.joined(frame.room));
    socket.on("room.left", (frame) => this.left(frame.room));
    socket.on("room.settings", (frame) => this.settingsChanged(frame));
    let connectedBefore = false;
    socket.addEventListener("open", () => {
      // Whatever arrived in other rooms while this tab was offline is counted by the server.
      if (connectedBefore) this.refresh();
      connectedBefore = true;
    });
  }

  track(link) {
    const lastSeq = Number(link.dataset.lastSeq || 0);
    const unread = Number(link.dataset.unread || 0);
    const entry = {
      link,
      badge: link.querySelector(".unread-count"),
      lastSeq,
      unread: Number(link.dataset.roomId) === this.openRoomId ? 0 : unread,
      mutedUntil: null,
      timer: null,
    };
    const roomId = Number(link.dataset.roomId);
    this.rooms.set(roomId, entry);
    this.setMute(roomId, link.dataset.mutedUntil || null);
    return entry;
  }

  /** Whether the room's mute lasts now. */
  isMuted(roomId) {
    const until = this.rooms.get(roomId)?.mutedUntil;
    return until !== null && until !== undefined && until > Date.now();
  }

  /** The room's mute ends at `until` (ISO time, or null: not muted); shown now, ended by a timer. */
  setMute(roomId, until) {
    const entry = this.rooms.get(roomId);
    if (!entry) return;
    clearTimeout(entry.timer);
    entry.timer = null;
    const end = until ? Date.parse(until) : NaN;
    entry.mutedUntil = Number.isNaN(end) ? null : end;
    if (entry.mutedUntil !== null && entry.mutedUntil > Date.now()) {
      const wait = Math.min(entry.mutedUntil - Date.now() + 50, MAX_TIMER_MS);
      entry.timer = setTimeout(() => this.setMute(roomId, until), wait);
    }
    this.render(roomId);
  }

  settingsChanged(frame) {
    if (!Number.isInteger(frame.room)) return;
    this.setMute(frame.room, frame.muted_until ?? null);
    document.dispatchEvent(new CustomEvent("parley:room-settings", { detail: frame }));
  }

  render(roomId) {
    const entry = this.rooms.get(roomId);
    if (!entry) return;
    // The open room's news is on screen; its count would only repeat it.
    const unread = roomId === this.openRoomId ? 0 : Math.max(0, entry.unread);
    const muted = this.isMuted(roomId);
    entry.badge.textContent = String(unread);
    entry.badge.setAttribute("aria-label", `${unread} unread`);
    // Muted: still counted (unmuting shows it), never shown.
    entry.badge.hidden = unread === 0 || muted;
    entry.link.classList.toggle("has-unread", unread > 0 && !muted);
    entry.link.classList.toggle("muted-room", muted);
    const mark = entry.link.querySelector(".muted-mark");
    if (mark) mark.hidden = !muted;
  }

  messageArrived(message) {
    const entry = this.rooms.get(message.room);
    if (!entry || message.seq <= entry.lastSeq) return;
    entry.lastSeq = message.seq;
    const inTimeline = message.in_room !== false;
    // Writing in a room means having read it; one's own message is never news.
    if (message.author.username === this.me) {
      if (inTimeline) entry.unread = 0;
    } else if (inTimeline && !message.deleted) {
      entry.unread += 1;
    }
    this.render(message.room);
  }

  /** A sync by change brings new messages as updates; they count the same. */
  messageSeen(message) {
    this.messageArrived(message);
  }

  read(roomId, seq, unread) {
    const entry = this.rooms.get(roomId);
    if (!entry) return;
    entry.lastSeq = Math.max(entry.lastSeq, seq);
    // The server's count after the move; a server that does not say, only ever reads to the end.
    entry.unread = Number.isInteger(unread) ? unread : Math.max(0, entry.lastSeq - seq);
    this.render(roomId);
  }

  joined(room, href = roomUrl(room.slug)) {
    if (this.rooms.has(room.id)) return;
    const direct = room.kind === "direct";
    const list = direct && this.directList ? this.directList : this.list;
    const item = roomLinkItem({
      id: room.id,
      href,
      name: room.name,
      isPrivate: room.is_private,
      direct,
      lastSeq: room.last_seq,
    });
    if (!item) return;
    if (room.id === this.openRoomId) item.querySelector("a").setAttribute("aria-current", "page");
    list.querySelector(direct ? ".empty-directs" : ".empty-rooms")?.remove();
    // Keep the list sorted by name, as the server renders it.
    const after = Array.from(list.children).find(
      (li) => li.querySelector(".room-name")?.textContent.localeCompare(room.name) > 0,
    );
    list.insertBefore(item, after || null);
    this.track(item.querySelector("a[data-room-id]"));
  }

  left(room) {
    const entry = this.rooms.get(room.id);
    if (!entry) return;
    clearTimeout(entry.timer);
    entry.link.closest("li").remove();
    this.rooms.delete(room.id);
  }

  /** Counts and rooms as the server has them now, read from the room list page. */
  async refresh() {
    let html;
    try {
      const response = await fetch(this.refreshUrl, { credentials: "same-origin" });
      if (!response.ok) return;
      html = await response.text();
    } catch {
      return;
    }
    const fresh = new DOMParser().parseFromString(html, "text/html");
    const seen = new Set();
    for (const link of fresh.querySelectorAll("#sidebar a[data-room-id]")) {
      const roomId = Number(link.dataset.roomId);
      seen.add(roomId);
      const lastSeq = Number(link.dataset.lastSeq || 0);
      if (!this.rooms.has(roomId)) {
        const room = {
          id: roomId,
          name: link.querySelector(".room-name")?.textContent || "",
          is_private: link.dataset.private === "true",
          kind: link.dataset.direct === "true" ? "direct" : "room",
          last_seq: lastSeq,
        };
        this.joined(room, link.getAttribute("href"));
      }
      const entry = this.rooms.get(roomId);
      if (!entry) continue;
      this.setMute(roomId, link.dataset.mutedUntil || null);
      // The server's count as of its newest message; what came after it is counted here.
      if (lastSeq >= entry.lastSeq) entry.unread = Number(link.dataset.unread || 0);
      entry.lastSeq = Math.max(entry.lastSeq, lastSeq);
      this.render(roomId);
    }
    for (const roomId of Array.from(this.rooms.keys())) {
      if (!seen.has(roomId)) this.left({ id: roomId });
    }
  }
}

function roomUrl(slug) {
  return `/rooms/${encodeURIComponent(slug)}/`;
}

/**
 * A room's sidebar entry, cloned from the page's `<template>`s: the markup the server renders
 * for its own list (templates/partials/room_link.html), so both look and read the same.
 */
function roomLinkItem({ id, href, name, isPrivate, direct = false, lastSeq }) {
  const templateId = direct ? "room-link-direct" : isPrivate ? "room-link-private" : "room-link-public";
  const template = document.getElementById(templateId);
  const item = template?.content.firstElementChild?.cloneNode(true);
  const link = item?.querySelector("a[data-room-id]");
  if (!link) return null;
  link.href = href;
  link.dataset.roomId = id;
  link.dataset.lastSeq = lastSeq ?? 0;
  link.dataset.unread = 0;
  link.querySelector(".room-name").textContent = name;
  return item;
}

/**
 * A panel that is a drawer on narrow screens: `toggle` opens and closes it, Escape and a click
 * outside close it, focus goes into it on opening and back to the toggle on closing.
 */
export class Drawer {
  constructor({ toggle, panel, bodyClass, query }) {
    this.toggle = toggle;
    this.panel = panel;
    this.bodyClass = bodyClass;
    this.query = window.matchMedia(query);
    toggle.hidden = !this.query.matches;
    this.query.addEventListener("change", () => {
      toggle.hidden = !this.query.matches;
      if (!this.query.matches) this.close({ restoreFocus: false });
    });
    toggle.addEventListener("click", () => (this.isOpen ? this.close() : this.open()));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.isOpen) this.close();
    });
    document.addEventListener("drawer-open", (event) => {
      if (event.detail !== this && this.isOpen) this.close({ restoreFocus: false });
    });
  }

  get isOpen() {
    return document.body.classList.contains(this.bodyClass);
  }

  open() {
    document.dispatchEvent(new CustomEvent("drawer-open", { detail: this }));
    document.body.classList.add(this.bodyClass);
    this.toggle.setAttribute("aria-expanded", "true");
    scrim().onclick = () => this.close();
    this.panel.querySelector("a, button, input")?.focus();
  }

  close({ restoreFocus = true } = {}) {
    if (!this.isOpen) return;
    document.body.classList.remove(this.bodyClass);
    this.toggle.setAttribute("aria-expanded", "false");
    if (restoreFocus) this.toggle.focus();
  }
}

function scrim() {
  let element = document.querySelector(".scrim");
  if (!element) {
    element = document.createElement("div");
    element.className = "scrim";
    element.setAttribute("aria-hidden", "true");
    document.body.append(element);
  }
  return element;
}
