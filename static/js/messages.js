// Rendering of messages: user text only ever through textContent, links only for http(s).

import { avatarClass, paintAvatar } from "./avatars.js";
import { MENTION_SOURCE, TRAILING_MENTION_PUNCTUATION } from "./mentions.js";
import { icon } from "./widgets.js";

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });
const shortFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });

// Consecutive messages by one author closer together than this share one author/time header.
const GROUP_WINDOW_MS = 5 * 60 * 1000;

// A URL starts at http:// or https:// and runs to whitespace; sentence punctuation at its end
// belongs to the sentence. Mentions follow the one grammar (mentions.js).
const TOKEN_PATTERN = new RegExp(String.raw`\bhttps?:\/\/[^\s<>"]+|${MENTION_SOURCE}`, "giu");
const TRAILING_URL_PUNCTUATION = /[.,:;!?'"]+$/;

function initial(name) {
  const first = Array.from((name || "?").trim())[0] || "?";
  return first.toUpperCase();
}

/** A link element for `text` if it is an http(s) URL, else null. */
function linkFor(text) {
  let url;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  const link = document.createElement("a");
  link.href = url.href;
  link.textContent = text;
  link.rel = "noopener noreferrer";
  link.target = "_blank";
  return link;
}

/** Closing brackets at the end of a URL only belong to it when it opened them too. */
function trimUrl(text) {
  let url = text.replace(TRAILING_URL_PUNCTUATION, "");
  while (url.endsWith(")") && (url.match(/\(/g) || []).length < (url.match(/\)/g) || []).length) {
    url = url.slice(0, -1).replace(TRAILING_URL_PUNCTUATION, "");
  }
  return url;
}

/**
 * Fill `container` with `body` as text nodes, links and mention chips. Only names the server
 * resolved (`mentions`) are marked; an unknown @name stays plain text.
 */
export function renderBody(container, body, { mentions = [], me = "" } = {}) {
  const known = new Set(mentions.map((name) => name.toLowerCase()));
  const mine = me.toLowerCase();
  const nodes = [];
  let last = 0;
  for (const match of body.matchAll(TOKEN_PATTERN)) {
    const raw = match[0];
    let token = null;
    let length = raw.length;
    if (raw.startsWith("@")) {
      const name = raw.slice(1).replace(TRAILING_MENTION_PUNCTUATION, "");
      if (name && known.has(name.toLowerCase())) {
        token = document.createElement("span");
        token.className = name.toLowerCase() === mine ? "mention me" : "mention";
        token.textContent = `@${name}`;
        length = name.length + 1;
      }
    } else {
      const url = trimUrl(raw);
      token = linkFor(url);
      length = url.length;
    }
    if (!token) continue;
    if (match.index > last) nodes.push(document.createTextNode(body.slice(last, match.index)));
    nodes.push(token);
    last = match.index + length;
  }
  if (last < body.length) nodes.push(document.createTextNode(body.slice(last)));
  container.replaceChildren(...nodes);
}

// Who reads the page and what they may do: set once by main.js from the room page's data-
// attributes. The server decides every change; this only keeps buttons it would refuse away.
const viewer = {
  me: "",
  canManage: false,
  canPin: true,
  editWindowMs: 0,
  deleteWindowMs: 0,
  names: new Map(), // username → display name, for who reacted and who pinned
  canReply: false, // a member of a room that is not archived
  canRemind: false, // reminders (issue 15): a member of the room
  threadsUrl: "", // the thread page, "{root}" for the root's seq: the link without JavaScript
};

export function setViewer(options) {
  Object.assign(viewer, options);
}

export function shownName(username) {
  if (username === viewer.me) return "you";
  return viewer.names.get(username) || username;
}

/** "Alice", "Alice and Bob", "Alice, Bob and you". */
export function listNames(usernames) {
  const names = usernames.map(shownName);
  if (names.length <= 1) return names.join("");
  return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

// The state each item shows, so an update touches only what changed (the list is a live region:
// whatever is replaced is read out again).
const shownState = new WeakMap();

export function messageState(item) {
  return shownState.get(item) || null;
}

export function renderMessage(message, { me, pending = false } = {}) {
  const item = document.createElement("li");
  item.className = "message";
  fillMessage(item, message, { me, pending });
  return item;
}

function withinWindow(message, windowMs) {
  if (!windowMs) return true;
  const at = new Date(message.created_at).getTime();
  return Number.isNaN(at) || Date.now() - at < windowMs;
}

export function fillMessage(item, message, { me = viewer.me, pending = false } = {}) {
  item.replaceChildren();
  const mentions = message.mentions || [];
  const own = message.author.username === me;
  item.classList.toggle("own", own);
  item.classList.toggle("mentions-me", mentions.includes(me));
  item.classList.toggle("pending", pending);
  item.classList.toggle("deleted", Boolean(message.deleted));
  item.classList.toggle("pinned", Boolean(message.pinned));
  item.classList.remove("failed");
  item.tabIndex = -1;
  if (message.id) item.dataset.id = message.id;
  if (message.seq) {
    item.dataset.seq = message.seq;
    item.id = `m${message.seq}`;
  }
  if (Number.isInteger(message.change)) item.dataset.change = message.change;
  if (message.client_id) item.dataset.clientId = message.client_id;
  if (message.thread_root) item.dataset.threadRoot = message.thread_root;
  else delete item.dataset.threadRoot;
  item.dataset.author = message.author.username;
  item.dataset.mentions = mentions.join(" ");

  const name = message.author.display_name || message.author.username;
  const avatar = document.createElement("span");
  avatar.className = `avatar ${avatarClass(message.author.username)}`;
  avatar.setAttribute("aria-hidden", "true");
  avatar.textContent = initial(name);

  const meta = document.createElement("div");
  meta.className = "meta";
  const author = document.createElement("span");
  author.className = "author";
  author.textContent = name;
  author.title = `@${message.author.username}`;
  meta.append(author);
  if (own) {
    const you = document.createElement("span");
    you.className = "you-tag";
    you.textContent = "(you)";
    meta.append(" ", you);
  }
  const time = document.createElement("time");
  if (message.created_at) {
    time.dateTime = message.created_at;
    localiseTime(time);
  }
  meta.append(" ", time);

  const body = document.createElement("div");
  body.className = "body";
  if (message.deleted) {
    body.classList.add("tombstone");
    body.textContent = "Message deleted";
  } else {
    renderBody(body, message.body, { mentions, me });
  }
  item.append(avatar, meta, body);
  if (!message.deleted) {
    if (message.thread_root && message.in_room) item.append(renderThreadNote(message));
    item.append(renderNotes(message), renderReactions(message, me));
    if (message.seq && !pending) item.append(renderActions(message, me));
  }
  // A deleted root keeps its thread reachable.
  item.append(renderThreadSummary(message));
  if (pending) setDelivery(item, "sending…");
  shownState.set(item, message);
}

/** "(edited)", which opens the earlier versions, and who pinned it. */
function renderNotes(message) {
  const notes = document.createElement("div");
  notes.className = "message-notes";
  if (message.pinned) {
    const pin = document.createElement("span");
    pin.className = "pin-mark";
    pin.append(icon(PIN_ICON), ` Pinned by ${shownName(message.pinned.by)}`);
    notes.append(pin);
  }
  if (message.edited_at) {
    const edited = document.createElement("button");
    edited.type = "button";
    edited.className = "edited-marker";
    edited.dataset.action = "history";
    const at = new Date(message.edited_at);
    edited.title = Number.isNaN(at.getTime()) ? "Edited" : `Edited ${fullFormat.format(at)}`;
    const hint = document.createElement("span");
    hint.className = "visually-hidden";
    hint.textContent = "show the earlier versions";
    edited.append("(edited)", hint);
    notes.append(edited);
  }
  notes.hidden = !notes.childElementCount;
  return notes;
}

// A delivered message not shown yet, put into `list` in its place by seq (`items`: seq → item,
// updated here): the pending copy with its client_id confirmed in place, or a new item; pending
// and failed ones stay at the end. The room and the thread panel both keep their lists so.
export function placeDelivered(list, items, message, { me }) {
  const pending = message.client_id
    ? list.querySelector(`.message[data-client-id="${CSS.escape(message.client_id)}"]:not([data-id])`)
    : null;
  let item = pending;
  if (item) confirmMessage(item, message, { me });
  else item = renderMessage(message, { me });
  const later = Array.from(items.keys())
    .filter((seq) => seq > message.seq)
    .sort((a, b) => a - b)[0];
  const before =
    later !== undefined
      ? items.get(later)
      : Array.from(list.querySelectorAll(".message.pending, .message.failed")).find((other) => other !== item);
  if (before) list.insertBefore(item, before);
  else list.append(item);
  items.set(message.seq, item);
  return item;
}

export function threadUrl(root) {
  return viewer.threadsUrl ? viewer.threadsUrl.replace("{root}", String(root)) : `#m${root}`;
}

function pluralReplies(count) {
  return `${count} ${count === 1 ? "reply" : "replies"}`;
}

/**
 * Under a root: "N replies", the last repliers' avatars and when the last reply came; a link to
 * the thread page that thread.js turns into opening the thread beside the room.
 */
function renderThreadSummary(message) {
  const summary = document.createElement("div");
  summary.className = "thread-summary";
  const thread = message.thread;
  if (!thread || !thread.reply_count || message.thread_root) {
    summary.hidden = true;
    return summary;
  }
  const link = document.createElement("a");
  link.className = "thread-link";
  link.href = threadUrl(message.seq);
  link.dataset.action = "thread";
  link.dataset.root = message.seq;
  const faces = document.createElement("span");
  faces.className = "thread-avatars";
  faces.setAttribute("aria-hidden", "true");
  for (const person of (thread.repliers || []).slice(0, 3)) {
    const face = document.createElement("span");
    face.className = `avatar avatar-tiny ${avatarClass(person.username)}`;
    face.dataset.username = person.username;
    face.title = person.display_name || person.username;
    face.textContent = initial(person.display_name || person.username);
    faces.append(face);
  }
  const count = document.createElement("span");
  count.className = "thread-count";
  count.textContent = pluralReplies(thread.reply_count);
  link.append(faces, count);
  if (thread.last_reply_at) {
    const last = document.createElement("span");
    last.className = "thread-last";
    const time = document.createElement("time");
    time.dateTime = thread.last_reply_at;
    localiseTime(time);
    // Not today: the day too, or "09:40" would read as this morning.
    const at = new Date(thread.last_reply_at);
    if (!Number.isNaN(at.getTime()) && dayKey(at) !== dayKey(new Date())) time.textContent = shortFormat.format(at);
    last.append("Last reply ", time);
    link.append(last);
  }
  summary.append(link);
  return summary;
}

/** On a reply also sent to the room: what it answers, and the way to its thread. */
function renderThreadNote(message) {
  const note = document.createElement("p");
  note.className = "thread-note";
  const link = document.createElement("a");
  link.href = threadUrl(message.thread_root);
  link.dataset.action = "thread";
  link.dataset.root = message.thread_root;
  link.textContent = "View thread";
  note.append("replied to a thread · ", link);
  return note;
}

/** One button per emoji: the count, the reader's own pressed, who reacted on hover and focus. */
function renderReactions(message, me) {
  const list = document.createElement("ul");
  list.className = "reactions";
  list.setAttribute("aria-label", "Reactions");
  for (const group of message.reactions || []) {
    const mine = group.users.includes(me);
    const button = document.createElement("button");
    button.type = "button";
    button.className = mine ? "reaction mine" : "reaction";
    button.dataset.emoji = group.emoji;
    button.setAttribute("aria-pressed", String(mine));
    const who = listNames(group.users);
    button.dataset.who = `${who} reacted with ${group.emoji}`;
    button.setAttribute("aria-label", `${group.emoji} ${group.count}: ${who}`);
    const emoji = document.createElement("span");
    emoji.className = "reaction-emoji";
    emoji.textContent = group.emoji;
    const count = document.createElement("span");
    count.className = "reaction-count";
    count.textContent = String(group.count);
    button.append(emoji, count);
    const entry = document.createElement("li");
    entry.append(button);
    list.append(entry);
  }
  list.hidden = !list.childElementCount;
  return list;
}

const PIN_ICON = "M16 3 21 8l-2 1-3.5 3.5.5 4.5-1.5 1.5-4-4L5 19.5 4.5 19 9 14.5l-4-4L6.5 9l4.5.5L14.5 6z";
const REACT_ICON =
  "M12 2a10 10 0 1 0 10 10h-2a8 8 0 1 1-8-8zm-3.5 7a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm7 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zM7.2 14a5 5 0 0 0 9.6 0zM19 1v3h-3v2h3v3h2V6h3V4h-3V1z";
const EDIT_ICON = "M3 17.25V21h3.75L17.8 9.94l-3.75-3.75zM20.7 7.04a1 1 0 0 0 0-1.41l-2.34-2.34a1 1 0 0 0-1.41 0l-1.83 1.83 3.75 3.75z";
const DELETE_ICON = "M6 19a2 2 0 0 0 2 2h8a2 2 0 0 0 2-2V7H6zM19 4h-3.5l-1-1h-5l-1 1H5v2h14z";
const REPLY_ICON = "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2zm3 5v2h10V9zm0 4v2h7v-2z";
// reminders (issue 15): "Remind me" (static/js/reminders.js answers it)
const REMIND_ICON =
  "M12 4a9 9 0 1 0 0 18 9 9 0 0 0 0-18zm0 2a7 7 0 1 1 0 14 7 7 0 0 1 0-14zm-1 2v5.4l4.3 2.6 1-1.7-3.3-2V8zM5.3 1.9 1.9 4.7l1.3 1.5 3.4-2.8zm13.4 0-1.3 1.5 3.4 2.8 1.3-1.5z";

function actionButton(action, label, path) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "message-action";
  button.dataset.action = action;
  button.title = label;
  const text = document.createElement("span");
  text.className = "visually-hidden";
  text.textContent = label;
  button.append(icon(path), text);
  return button;
}

/** What the reader may do with the message: shown on hover, focus or a long press. */
function renderActions(message, me) {
  const own = message.author.username === me;
  const group = document.createElement("div");
  group.className = "message-actions";
  group.setAttribute("role", "group");
  group.setAttribute("aria-label", "Message actions");
  group.append(actionButton("react", "Add reaction", REACT_ICON));
  // A reply is answered in its root's thread (threads are one level deep).
  if (viewer.canReply) group.append(actionButton("reply", "Reply in thread", REPLY_ICON));
  if (own && withinWindow(message, viewer.editWindowMs)) group.append(actionButton("edit", "Edit", EDIT_ICON));
  if (viewer.canPin) {
    group.append(actionButton("pin", message.pinned ? "Unpin" : "Pin", PIN_ICON));
  }
  if (viewer.canRemind) group.append(actionButton("remind", "Remind me", REMIND_ICON)); // reminders (issue 15)
  if (viewer.canManage || (own && withinWindow(message, viewer.deleteWindowMs))) {
    group.append(actionButton("delete", "Delete", DELETE_ICON));
  }
  return group;
}

function sameReactions(a, b) {
  return JSON.stringify(a || []) === JSON.stringify(b || []);
}

/**
 * The message is now like `message` (a higher change than it shows): only the parts that differ
 * are replaced, so a reaction does not make a screen reader read the whole message again.
 */
export function updateMessage(item, message, { me = viewer.me } = {}) {
  const before = shownState.get(item);
  if (!before || message.deleted !== Boolean(before.deleted) || item.classList.contains("pending")) {
    fillMessage(item, message, { me });
    return;
  }
  item.dataset.change = message.change;
  if (JSON.stringify(message.thread || null) !== JSON.stringify(before.thread || null)) {
    item.querySelector(".thread-summary")?.replaceWith(renderThreadSummary(message));
  }
  if (message.deleted) {
    shownState.set(item, message);
    return;
  }
  const mentions = message.mentions || [];
  if (message.body !== before.body || mentions.join(" ") !== (before.mentions || []).join(" ")) {
    item.classList.toggle("mentions-me", mentions.includes(me));
    item.dataset.mentions = mentions.join(" ");
    renderBody(item.querySelector(".body"), message.body, { mentions, me });
  }
  if (message.edited_at !== before.edited_at || JSON.stringify(message.pinned) !== JSON.stringify(before.pinned)) {
    item.querySelector(".message-notes")?.replaceWith(renderNotes(message));
    item.classList.toggle("pinned", Boolean(message.pinned));
    const pin = item.querySelector('.message-actions [data-action="pin"]');
    if (pin) {
      const label = message.pinned ? "Unpin" : "Pin";
      pin.title = label;
      pin.querySelector(".visually-hidden").textContent = label;
    }
  }
  if (!sameReactions(message.reactions, before.reactions)) {
    const focused = document.activeElement?.closest?.(".reaction")?.dataset.emoji;
    const reactions = renderReactions(message, me);
    item.querySelector(".reactions")?.replaceWith(reactions);
    // Toggling by keyboard keeps the focus on the same emoji.
    if (focused) reactions.querySelector(`.reaction[data-emoji="${CSS.escape(focused)}"]`)?.focus();
  }
  shownState.set(item, message);
}

/**
 * The server's copy of a message shown as pending: it becomes that message in place. Only what
 * changed is touched, so the live region does not read the whole message out a second time.
 */
export function confirmMessage(item, message, { me }) {
  const mentions = message.mentions || [];
  item.classList.remove("pending", "failed");
  item.classList.toggle("mentions-me", mentions.includes(me));
  item.dataset.id = message.id;
  item.dataset.seq = message.seq;
  item.dataset.change = message.change;
  item.id = `m${message.seq}`;
  item.dataset.mentions = mentions.join(" ");
  item.querySelector(".delivery")?.remove();
  const time = item.querySelector("time");
  if (time && message.created_at) {
    time.dateTime = message.created_at;
    localiseTime(time);
  }
  if (mentions.length) renderBody(item.querySelector(".body"), message.body, { mentions, me });
  const shown = shownState.get(item);
  shownState.set(item, { ...message, reactions: shown?.reactions || [], pinned: null, edited_at: null });
  if (!item.querySelector(".message-actions")) item.append(renderActions(message, me));
  // Reacted to or pinned before this tab heard of it (another tab was quicker).
  updateMessage(item, message, { me });
}

/** The line under a message that is not delivered yet: "sending…", or why it failed. */
export function setDelivery(item, text, actions = []) {
  let line = item.querySelector(".delivery");
  if (!line) {
    line = document.createElement("div");
    line.className = "delivery";
    item.append(line);
  }
  const label = document.createElement("span");
  label.className = "send-state";
  label.textContent = text;
  line.replaceChildren(label, ...actions);
}

function localiseTime(time) {
  const at = new Date(time.dateTime);
  if (Number.isNaN(at.getTime())) return;
  const text = timeFormat.format(at);
  if (time.textContent !== text) time.textContent = text;
  time.title = fullFormat.format(at);
}

export function localiseTimes(root) {
  for (const time of root.querySelectorAll("time[datetime]")) {
    const at = new Date(time.dateTime);
    if (Number.isNaN(at.getTime())) continue;
    if (time.closest(".message")) time.textContent = timeFormat.format(at);
    else if (time.closest(".notification")) time.textContent = shortFormat.format(at);
    time.title = fullFormat.format(at);
  }
  for (const avatar of root.querySelectorAll("[data-avatar-for]")) paintAvatar(avatar);
}

/** What a server-rendered message shows (partials/message.html), as the payload frames carry. */
export function payloadOf(item) {
  const data = item.dataset;
  const reactions = Array.from(item.querySelectorAll(".reactions > li[data-emoji]"))
    .map((entry) => ({
      emoji: entry.dataset.emoji,
      users: (entry.dataset.users || "").split(" ").filter(Boolean),
      first: entry.dataset.first || "",
    }))
    // The server groups them by emoji; they are shown in the order each was first used.
    .sort((a, b) => new Date(a.first) - new Date(b.first))
    .map(({ emoji, users }) => ({ emoji, count: users.length, users }));
  const deleted = item.classList.contains("deleted");
  return {
    id: Number(data.id),
    seq: Number(data.seq),
    change: Number(data.change || 0),
    author: {
      username: data.author,
      display_name: item.querySelector(".author")?.textContent || data.author,
    },
    body: deleted ? "" : item.querySelector(".body")?.textContent || "",
    created_at: item.querySelector("time[datetime]")?.getAttribute("datetime") || "",
    client_id: data.clientId || "",
    mentions: (data.mentions || "").split(" ").filter(Boolean),
    edited_at: data.editedAt || null,
    deleted,
    reactions,
    pinned: data.pinnedBy ? { by: data.pinnedBy, at: data.pinnedAt || "" } : null,
    thread_root: data.threadRoot ? Number(data.threadRoot) : null,
    in_room: true,
    thread: threadOf(item),
  };
}

/** The thread summary the server rendered under a root (partials/message.html). */
function threadOf(item) {
  const summary = item.querySelector(".thread-summary[data-reply-count]");
  const count = Number(summary?.dataset.replyCount || 0);
  if (!count) return null;
  return {
    reply_count: count,
    last_reply_at: summary.dataset.lastReplyAt || null,
    repliers: Array.from(summary.querySelectorAll("[data-username]")).map((face) => ({
      username: face.dataset.username,
      display_name: face.dataset.name || face.dataset.username,
    })),
  };
}

/** Server-rendered messages become what the client renders: links, chips, reactions, actions. */
export function enhanceMessages(list, me) {
  for (const item of list.querySelectorAll(".message[data-seq]")) fillMessage(item, payloadOf(item), { me });
}

function dayKey(date) {
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, "0")}-${String(date.getDate()).padStart(2, "0")}`;
}

function dayLabel(date) {
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (dayKey(date) === dayKey(today)) return "Today";
  if (dayKey(date) === dayKey(yesterday)) return "Yesterday";
  return dayFormat.format(date);
}

function messageTime(item) {
  const time = item.querySelector("time[datetime]");
  const at = time ? new Date(time.dateTime) : new Date(Number.NaN);
  return Number.isNaN(at.getTime()) ? new Date() : at;
}

/**
 * Day separators before the first message of each local day, and `continued` on a message by the
 * same author within five minutes of the one before it. Idempotent, so it runs after any change;
 * separators already in the right place are kept, so the live region does not announce them again.
 */
export function arrange(list) {
  let previous = null;
  let previousAt = null;
  let dividers = [];
  for (const child of Array.from(list.children)) {
    if (child.classList.contains("day-divider")) {
      dividers.push(child);
      continue;
    }
    if (!child.classList.contains("message")) continue;
    const at = messageTime(child);
    const key = dayKey(at);
    const newDay = previous === null || dayKey(previousAt) !== key;
    if (newDay) {
      let divider = dividers.find((d) => d.dataset.day === key);
      if (!divider) {
        divider = document.createElement("li");
        divider.className = "day-divider";
        divider.dataset.day = key;
        divider.append(document.createElement("span"));
        list.insertBefore(divider, child);
      }
      const label = dayLabel(at);
      if (divider.firstElementChild.textContent !== label) divider.firstElementChild.textContent = label;
      if (divider.nextElementSibling !== child) list.insertBefore(divider, child);
      dividers = dividers.filter((d) => d !== divider);
    }
    for (const stray of dividers) stray.remove();
    dividers = [];
    const continued =
      !newDay &&
      previous.dataset.author === child.dataset.author &&
      !previous.classList.contains("failed") &&
      at - previousAt < GROUP_WINDOW_MS &&
      at >= previousAt;
    child.classList.toggle("continued", continued);
    previous = child;
    previousAt = at;
  }
  for (const stray of dividers) stray.remove();
  rove(list);
}

/**
 * The list is one stop in the Tab order: the message last moved to (or the newest) is tabbable,
 * arrow keys move between messages (actions.js), and Tab goes on into that message's actions.
 */
export function rove(list, to = null) {
  const items = Array.from(list.querySelectorAll(".message[data-seq]"));
  const target = to || items.find((item) => item.tabIndex === 0 && item.dataset.roving) || items[items.length - 1];
  for (const item of items) {
    const chosen = item === target;
    if (item.tabIndex !== (chosen ? 0 : -1)) item.tabIndex = chosen ? 0 : -1;
    if (chosen && to) item.dataset.roving = "1";
    else if (!chosen) delete item.dataset.roving;
  }
}
