// Rendering of messages: user text only ever through textContent, links only for http(s).

import { avatarClass, paintAvatar } from "./avatars.js";
import { MENTION_SOURCE, TRAILING_MENTION_PUNCTUATION } from "./mentions.js";

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

export function renderMessage(message, { me, pending = false } = {}) {
  const item = document.createElement("li");
  item.className = "message";
  fillMessage(item, message, { me, pending });
  return item;
}

export function fillMessage(item, message, { me, pending = false }) {
  item.replaceChildren();
  const mentions = message.mentions || [];
  const own = message.author.username === me;
  item.classList.toggle("own", own);
  item.classList.toggle("mentions-me", mentions.includes(me));
  item.classList.toggle("pending", pending);
  item.classList.remove("failed");
  if (message.id) item.dataset.id = message.id;
  if (message.seq) {
    item.dataset.seq = message.seq;
    item.id = `m${message.seq}`;
  }
  if (message.client_id) item.dataset.clientId = message.client_id;
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
  renderBody(body, message.body, { mentions, me });
  item.append(avatar, meta, body);
  if (pending) setDelivery(item, "sending…");
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
  item.id = `m${message.seq}`;
  item.dataset.mentions = mentions.join(" ");
  item.querySelector(".delivery")?.remove();
  const time = item.querySelector("time");
  if (time && message.created_at) {
    time.dateTime = message.created_at;
    localiseTime(time);
  }
  if (mentions.length) renderBody(item.querySelector(".body"), message.body, { mentions, me });
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

/** Server-rendered messages get what the client renders: links, mention chips, local times. */
export function enhanceMessages(list, me) {
  for (const item of list.querySelectorAll(".message")) {
    const body = item.querySelector(".body");
    if (!body) continue;
    const mentions = (item.dataset.mentions || "").split(" ").filter(Boolean);
    renderBody(body, body.textContent, { mentions, me });
  }
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
}
