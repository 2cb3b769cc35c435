// Scheduled messages (issue 15): the composer's "Send later" menu (in 1 hour, tomorrow 9:00, next
// Monday 9:00, a chosen time, all in the browser's time zone), the room's "N scheduled" line, and
// the /scheduled/ page's times in the browser's zone. Scheduling is an HTTP request (JSON), not a
// socket frame: the message is stored now and sent by the worker at its time.

const JSON_HEADERS = { Accept: "application/json" };

/** The browser's IANA time zone ("Europe/Paris"), which the server reads a local time in. */
export function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch {
    return "";
  }
}

/** The preset's time, local to the browser, from `now`. */
export function presetTime(preset, now = new Date()) {
  if (preset === "hour") return new Date(now.getTime() + 60 * 60 * 1000);
  const at = new Date(now.getFullYear(), now.getMonth(), now.getDate(), 9, 0, 0, 0);
  if (preset === "tomorrow") at.setDate(at.getDate() + 1);
  // Next Monday: a Monday's is the one a week later.
  else if (preset === "monday") at.setDate(at.getDate() + ((8 - at.getDay()) % 7 || 7));
  else return null;
  return at;
}

/** "Tue 09:00" within the week ahead, else "Tue 3 Mar, 09:00". */
export function shortWhen(at, now = new Date()) {
  const soon = at.getTime() - now.getTime() < 6 * 24 * 60 * 60 * 1000;
  const format = new Intl.DateTimeFormat(undefined, {
    weekday: "short",
    ...(soon ? {} : { day: "numeric", month: "short" }),
    hour: "2-digit",
    minute: "2-digit",
  });
  return format.format(at);
}

/** A datetime-local input's value ("2026-12-03T09:00") for a Date, in the browser's zone. */
export function localInputValue(at) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
}

function csrfToken() {
  return document.querySelector('input[name="csrfmiddlewaretoken"]')?.value || "";
}

async function postJson(url, fields) {
  const data = new FormData();
  for (const [name, value] of Object.entries(fields)) if (value !== null && value !== undefined) data.append(name, value);
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      body: data,
      headers: { ...JSON_HEADERS, "X-CSRFToken": csrfToken() },
      credentials: "same-origin",
    });
  } catch {
    return { ok: false, answer: { code: "network", detail: "Could not reach the server. Try again." } };
  }
  const answer = await response.json().catch(() => ({ code: "server_error", detail: "Something went wrong. Try again." }));
  return { ok: response.ok, answer };
}

/** The room's "N scheduled" link: counted by the server, kept current by this page. */
class RoomIndicator {
  constructor(link) {
    this.link = link;
    this.pending = Number(link.dataset.pending) || 0;
    this.failed = Number(link.dataset.failed) || 0;
    this.lastSeq = Number(link.dataset.lastSeq) || 0;
    this.seen = new Set();
  }

  set({ pending, failed }) {
    this.pending = Math.max(0, pending);
    this.failed = Math.max(0, failed);
    this.paint();
  }

  paint() {
    this.link.dataset.pending = String(this.pending);
    this.link.dataset.failed = String(this.failed);
    this.link.hidden = !this.pending && !this.failed;
    this.link.classList.toggle("has-failed", this.failed > 0);
    this.link.querySelector(".scheduled-count").textContent = `${this.pending} scheduled`;
    let failed = this.link.querySelector(".scheduled-failed");
    if (this.failed && !failed) {
      failed = document.createElement("span");
      failed.className = "scheduled-failed";
      this.link.append(" ", failed);
    }
    if (failed) failed.textContent = this.failed ? `${this.failed} not sent` : "";
  }

  /** One of mine sent by the worker since the page was rendered: one fewer waiting. */
  noticeMessage(message, me) {
    if (!message?.client_id?.startsWith("scheduled-") || message.author?.username !== me) return;
    if (message.seq <= this.lastSeq || this.seen.has(message.id)) return;
    this.seen.add(message.id);
    this.set({ pending: this.pending - 1, failed: this.failed });
  }
}

let roomIndicator = null;

/** The composer's "Send later": in 1 hour, tomorrow 9:00, next Monday 9:00, or a chosen time. */
export class SendLater {
  /** A copy of the page's menu (templates/scheduled/send_later.html) beside the composer's Send. */
  static attach(composer) {
    const template = document.getElementById("send-later-template");
    const box = composer.form.querySelector(".composer-box");
    if (!template || !box) return null;
    const menu = template.content.firstElementChild.cloneNode(true);
    box.append(menu);
    return new SendLater(composer, menu, template.dataset);
  }

