// Desktop notifications: while this tab is open but hidden, what concerns the person pops up as a
// browser notification, one per conversation at a time, and its click opens the message in
// context. What pops: a `notification.new` (mention, @room/@here, direct message, followed
// thread's reply; a reminder even in a visible tab, since the person asked for it then) unless
// its frame says `"alert": false` (do not disturb, decided by the server), and a `message.new`
// from someone else in a direct conversation, or in a room whose level is "all" and that is not
// muted. The preferences come with the page (`#notify-prefs`, notifications/context_processors.py)
// and follow the `notify.settings` and `room.settings` frames, so every device obeys a change at
// once; do not disturb is checked here too (a frame from before it began, a server without it).
//
// Several tabs get every frame: one notification for them all. Each message is claimed once per
// browser (a Web Lock per message, which the first tab takes), and nothing pops while any of the
// browser's Parley tabs is in view (each holds a shared lock while it is): the person is looking.
//
// The permission is asked only on a click (the settings' button, setting a reminder), never on
// page load. The optional sound is a short tone made with WebAudio: no file to fetch.

const SNIPPET_CHARS = 100;
// A message older than this when it arrives (a sync after a reconnect) is news no longer.
const FRESH_MS = 10 * 60 * 1000;
const VISIBLE_LOCK = "parley-tab-in-view";
const CLAIM_LOCK_PREFIX = "parley-desktop-";
const CLAIMS_KEY = "parley-desktop-claims";
const HOLD_CLAIM_MS = 60 * 1000;
const TONE_HZ = 880;
const TONE_SECONDS = 0.18;

const DEFAULT_PREFS = { dnd_until: null, desktop_notifications: true, notification_sound: false, rooms: {} };
const DEFAULT_ROOM = { notify_level: "mentions", muted_until: null, direct: false, name: "", url: "" };

/** The page's preferences (#notify-prefs), with the defaults for whatever is missing. */
export function readPrefs(doc = document) {
  let prefs = null;
  try {
    prefs = JSON.parse(doc.getElementById("notify-prefs")?.textContent || "null");
  } catch {
    prefs = null;
  }
  if (!prefs || typeof prefs !== "object") prefs = {};
  return { ...DEFAULT_PREFS, ...prefs, rooms: { ...(prefs.rooms || {}) } };
}

/** Whether an ISO time (a mute's or do-not-disturb's end) is still ahead. */
export function stillAhead(iso, now = Date.now()) {
  if (!iso) return false;
  const at = Date.parse(iso);
  return Number.isFinite(at) && at > now;
}

export function excerpt(text) {
  const body = (text || "").replace(/\s+/g, " ").trim();
  return body.length > SNIPPET_CHARS ? `${body.slice(0, SNIPPET_CHARS - 1)}…` : body;
}

export function canNotify() {
  return "Notification" in window;
}

/** Ask for the permission, in the click that called this, and only while undecided. */
export async function askPermission() {
  if (!canNotify()) return "unsupported";
  if (Notification.permission !== "default") return Notification.permission;
  try {
    return await Notification.requestPermission();
  } catch {
    return Notification.permission;
  }
}

function csrfToken() {
  const field = document.querySelector('input[name="csrfmiddlewaretoken"]');
  if (field?.value) return field.value;
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  return cookie ? decodeURIComponent(cookie.slice("csrftoken=".length)) : "";
}

/** Open a notification's message in context and mark it read: the notifications page's own
 * form (a POST with the page's CSRF token), so it goes where that page's button goes. */
export function openNotification(id) {
  const form = document.createElement("form");
  form.method = "post";
  form.action = `/notifications/${Number(id)}/open/`;
  form.hidden = true;
  const token = document.createElement("input");
  token.type = "hidden";
  token.name = "csrfmiddlewaretoken";
  token.value = csrfToken();
  form.append(token);
  document.body.append(form);
  form.submit();
}

/** The tabs of this browser, through Web Locks (held by the browser itself, so atomic across
 * tabs, unlike localStorage, which a tab in another process sees late): which one shows a
 * message (the first to claim it holds its lock a while), and whether any tab is in view (each
 * visible tab holds a shared lock while it is). */
export class Tabs {
  constructor({ locks = navigator.locks, storage = safeStorage() } = {}) {
    this.locks = locks;
    this.storage = storage;
    this.mine = new Set(); // this tab's own claims: a message and its notification are one
    this.release = null;
    if (!locks) return;
    const follow = () => (document.visibilityState === "visible" ? this.inView() : this.outOfView());
    document.addEventListener("visibilitychange", follow);
    follow();
  }

