// Presence: this tab tells the server whether the person is here (`presence.set`), and the page
// shows who else is (a dot on avatars: active, away, offline, with the status text and emoji
// beside the name), live from `presence.changed` and `user.status`, asked again after every
// hello with `presence.sync` (presence frames are absolute state and may be lost).
//
// A socket starts "away" on the server; the tab says "active" when it is visible, focused and the
// person does something, at most once a minute while it stays so (the server demotes an active
// socket that has not said so for PRESENCE_IDLE_SECONDS, default 300), and "away" as soon as the
// tab is hidden or loses the focus.

// A person really there refreshes "active" this often at most, well inside the server's idle time.
const ACTIVE_REFRESH_MS = 60_000;
const INTERACTIONS = ["keydown", "pointerdown", "scroll", "wheel", "touchstart"];
// "last active 12 minutes ago" is redrawn this often.
const RELABEL_EVERY_MS = 30_000;
// presence.sync takes this many ids at most.
const SYNC_LIMIT = 500;
// setTimeout's longest wait; a status expiring later is checked again then.
const LONGEST_TIMER_MS = 2 ** 31 - 1;

export const STATES = new Set(["active", "away", "offline"]);

export class PresenceReporter {
  constructor({ socket, now = () => Date.now() }) {
    this.socket = socket;
    this.now = now;
    this.sent = null; // the state this socket last told the server, null before the hello
    this.sentAt = 0;
    socket.on("hello", () => {
      // A new socket starts "away": say "active" again if the person is here now.
      this.sent = "away";
      this.sentAt = 0;
      if (this.isHere()) this.set("active");
    });
    socket.addEventListener("close", () => {
      this.sent = null;
    });
    for (const type of INTERACTIONS) {
      document.addEventListener(type, () => this.interacted(), { passive: true, capture: true });
    }
    window.addEventListener("focus", () => this.interacted());
    window.addEventListener("blur", () => this.set("away"));
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.interacted();
      else this.set("away");
    });
  }

  isHere() {
    return document.visibilityState === "visible" && document.hasFocus();
  }

  interacted() {
    if (!this.isHere()) return;
    if (this.sent === "active" && this.now() - this.sentAt < ACTIVE_REFRESH_MS) return;
    this.set("active");
  }

  set(state) {
    if (this.sent === null || (state === "away" && this.sent === "away")) return;
    if (this.socket.send({ type: "presence.set", state })) {
      this.sent = state;
      if (state === "active") this.sentAt = this.now();
    }
  }
}

/** "just now", "1 minute ago", "12 minutes ago", "3 hours ago", "2 days ago". */
export function ago(iso, now = Date.now()) {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return "";
  const minutes = Math.floor(Math.max(0, now - at) / 60_000);
  if (minutes < 1) return "just now";
  const [count, unit] =
    minutes < 60 ? [minutes, "minute"] : minutes < 60 * 24 ? [Math.floor(minutes / 60), "hour"] : [Math.floor(minutes / 1440), "day"];
  return `${count} ${unit}${count === 1 ? "" : "s"} ago`;
}

/** What a person's dot says: "Active", "Away", "Offline · last active 12 minutes ago". */
export function presenceLabel(presence, now = Date.now()) {
  const state = STATES.has(presence?.state) ? presence.state : "offline";
  if (state === "active") return "Active";
  if (state === "away") return "Away";
  const when = presence?.last_active_at ? ago(presence.last_active_at, now) : "";
  return when ? `Offline · last active ${when}` : "Offline";
}

const untilFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const untilDayFormat = new Intl.DateTimeFormat(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit" });

/** "until 15:00" (today), "until Fri 15:00" (later), "" without an expiry. */
export function untilLabel(iso, now = Date.now()) {
  const at = new Date(iso || Number.NaN);
  if (Number.isNaN(at.getTime())) return "";
  const today = new Date(now);
  const sameDay = at.toDateString() === today.toDateString();
  return `until ${(sameDay ? untilFormat : untilDayFormat).format(at)}`;
}

/** A status still in force at `now` (an expired one is as good as none). */
export function liveStatus(status, now = Date.now()) {
  if (!status || !(status.text || status.emoji)) return null;
  if (status.expires_at && Date.parse(status.expires_at) <= now) return null;
  return status;
}

/**
 * What the page knows of people's presence, by user id: the last payload heard for each, with
 * their status dropped when it expires (no frame comes then). Says "change" (detail: the id).
 */
export class PresenceStore extends EventTarget {
  constructor({ socket, now = () => Date.now() }) {
    super();
    this.socket = socket;
    this.now = now;
    this.people = new Map(); // id → presence payload
    this.expiry = new Map(); // id → timer dropping the status
    this.wanted = new Set(); // ids the page shows, asked for after every hello
    socket.on("hello", () => this.sync());
    this.enabled = true; // presence is on at the server (it can be switched off under load)
    socket.on("presence.state", (frame) => {
      const enabled = frame.enabled !== false;
      if (enabled !== this.enabled) {
        this.enabled = enabled;
        this.dispatchEvent(new CustomEvent("enabled"));
      }
      for (const person of frame.users || []) this.apply(person);
    });
    socket.on("presence.changed", (frame) => this.apply(frame.user));
    socket.on("user.status", (frame) => this.apply(frame.user));
  }

  /** Ask for these people (now, if the socket is open, and after every hello). */
  want(ids) {
    const fresh = [];
    for (const id of ids) {
      if (!Number.isInteger(id) || this.wanted.has(id)) continue;
      this.wanted.add(id);
      fresh.push(id);
    }
    if (fresh.length && this.socket.isOpen) this.sync(fresh);
  }

  sync(ids = Array.from(this.wanted)) {
    for (let start = 0; start < ids.length; start += SYNC_LIMIT) {
      this.socket.send({ type: "presence.sync", users: ids.slice(start, start + SYNC_LIMIT) });
    }
  }

  get(id) {
    return this.people.get(id) || null;
  }

  apply(person) {
    if (!person || !Number.isInteger(person.id)) return;
    const known = this.people.get(person.id);
    // presence.changed may leave the status out: keep the one known.
    const merged = { ...known, ...person };
    if (!("status" in person) && known) merged.status = known.status;
    merged.status = liveStatus(merged.status, this.now());
    this.people.set(person.id, merged);
    this.scheduleExpiry(person.id, merged.status);
    this.dispatchEvent(new CustomEvent("change", { detail: { id: person.id } }));
  }

  scheduleExpiry(id, status) {
    clearTimeout(this.expiry.get(id));
    this.expiry.delete(id);
    if (!status?.expires_at) return;
    const wait = Date.parse(status.expires_at) - this.now();
    const timer = setTimeout(() => {
      this.expiry.delete(id);
      const person = this.people.get(id);
      if (!person?.status) return;
      const still = liveStatus(person.status, this.now());
      if (still) {
        this.scheduleExpiry(id, still);
        return;
      }
      this.people.set(id, { ...person, status: null });
      this.dispatchEvent(new CustomEvent("change", { detail: { id } }));
    }, Math.min(Math.max(wait, 0) + 50, LONGEST_TIMER_MS));
    this.expiry.set(id, timer);
  }
}

/** Paint a presence dot (an element with `data-presence-for`) as `presence` says. */
export function paintDot(dot, presence, now = Date.now()) {
  const state = STATES.has(presence?.state) ? presence.state : "offline";
  const label = presenceLabel(presence, now);
  const name = dot.dataset.name; // the member list says whose dot it is
  dot.hidden = false;
  if (dot.dataset.state !== state) dot.dataset.state = state;
  const spoken = name ? `${name}: ${label}` : label;
  // A decorative dot (the text beside it says it) has no label of its own.
  if (dot.getAttribute("aria-hidden") !== "true" && dot.getAttribute("aria-label") !== spoken) {
    dot.setAttribute("aria-label", spoken);
  }
  if (dot.title !== label) dot.title = label;
  // The member list's dots tell "last active …" on keyboard focus too (a tooltip, parley.css).
  if (dot.dataset.name && dot.tabIndex !== 0) dot.tabIndex = 0;
  dot.dataset.tip = label;
}

/** Paint a status line (an element with `data-status-for`): "📅 In a meeting", until when in its title. */
export function paintStatus(line, status, now = Date.now()) {
  const live = liveStatus(status, now);
  line.hidden = !live;
  if (!live) {
    line.replaceChildren();
    line.removeAttribute("title");
    return;
  }
  const parts = [];
  if (live.emoji) {
    const emoji = document.createElement("span");
    emoji.className = "status-emoji";
    emoji.textContent = live.emoji;
    parts.push(emoji, " ");
  }
  const text = document.createElement("span");
  text.className = "status-text";
  text.textContent = live.text || "";
  parts.push(text);
  const until = untilLabel(live.expires_at, now);
  if (until) {
    const hidden = document.createElement("span");
    hidden.className = "visually-hidden";
    hidden.textContent = `, ${until}`;
    parts.push(hidden);
    line.title = `${live.text || live.emoji}, ${until}`;
  } else {
    line.removeAttribute("title");
  }
  line.replaceChildren(...parts);
}

/** A new dot for user `id` (the mention picker's options): painted now if the store knows them. */
export function presenceDot(store, id, { className = "presence" } = {}) {
  const dot = document.createElement("span");
  dot.className = className;
  dot.setAttribute("role", "img");
  dot.dataset.presenceFor = id;
  const person = store?.get(id);
  if (person && store.enabled && STATES.has(person.state)) paintDot(dot, person, store.now());
  else dot.hidden = true;
  return dot;
}

/**
 * The dots and status lines of a part of the page (the member list), kept as the store says:
 * every element with `data-presence-for="<id>"` is a dot, `data-status-for="<id>"` a status line.
 * Message authors' avatars (`data-author`, the room's `members` give their ids) get a dot too.
 */
export class PresenceView {
  constructor({ store, root = document, members = [], me = null, invisible = false }) {
    this.store = store;
    this.root = root;
    // Appearing offline, one sees oneself as the others do, and why.
    this.invisibleId = invisible ? (members.find((m) => m.username === me)?.id ?? null) : null;
    this.ids = new Map(members.map((m) => [m.username, m.id])); // username → id
    this.usernames = new Map(members.map((m) => [m.id, m.username]));
    store.addEventListener("change", (event) => this.paint(event.detail.id));
    store.addEventListener("enabled", () => {
      for (const id of this.store.people.keys()) this.paint(id);
    });
    const ids = new Set(this.usernames.keys());
    for (const element of root.querySelectorAll("[data-presence-for], [data-status-for]")) {
      ids.add(Number(element.dataset.presenceFor ?? element.dataset.statusFor));
    }
    store.want(Array.from(ids));
    for (const id of ids) this.paint(id);
    // "12 minutes ago" grows older by itself.
    setInterval(() => this.relabel(), RELABEL_EVERY_MS);
  }

  paint(id) {
    const person = this.store.get(id);
    if (!person) return;
    const now = this.store.now();
    // user.status says the status alone: a dot waits for a state. Presence off: no dots at all.
    const known = this.store.enabled && STATES.has(person.state);
    const shown = id === this.invisibleId ? { ...person, state: "offline", last_active_at: null } : person;
    for (const dot of this.root.querySelectorAll(`[data-presence-for="${id}"]`)) {
      if (!known) {
        dot.hidden = true;
        continue;
      }
      paintDot(dot, shown, now);
      if (id === this.invisibleId) {
        const label = "Invisible: others see you offline";
        dot.title = label;
        dot.dataset.tip = label;
        if (dot.getAttribute("aria-hidden") !== "true") dot.setAttribute("aria-label", `${dot.dataset.name}: ${label}`);
      }
    }
    for (const line of this.root.querySelectorAll(`[data-status-for="${id}"]`)) paintStatus(line, person.status, now);
    const username = this.usernames.get(id);
    if (username === undefined) return;
    for (const avatar of this.root.querySelectorAll(`.message[data-author="${CSS.escape(username)}"] > .avatar`)) {
      this.paintAvatar(avatar, known ? shown.state : null);
    }
  }

  paintAvatar(avatar, state) {
    if (!state) delete avatar.dataset.presence;
    else if (avatar.dataset.presence !== state) avatar.dataset.presence = state;
  }

  relabel() {
    const ids = new Set();
    for (const dot of this.root.querySelectorAll('[data-presence-for][data-state="offline"]')) {
      ids.add(Number(dot.dataset.presenceFor));
    }
    for (const id of ids) this.paint(id);
  }

  /** A message just drawn (its avatar is new): a small dot for its author (decorative: the member list says it). */
  paintItem(item) {
    const id = this.ids.get(item?.dataset?.author);
    const person = id === undefined ? null : this.store.get(id);
    const avatar = item?.querySelector?.(":scope > .avatar");
    const state = id === this.invisibleId ? "offline" : person?.state;
    if (person && avatar) this.paintAvatar(avatar, this.store.enabled && STATES.has(state) ? state : null);
  }
}
