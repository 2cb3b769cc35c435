// Reminders: the message menu's "Remind me" (in 20 minutes, in 1 hour, tomorrow at 9:00 in the
// browser's time zone, or a chosen time), a confirmation of when, and at that time the server's
// `notification.new` of kind `reminder` (the badge and the notifications page count it like any
// other; desktop.js shows its desktop notification, in a visible tab too). The permission for
// desktop notifications is asked on the click that sets a reminder, never on page load. On
// /reminders/ the Cancel forms cancel in place. Without JavaScript the page and its forms do all
// of it but the menu.
//
// The times go to the server as ISO 8601 with their offset (toISOString, UTC): what "9:00" means
// is decided here, in the reader's own time zone.

import { askPermission } from "./desktop.js";

const TOAST_MS = 6000;
const MENU_ID = "remind-menu";
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const dayAndTime = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", hour: "numeric", minute: "2-digit" });

/** The choices of the menu, as [label, () => Date] from `now`. */
export function presetTimes(now = new Date()) {
  const tomorrow = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1, 9, 0, 0, 0);
  return [
    ["In 20 minutes", new Date(now.getTime() + 20 * 60 * 1000)],
    ["In 1 hour", new Date(now.getTime() + 60 * 60 * 1000)],
    ["Tomorrow at 9:00", tomorrow],
  ];
}

/** "at 14:20", "tomorrow at 9:00", "on Fri 4 Dec, 9:00": when, in words, from `now`. */
export function whenInWords(at, now = new Date()) {
  const day = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((day(at) - day(now)) / (24 * 3600 * 1000));
  if (days === 0) return `at ${timeOnly.format(at)}`;
  if (days === 1) return `tomorrow at ${timeOnly.format(at)}`;
  return `on ${dayAndTime.format(at)}`;
}

/** A datetime-local input's value for `date`, in local time (to the second). */
function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

function csrfToken() {
  const field = document.querySelector('input[name="csrfmiddlewaretoken"]');
  if (field) return field.value;
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  return cookie ? decodeURIComponent(cookie.slice("csrftoken=".length)) : "";
}

async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, answer };
}

/** A short sentence at the bottom of the page, read out by screen readers. */
class Toast {
  constructor() {
    this.box = null;
    this.timer = null;
  }

  say(text, { error = false } = {}) {
    if (!this.box) {
      this.box = document.createElement("p");
      this.box.id = "reminder-toast";
      this.box.className = "reminder-toast";
      this.box.setAttribute("role", "status");
      document.body.append(this.box);
    }
    clearTimeout(this.timer);
    this.box.classList.toggle("error", error);
    this.box.textContent = text;
    this.timer = setTimeout(() => {
      this.box.textContent = "";
    }, TOAST_MS);
  }
}

export class Reminders {
  constructor({ socket, roomId = null, url = "/reminders/" }) {
    this.socket = socket;
    this.roomId = roomId;
    this.url = url;
    this.toast = new Toast();
    this.menu = null;
    this.opener = null;
    this.seq = null;

    document.addEventListener("click", (event) => {
      const button = event.target.closest?.('.message[data-seq] [data-action="remind"]');
      if (button) this.open(button);
    });
    socket.on("notification.new", (frame) => this.notified(frame.notification || {}));
    for (const form of document.querySelectorAll(".reminders-page .reminder-cancel")) {
      form.addEventListener("submit", (event) => this.cancel(event, form));
    }
  }

  // --- the menu ------------------------------------------------------------------------------

  open(button) {
    const item = button.closest(".message[data-seq]");
    if (!item || this.roomId === null) return;
    this.close();
    this.opener = button;
    this.seq = Number(item.dataset.seq);
    this.item = item;
    item.classList.add("actions-held");
    const menu = this.build();
    document.body.append(menu);
    this.place(menu, button);
    menu.querySelector("button").focus();
  }