  inView() {
    if (this.release) return;
    const held = new Promise((resolve) => {
      this.release = resolve;
    });
    this.locks.request(VISIBLE_LOCK, { mode: "shared" }, () => held).catch(() => {});
  }

  outOfView() {
    this.release?.();
    this.release = null;
  }

  /** Whether a tab of this browser (this one included) is in view now. */
  async anyInView() {
    if (!this.locks) return document.visibilityState === "visible";
    try {
      const state = await this.locks.query();
      return state.held.some((lock) => lock.name === VISIBLE_LOCK);
    } catch {
      return document.visibilityState === "visible";
    }
  }

  /** True for the first claim of `key` in this browser, false for every later one. */
  async claim(key) {
    if (this.mine.has(key)) return false;
    this.mine.add(key);
    if (!this.locks) return this.claimStored(key);
    return new Promise((resolve) => {
      this.locks
        .request(`${CLAIM_LOCK_PREFIX}${key}`, { ifAvailable: true }, (lock) => {
          resolve(lock !== null);
          // Held a while: the other tabs' copies of the frame (and the message's notification,
          // which follows its message.new) arrive within it.
          return lock && new Promise((done) => setTimeout(done, HOLD_CLAIM_MS));
        })
        .catch(() => resolve(true));
    });
  }

  /** Without Web Locks, the best localStorage can do (another tab may see it late). */
  claimStored(key) {
    if (!this.storage) return true;
    const now = Date.now();
    let claims = {};
    try {
      claims = JSON.parse(this.storage.getItem(CLAIMS_KEY) || "{}") || {};
    } catch {
      claims = {};
    }
    for (const [known, at] of Object.entries(claims)) if (now - at > HOLD_CLAIM_MS) delete claims[known];
    if (key in claims) return false;
    claims[key] = now;
    try {
      this.storage.setItem(CLAIMS_KEY, JSON.stringify(claims));
    } catch {
      // Storage full or refused: this tab shows it; another might too.
    }
    return true;
  }
}

function safeStorage() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

/** A short soft beep. The browser lets audio start only after a gesture on the page: the
 * context is made (or resumed) on the first click or key, and used from then on. */
export class Tone {
  constructor({ wanted = () => true } = {}) {
    this.context = null;
    const unlock = () => {
      if (!wanted()) return; // no audio context for someone who wants no sound
      this.ready();
      if (this.context?.state === "running") {
        document.removeEventListener("pointerdown", unlock, true);
        document.removeEventListener("keydown", unlock, true);
      }
    };
    document.addEventListener("pointerdown", unlock, true);
    document.addEventListener("keydown", unlock, true);
  }

  ready() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    try {
      if (!this.context) this.context = new Context();
      if (this.context.state === "suspended") this.context.resume().catch(() => {});
    } catch {
      this.context = null;
    }
    return this.context;
  }

  play() {
    const context = this.ready();
    if (!context) return false;
    const start = context.currentTime;
    const oscillator = context.createOscillator();
    const gain = context.createGain();
    oscillator.type = "sine";
    oscillator.frequency.value = TONE_HZ;
    // A quick rise and an exponential fall: a click-free blip, not a square start and stop.
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.2, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + TONE_SECONDS);
    oscillator.connect(gain).connect(context.destination);
    oscillator.start(start);
    oscillator.stop(start + TONE_SECONDS + 0.02);
    return true;
  }
}