  constructor(composer, menu, { url, room, listUrl }) {
    this.composer = composer;
    this.menu = menu;
    this.url = url;
    this.room = room;
    this.listUrl = listUrl;
    this.custom = menu.querySelector(".send-later-at");
    this.submitButton = menu.querySelector(".send-later-submit");
    // What happened, under this composer: the room's line beside its count, a line of its own in
    // the thread panel's reply box.
    this.status = composer.form.querySelector(".send-later-status") || this.addStatus(composer.form);
    const link = document.getElementById("scheduled-indicator");
    if (link && !roomIndicator) roomIndicator = new RoomIndicator(link);
    this.indicator = roomIndicator;
    // The room's composer counts what the worker sends (the thread's sees the same room).
    if (this.indicator && !composer.threadRoot) {
      composer.view.addEventListener("message", (event) => this.indicator.noticeMessage(event.detail.message, composer.me));
    }

    this.submitButton.addEventListener("click", () => this.scheduleCustom());
    this.custom.addEventListener("keydown", (event) => {
      // Enter here would submit the form, which sends now.
      if (event.key === "Enter") {
        event.preventDefault();
        this.scheduleCustom();
      }
    });
    for (const button of menu.querySelectorAll(".send-later-preset")) {
      button.addEventListener("click", () => this.schedule(presetTime(button.dataset.preset)));
    }
    menu.addEventListener("toggle", () => {
      if (!menu.open) return;
      const now = new Date();
      for (const button of menu.querySelectorAll(".send-later-preset")) {
        const at = presetTime(button.dataset.preset, now);
        button.querySelector(".send-later-when").textContent = shortWhen(at, now);
        button.title = at.toLocaleString();
      }
      if (!this.custom.value) this.custom.value = localInputValue(presetTime("hour", now));
      this.custom.min = localInputValue(now);
    });
    document.addEventListener("click", (event) => {
      if (menu.open && !menu.contains(event.target)) menu.open = false;
    });
    menu.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && menu.open) {
        event.stopPropagation();
        menu.open = false;
        menu.querySelector("summary").focus();
      }
    });
  }

  scheduleCustom() {
    const at = this.custom.value ? new Date(this.custom.value) : null;
    if (!at || Number.isNaN(at.getTime())) {
      this.say("Choose a date and time.", { alert: true });
      this.custom.focus();
      return;
    }
    this.schedule(at);
  }

  addStatus(form) {
    const status = document.createElement("p");
    status.className = "send-later-status";
    status.setAttribute("role", "status");
    form.append(status);
    return status;
  }

  say(text, { link = null, alert = false } = {}) {
    this.status.replaceChildren(text);
    this.status.setAttribute("role", alert ? "alert" : "status");
    this.status.classList.toggle("error", alert);
    if (link) {
      const a = document.createElement("a");
      a.href = link;
      a.textContent = "see Scheduled";
      this.status.append(" — ", a);
    }
  }

  async schedule(at) {
    const composer = this.composer;
    const body = composer.input.value.trim();
    if (!body) {
      this.say("Write the message first, then choose when to send it.", { alert: true });
      composer.input.focus();
      return;
    }
    if (this.busy || composer.status) return;
    this.busy = true;
    const threadRoot = composer.threadRoot;
    const { ok, answer } = await postJson(this.url, {
      room: this.room,
      body,
      send_at: at.toISOString(),
      tz: browserZone(),
      thread_root: threadRoot || null,
      also_in_room: threadRoot && composer.alsoInRoom?.checked ? "1" : null,
    });
    this.busy = false;
    if (!ok) {
      this.say(`Not scheduled: ${answer.detail}`, { alert: true });
      return;
    }
    // Like a sent message: the box is cleared and its draft forgotten.
    if (composer.input.value.trim() === body) composer.input.value = "";
    if (composer.alsoInRoom) composer.alsoInRoom.checked = false;
    composer.typing?.stop();
    composer.saveDraft();
    composer.grow();
    this.menu.open = false;
    this.custom.value = "";
    if (this.indicator && answer.room_counts) this.indicator.set(answer.room_counts);
    this.say(`Scheduled for ${shortWhen(new Date(answer.scheduled.send_at))}`, { link: this.listUrl });
    composer.input.focus();
  }
}

// --- the /scheduled/ page ----------------------------------------------------------------------

/** Times in the browser's zone, and the zone sent with every form, so "09:00" means 09:00 here. */
export function enhanceScheduledPage(root) {
  const page = root.getElementById?.("scheduled-page");
  if (!page) return;
  const zone = browserZone();
  for (const field of page.querySelectorAll('input[name="tz"]')) field.value = zone;
  for (const hint of page.querySelectorAll(".send-later-zone")) hint.hidden = true;
  for (const input of page.querySelectorAll('input[type="datetime-local"][data-at]')) {
    const at = new Date(input.dataset.at);
    if (!Number.isNaN(at.getTime())) input.value = localInputValue(at);
  }
  const format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  for (const time of page.querySelectorAll("time[datetime]")) {
    const at = new Date(time.dateTime);
    if (!Number.isNaN(at.getTime())) time.textContent = format.format(at);
  }
  for (const form of page.querySelectorAll("form.scheduled-cancel")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const item = form.closest(".scheduled-item");
      const { ok, answer } = await postJson(form.action, {});
      if (ok) {
        const list = item.closest(".scheduled-list");
        item.remove();
        // The section's heading counts what is left in it.
        const count = list && document.getElementById(list.getAttribute("aria-labelledby"))?.querySelector(".count");
        if (count) count.textContent = String(list.querySelectorAll(".scheduled-item").length);
        return;
      }
      showError(item, answer.detail);
    });
  }
}

function showError(item, detail) {
  let error = item.querySelector(".scheduled-error");
  if (!error) {
    error = document.createElement("p");
    error.className = "scheduled-error field-error";
    error.setAttribute("role", "alert");
    item.append(error);
  }
  error.textContent = detail;
}

enhanceScheduledPage(document);