  build() {
    const menu = document.createElement("div");
    menu.id = MENU_ID;
    menu.className = "remind-menu";
    menu.setAttribute("role", "dialog");
    menu.setAttribute("aria-label", "Remind me about this message");
    const title = document.createElement("p");
    title.className = "remind-menu-title";
    title.textContent = "Remind me";
    menu.append(title);
    for (const [label, at] of presetTimes()) {
      const choice = document.createElement("button");
      choice.type = "button";
      choice.className = "remind-choice";
      choice.textContent = label;
      choice.addEventListener("click", () => this.set(at));
      menu.append(choice);
    }
    const custom = document.createElement("form");
    custom.className = "remind-custom";
    const label = document.createElement("label");
    label.htmlFor = "remind-at";
    label.textContent = "At a time of your choice";
    const input = document.createElement("input");
    input.type = "datetime-local";
    input.id = "remind-at";
    input.name = "remind_at";
    input.step = "1";
    input.required = true;
    const now = new Date();
    input.min = localInputValue(now);
    input.value = localInputValue(new Date(Math.ceil((now.getTime() + 3600 * 1000) / 60000) * 60000));
    const submit = document.createElement("button");
    submit.type = "submit";
    submit.className = "secondary";
    submit.textContent = "Set";
    custom.append(label, input, submit);
    custom.addEventListener("submit", (event) => {
      event.preventDefault();
      const at = new Date(input.value); // a datetime-local value is the browser's local time
      if (Number.isNaN(at.getTime())) {
        this.toast.say("Choose a date and time.", { error: true });
        return;
      }
      this.set(at);
    });
    menu.append(custom);
    menu.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        this.close({ focus: true });
      }
    });
    menu.addEventListener("focusout", (event) => {
      if (event.relatedTarget && !menu.contains(event.relatedTarget)) this.close();
    });
    this.outside = (event) => {
      if (!menu.contains(event.target) && event.target !== this.opener && !this.opener?.contains(event.target)) this.close();
    };
    document.addEventListener("pointerdown", this.outside);
    this.menu = menu;
    return menu;
  }

  place(menu, button) {
    const box = button.getBoundingClientRect();
    const width = menu.offsetWidth;
    const height = menu.offsetHeight;
    const left = Math.max(8, Math.min(window.innerWidth - width - 8, box.right - width));
    const below = box.bottom + 4;
    const top = below + height > window.innerHeight - 8 ? Math.max(8, box.top - height - 4) : below;
    menu.style.left = `${left + window.scrollX}px`;
    menu.style.top = `${top + window.scrollY}px`;
  }

  close({ focus = false } = {}) {
    if (!this.menu) return;
    document.removeEventListener("pointerdown", this.outside);
    this.menu.remove();
    this.menu = null;
    this.item?.classList.remove("actions-held");
    if (focus && this.opener?.isConnected) this.opener.focus();
  }

  // --- setting -------------------------------------------------------------------------------

  async set(at) {
    const seq = this.seq;
    // Asked now, in the click that sets a reminder (a browser shows the prompt only for a
    // gesture), and only while undecided: never on page load, never again after an answer.
    askPermission();
    this.close({ focus: true });
    let result;
    try {
      result = await postJson(this.url, { room: this.roomId, seq, remind_at: at.toISOString() });
    } catch {
      this.toast.say("No reminder set: the server could not be reached. Try again.", { error: true });
      return;
    }
    if (!result.ok) {
      this.toast.say(`No reminder set: ${result.answer.detail || "something went wrong."}`, { error: true });
      return;
    }
    const when = new Date(result.answer.reminder?.remind_at || at);
    this.toast.say(`I’ll remind you ${whenInWords(when)}.`);
  }

  // --- at the time ---------------------------------------------------------------------------

  notified(notification) {
    if (notification.kind === "reminder") this.delivered(notification);
  }

  // --- the reminders page --------------------------------------------------------------------

  /** On /reminders/: the pending entries of this message that were due go to "Delivered". */
  delivered(notification) {
    const pending = document.getElementById("reminder-list");
    const message = notification.message || {};
    if (!pending) return;
    const due = Date.now() + 1000;
    const entries = Array.from(pending.querySelectorAll(".reminder")).filter(
      (entry) =>
        Number(entry.dataset.room) === message.room &&
        Number(entry.dataset.seq) === message.seq &&
        new Date(entry.dataset.remindAt).getTime() <= due,
    );
    if (!entries.length) return;
    let list = document.querySelector(".reminders-delivered");
    if (!list) {
      const title = document.createElement("h2");
      title.id = "delivered-title";
      title.textContent = "Delivered recently";
      list = document.createElement("ul");
      list.className = "reminders reminders-delivered";
      list.setAttribute("aria-labelledby", "delivered-title");
      pending.after(title, list);
    }
    for (const entry of entries) {
      entry.querySelector(".reminder-cancel")?.remove();
      const when = entry.querySelector(".reminder-when");
      if (when) {
        when.dateTime = notification.created_at;
        when.textContent = timeOnly.format(new Date(notification.created_at));
        when.before("Delivered ");
      }
      list.prepend(entry);
    }
    if (!pending.querySelector(".reminder")) {
      const empty = document.createElement("li");
      empty.className = "muted empty-state";
      empty.textContent = "No reminders pending.";
      pending.append(empty);
    }
  }

  async cancel(event, form) {
    event.preventDefault();
    const entry = form.closest(".reminder");
    let result;
    try {
      result = await postJson(form.action, {});
    } catch {
      form.submit(); // the form's own way
      return;
    }
    if (!result.ok && result.status !== 404) {
      this.toast.say(`Not cancelled: ${result.answer.detail || "something went wrong."}`, { error: true });
      return;
    }
    const list = entry?.parentElement;
    entry?.remove();
    if (list && !list.querySelector(".reminder")) {
      const empty = document.createElement("li");
      empty.className = "muted empty-state";
      empty.textContent = "No reminders pending.";
      list.append(empty);
    }
    this.toast.say("Reminder cancelled.");
  }
}