export class DesktopNotifier extends EventTarget {
  constructor({ socket, me, prefs = readPrefs(), tabs = new Tabs(), tone = null }) {
    super();
    this.me = me;
    this.prefs = prefs;
    this.tabs = tabs;
    this.tone = tone || new Tone({ wanted: () => Boolean(this.prefs.notification_sound) });
    this.shown = new Map(); // tag → this tab's Notification showing it
    this.byNotification = new Map(); // notification id → the Notification showing it
    this.byMessage = new Map(); // message id → the Notification showing it

    socket.on("notification.new", (frame) => this.notificationArrived(frame));
    socket.on("message.new", (frame) => this.messageArrived(frame.message || {}));
    socket.on("notify.settings", (frame) => this.applySettings(frame));
    socket.on("room.settings", (frame) => this.applyRoomSettings(frame));
    socket.on("room.joined", (frame) => this.roomJoined(frame.room || {}));
    socket.on("room.left", (frame) => delete this.prefs.rooms[String(frame.room?.id)]);
    // Read elsewhere, or its message deleted: off the desktop too (a deleted text must not stay).
    socket.on("notification.read", (frame) => this.closeNotifications(frame.ids));
    socket.on("notification.removed", (frame) => this.closeNotifications(frame.ids));
    socket.on("message.updated", (frame) => {
      if (frame.message?.deleted) this.byMessage.get(frame.message.id)?.close();
    });
    // Back on the tab: what it popped is on screen now.
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.closeAll();
    });
  }

  // --- the preferences -----------------------------------------------------------------------

  applySettings(frame) {
    for (const name of ["dnd_until", "desktop_notifications", "notification_sound"]) {
      if (name in frame) this.prefs[name] = frame[name];
    }
    this.dispatchEvent(new Event("settings"));
  }

  applyRoomSettings(frame) {
    const key = String(frame.room);
    const room = { ...DEFAULT_ROOM, ...(this.prefs.rooms[key] || {}) };
    if ("notify_level" in frame) room.notify_level = frame.notify_level;
    if ("muted_until" in frame) room.muted_until = frame.muted_until;
    this.prefs.rooms[key] = room;
  }

  roomJoined(room) {
    if (room.id === undefined) return;
    const key = String(room.id);
    const known = this.prefs.rooms[key] || {};
    this.prefs.rooms[key] = {
      ...DEFAULT_ROOM,
      direct: room.kind === "direct",
      ...known,
      name: known.name || room.name || "",
      url: known.url || (room.slug ? `/rooms/${room.slug}/` : ""),
    };
  }

  room(id) {
    return { ...DEFAULT_ROOM, ...(this.prefs.rooms[String(id)] || {}) };
  }

  inDnd(now = Date.now()) {
    return stillAhead(this.prefs.dnd_until, now);
  }

  get wanted() {
    return this.prefs.desktop_notifications !== false && canNotify() && Notification.permission === "granted";
  }

  // --- what arrives --------------------------------------------------------------------------

  notificationArrived(frame) {
    const notification = frame.notification || {};
    const message = notification.message || {};
    // Without the field (a server from before it), a notification alerts.
    if (frame.alert === false || notification.read) return;
    const reminder = notification.kind === "reminder";
    // A reminder is news when it comes due; anything else when its message was said (a reply
    // notification brought up to date keeps its first time).
    if (!fresh(reminder ? notification.created_at : message.created_at)) return;
    const roomId = notification.room ?? message.room;
    const room = this.room(roomId);
    if (!reminder) {
      if (room.notify_level === "nothing") return;
      // A muted room's @room/@here says nothing; a mention by name still does.
      if (notification.kind === "group" && stillAhead(room.muted_until)) return;
    }
    const author = authorName(message);
    this.offer({
      key: reminder ? `reminder-${notification.id}-${notification.created_at}` : `message-${message.id}`,
      anyTab: reminder,
      tag: reminder
        ? `parley-reminder-${notification.id}-${notification.created_at}`
        : conversationTag(roomId, notification.thread_root ?? message.thread_root),
      title: reminder ? "Reminder" : titleFor(author, room),
      body: reminder ? (author ? `${author}: ${excerpt(message.body)}` : excerpt(message.body)) : excerpt(message.body),
      open: () => openNotification(notification.id),
      notificationId: notification.id,
      messageId: message.id,
    });
  }

  messageArrived(message) {
    if (message.deleted || message.author?.username === this.me) return;
    // A reply only in its thread is the thread's followers' news (a `reply` notification).
    if (message.in_room === false) return;
    if (!fresh(message.created_at)) return;
    const room = this.room(message.room);
    const level = room.notify_level;
    // Every message of a direct conversation is addressed to its people, muted or not.
    const pops = room.direct ? level !== "nothing" : level === "all" && !stillAhead(room.muted_until);
    // A mention of me in a room is its notification's to show: its click marks it read.
    if (!pops || (!room.direct && (message.mentions || []).includes(this.me))) return;
    const seq = Number(message.seq);
    this.offer({
      key: `message-${message.id}`,
      anyTab: false,
      tag: conversationTag(message.room, null),
      title: titleFor(authorName(message), room),
      body: excerpt(message.body),
      open: () => {
        if (room.url) window.location.assign(`${room.url}?around=${seq}#m${seq}`);
      },
      messageId: message.id,
    });
  }

  // --- showing -------------------------------------------------------------------------------

  async offer({ key, anyTab, ...shown }) {
    if (!this.wanted || this.inDnd()) return;
    // While the person is looking at Parley (this tab or another), the page says it all.
    if (!anyTab && (document.visibilityState !== "hidden" || (await this.tabs.anyInView()))) return;
    if (!(await this.tabs.claim(key))) return;
    this.show(shown);
  }

  show({ tag, title, body, open, notificationId = null, messageId = null }) {
    this.shown.get(tag)?.close();
    let shown;
    try {
      // The same tag replaces the conversation's notification: one per conversation.
      shown = new Notification(title, { body, tag, renotify: true });
    } catch {
      return; // a browser that only shows notifications from a service worker
    }
    this.shown.set(tag, shown);
    if (notificationId !== null) this.byNotification.set(notificationId, shown);
    if (messageId !== null && messageId !== undefined) this.byMessage.set(messageId, shown);
    shown.onclick = () => {
      window.focus();
      shown.close();
      open();
    };
    shown.onclose = () => this.forget(shown);
    if (this.prefs.notification_sound) this.tone.play();
  }

  forget(shown) {
    for (const map of [this.shown, this.byNotification, this.byMessage]) {
      for (const [key, value] of map) if (value === shown) map.delete(key);
    }
  }

  closeNotifications(ids) {
    for (const id of ids || []) this.byNotification.get(id)?.close();
  }

  closeAll() {
    for (const shown of this.shown.values()) shown.close();
    this.shown.clear();
    this.byNotification.clear();
    this.byMessage.clear();
  }
}

function fresh(iso, now = Date.now()) {
  const at = Date.parse(iso || "");
  return !Number.isFinite(at) || now - at < FRESH_MS;
}

function authorName(message) {
  return message.author?.display_name || message.author?.username || "";
}

function conversationTag(roomId, threadRoot) {
  const room = `parley-room-${Number(roomId)}`;
  return threadRoot === null || threadRoot === undefined ? room : `${room}-thread-${Number(threadRoot)}`;
}

/** "Alice in #general"; in a direct conversation "Alice" (1:1) or "Alice in Alice, Carol". */
function titleFor(author, room) {
  if (!room.name) return author || "Parley";
  if (room.direct) return room.name === author || !author ? author || room.name : `${author} in ${room.name}`;
  return author ? `${author} in #${room.name}` : `#${room.name}`;
}

// --- the settings' desktop section (templates/notifications/desktop_settings.html) -----------

const PERMISSION_WORDS = {
  granted: "Allowed in this browser.",
  denied: "Blocked in this browser: allow notifications for this site in the browser’s site settings.",
  default: "Not allowed yet in this browser.",
  unsupported: "This browser cannot show desktop notifications.",
};

/** The on/off and sound checkboxes save as they change (the form's own submit without
 * JavaScript); the permission's state is shown, and asked for only by the button's click. */
export function enhanceDesktopSettings(section, notifier = null) {
  const form = section.querySelector("form");
  const state = section.querySelector("[data-permission-state]");
  const enable = section.querySelector("[data-permission-ask]");
  const saved = section.querySelector("[data-saved]");
  const permission = () => (canNotify() ? Notification.permission : "unsupported");
  const paint = () => {
    const now = permission();
    state.dataset.permission = now;
    state.textContent = PERMISSION_WORDS[now] || PERMISSION_WORDS.default;
    enable.hidden = now !== "default";
  };
  paint();
  navigator.permissions
    ?.query({ name: "notifications" })
    .then((status) => status.addEventListener("change", paint))
    .catch(() => {});
  enable.addEventListener("click", async () => {
    await askPermission();
    paint();
  });

  const desktop = form.querySelector('input[type=checkbox][name="desktop_notifications"]');
  const sound = form.querySelector('input[type=checkbox][name="notification_sound"]');
  const submit = form.querySelector('button[type="submit"]');
  if (submit) submit.hidden = true; // each change is saved at once
  const save = async () => {
    const fields = new URLSearchParams({
      desktop_notifications: desktop.checked ? "true" : "false",
      notification_sound: sound.checked ? "true" : "false",
    });
    saved.textContent = "Saving…";
    let response;
    try {
      response = await fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-Requested-With": "XMLHttpRequest", "X-CSRFToken": csrfToken() },
        body: fields,
      });
    } catch {
      saved.textContent = "Not saved: the server could not be reached. Try again.";
      return;
    }
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      saved.textContent = `Not saved: ${answer.detail || "something went wrong."}`;
      return;
    }
    saved.textContent = "Saved.";
    notifier?.applySettings({ desktop_notifications: desktop.checked, notification_sound: sound.checked });
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save();
  });
  desktop.addEventListener("change", async () => {
    // Turning them on is a click: the moment the browser may ask.
    if (desktop.checked) {
      await askPermission();
      paint();
    }
    save();
  });
  sound.addEventListener("change", () => {
    if (sound.checked) notifier?.tone.ready(); // this click lets the tone play later
    save();
  });
  // The settings' frames from another device move the boxes too.
  notifier?.addEventListener("settings", () => {
    desktop.checked = notifier.prefs.desktop_notifications !== false;
    sound.checked = Boolean(notifier.prefs.notification_sound);
  });
}
