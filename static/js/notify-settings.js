// Notification control on the page: the settings page's forms, the room's notification menu and
// the header's do-not-disturb indicator save in place (they post without JavaScript too), and
// every device follows: `room.settings` and `notify.settings` frames, and after a reconnect the
// server's state, repaint all of them. A timed mute or DND ends here by a timer at its end, as
// it ends on the server by the clock passing it (no frame comes then).

import { untilLabel } from "./presence.js";

const SETTINGS_URL = "/notifications/settings/";
// setTimeout's longest delay; an end further off is picked up by a later page load.
const LONGEST_TIMER_MS = 2 ** 31 - 1;
const LEVEL_NAMES = { all: "All messages", mentions: "Mentions", nothing: "Nothing" };

function csrfToken() {
  return document.querySelector('input[name="csrfmiddlewaretoken"]')?.value || "";
}

function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch {
    return "";
  }
}

/** "Until I unmute" is stored as the last day of year 9999. */
export function isForever(iso) {
  return Boolean(iso) && new Date(iso).getUTCFullYear() >= 9999;
}

/** "until 14:00", "until Fri 09:00", "until you unmute"; "" for none. */
export function endLabel(iso, now = Date.now()) {
  if (!iso) return "";
  return isForever(iso) ? "until you unmute" : untilLabel(iso, now);
}

/** Whether an end (ISO or null) is still ahead at `now`. */
export function lasts(iso, now = Date.now()) {
  return Boolean(iso) && Date.parse(iso) > now;
}

export class NotifySettings extends EventTarget {
  constructor({ socket, root = document, now = () => Date.now() }) {
    super();
    this.socket = socket;
    this.root = root;
    this.now = now;
    this.timers = new Map(); // "room:12" / "dnd" → timer ending it
    this.indicator = root.getElementById("dnd-indicator");
    this.menu = root.getElementById("notify-menu");
    this.dndSection = root.getElementById("dnd-settings");

    for (const form of root.querySelectorAll("form.notify-form")) this.enhance(form);
    this.enhanceLevelForm();
    this.enhanceChoosers();

    // What the page was rendered with: timers for what ends while it is open.
    const dnd = this.indicator?.dataset.dndUntil || null;
    this.dnd = { dnd_until: dnd };
    this.schedule(null, dnd);
    this.paintUser({ dnd_until: dnd });
    for (const link of root.querySelectorAll("#sidebar a[data-room-id][data-muted-until]")) {
      this.schedule(Number(link.dataset.roomId), link.dataset.mutedUntil);
    }
    if (this.menu) this.schedule(Number(this.menu.dataset.roomId), this.menu.dataset.mutedUntil || null);
    this.paintTimes();

    socket.on("room.settings", (frame) => this.applyRoom(frame));
    socket.on("notify.settings", (frame) => this.applyUser(frame));
    let connectedBefore = false;
    socket.addEventListener("open", () => {
      // A frame sent while this tab was offline is lost: the server's state is the truth.
      if (connectedBefore) this.refresh();
      connectedBefore = true;
    });
  }

  // --- forms -----------------------------------------------------------------------------------

  enhance(form) {
    const zone = form.querySelector('input[name="tz"]');
    const offset = form.querySelector('input[name="tz_offset"]');
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const submitter = event.submitter;
      const data = new FormData(form);
      // The button pressed says the choice (a mute preset, "off"): it wins over a radio's.
      if (submitter?.name) data.set(submitter.name, submitter.value);
      if (zone) data.set("tz", browserZone());
      if (offset) {
        const at = form.querySelector('input[name="at"]')?.value;
        const when = at ? new Date(at) : new Date();
        data.set("tz_offset", String((Number.isNaN(when.getTime()) ? new Date() : when).getTimezoneOffset()));
      }
      await this.post(form, data);
    });
  }

  async post(form, data) {
    const status = statusOf(form);
    status.textContent = "";
    status.classList.remove("error");
    let response;
    let answer = {};
    try {
      response = await fetch(form.action, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
      });
      answer = await response.json().catch(() => ({}));
    } catch {
      return this.fail(status, "Not saved: Parley could not be reached. Try again.");
    }
    if (!response.ok) return this.fail(status, `Not saved: ${answer.detail || "the server refused it."}`);
    if (form.dataset.notifyForm === "room") this.applyRoom(answer);
    else this.applyUser(answer);
    status.textContent = "Saved.";
    const menu = form.closest("details.notify-menu");
    // A mute chosen in the menu closes it, as a menu does; a level change leaves it open.
    if (menu && form.classList.contains("notify-mute-form")) menu.open = false;
  }

  fail(status, text) {
    status.textContent = text;
    status.classList.add("error");
  }

  /** The room menu's level saves as soon as it is chosen. */
  enhanceLevelForm() {
    for (const form of this.root.querySelectorAll("form.notify-level-form")) {
      const save = form.querySelector(".notify-save");
      if (save) save.hidden = true;
      form.addEventListener("change", () => form.requestSubmit());
    }
  }

  /** A date-and-time field only when "a time of your choice" is chosen. */
  enhanceChoosers() {
    for (const select of this.root.querySelectorAll("select.notify-mute-choice")) {
      const at = select.form.querySelector(".notify-at");
      const show = () => {
        if (at) at.hidden = select.value !== "custom";
      };
      select.addEventListener("change", () => {
        show();
        if (select.value === "custom") at?.querySelector("input")?.focus();
      });
      show();
    }
    const dndForm = this.root.querySelector("form.dnd-form");
    if (dndForm) {
      const at = dndForm.querySelector(".notify-at");
      const show = () => {
        const custom = dndForm.querySelector('input[name="until"]:checked')?.value === "custom";
        if (at) at.hidden = !custom;
        const input = at?.querySelector("input");
        if (input) input.required = custom;
      };
      dndForm.addEventListener("change", show);
      show();
    }
  }

  // --- state -----------------------------------------------------------------------------------

  /** A room's level and mute (a frame, or an endpoint's answer). */
  applyRoom(settings) {
    const roomId = Number(settings.room);
    if (!roomId) return;
    const muted = lasts(settings.muted_until, this.now()) ? settings.muted_until : null;
    const state = { room: roomId, notify_level: settings.notify_level, muted_until: muted };
    this.schedule(roomId, muted);
    this.paintRoom(state);
    this.dispatchEvent(new CustomEvent("room", { detail: state }));
  }

  /** The person's own preferences (a frame, or an endpoint's answer). */
  applyUser(settings) {
    const dnd = lasts(settings.dnd_until, this.now()) ? settings.dnd_until : null;
    this.dnd = { ...settings, dnd_until: dnd };
    this.schedule(null, dnd);
    this.paintUser(this.dnd);
    this.dispatchEvent(new CustomEvent("user", { detail: this.dnd }));
  }

  /** The server's state now: after a reconnect, whatever changed meanwhile. */
  async refresh() {
    let answer;
    try {
      const response = await fetch(SETTINGS_URL, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) return;
      answer = await response.json();
    } catch {
      return;
    }
    this.applyUser(answer);
    const listed = new Set(Object.keys(answer.rooms || {}).map(Number));
    for (const [id, room] of Object.entries(answer.rooms || {})) this.applyRoom({ room: Number(id), ...room });
    // A room the answer does not list has the defaults.
    for (const id of this.shownRooms()) if (!listed.has(id)) this.applyRoom({ room: id, notify_level: "mentions", muted_until: null });
  }

  shownRooms() {
    const ids = new Set();
    for (const link of this.root.querySelectorAll("#sidebar a[data-room-id]")) ids.add(Number(link.dataset.roomId));
    for (const row of this.root.querySelectorAll(".notify-room[data-room-id]")) ids.add(Number(row.dataset.roomId));
    if (this.menu) ids.add(Number(this.menu.dataset.roomId));
    ids.delete(0);
    return ids;
  }

  /** End a room's mute (roomId) or the DND (null) here when its time comes. */
  schedule(roomId, iso) {
    const key = roomId === null ? "dnd" : `room:${roomId}`;
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
    if (!iso || isForever(iso)) return;
    const delay = Date.parse(iso) - this.now();
    if (!(delay > 0) || delay > LONGEST_TIMER_MS) return;
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        if (roomId === null) this.applyUser({ ...this.dnd, dnd_until: null });
        else this.applyRoom({ room: roomId, notify_level: this.levelOf(roomId), muted_until: null });
      }, delay + 50),
    );
  }

  levelOf(roomId) {
    const row = this.root.querySelector(`.notify-room[data-room-id="${roomId}"]`);
    if (row) return row.dataset.notifyLevel;
    if (this.menu && Number(this.menu.dataset.roomId) === roomId) return this.menu.dataset.notifyLevel;
    return "mentions";
  }

  // --- painting --------------------------------------------------------------------------------

  paintRoom({ room, notify_level: level, muted_until: muted }) {
    const label = endLabel(muted, this.now());
    const link = this.root.querySelector(`#sidebar a[data-room-id="${room}"]`);
    if (link) {
      link.classList.toggle("muted-room", Boolean(muted));
      if (muted) link.dataset.mutedUntil = muted;
      else delete link.dataset.mutedUntil;
    }
    if (this.menu && Number(this.menu.dataset.roomId) === room) {
      const menu = this.menu;
      menu.dataset.notifyLevel = level;
      menu.dataset.mutedUntil = muted || "";
      menu.classList.toggle("is-muted", Boolean(muted));
      menu.querySelector(".notify-state").textContent = muted ? "Muted" : LEVEL_NAMES[level] || "Mentions";
      for (const radio of menu.querySelectorAll('input[name="notify_level"]')) radio.checked = radio.value === level;
      const line = menu.querySelector(".notify-muted-line");
      if (line) line.hidden = !muted;
      setTime(menu.querySelector(".notify-muted-until"), muted, label);
    }
    const row = this.root.querySelector(`.notify-room[data-room-id="${room}"]`);
    if (row) {
      row.dataset.notifyLevel = level;
      row.dataset.mutedUntil = muted || "";
      const levelSelect = row.querySelector('select[name="notify_level"]');
      if (levelSelect) levelSelect.value = level;
      const text = row.querySelector(".notify-muted-text");
      if (text) text.hidden = !muted;
      setTime(row.querySelector(".notify-muted-until"), muted, label);
      const choice = row.querySelector("select.notify-mute-choice");
      if (choice) {
        choice.value = "";
        choice.options[0].textContent = muted ? "Keep as it is" : "Not muted";
        const off = choice.querySelector('option[value="off"]');
        if (off) off.hidden = off.disabled = !muted;
        choice.dispatchEvent(new Event("change"));
      }
    }
  }

  paintUser({ dnd_until: dnd, desktop_notifications: desktop, notification_sound: sound }) {
    const label = endLabel(dnd, this.now());
    if (this.indicator) {
      this.indicator.hidden = !dnd;
      this.indicator.dataset.dndUntil = dnd || "";
      setTime(this.indicator.querySelector(".dnd-until"), dnd, label);
    }
    if (this.dndSection) {
      this.dndSection.dataset.dndUntil = dnd || "";
      const off = this.dndSection.querySelector(".dnd-off");
      const on = this.dndSection.querySelector(".dnd-on");
      if (off) off.hidden = Boolean(dnd);
      if (on) on.hidden = !dnd;
      setTime(this.dndSection.querySelector(".dnd-until"), dnd, label);
      const end = this.dndSection.querySelector(".dnd-end");
      if (end) end.hidden = !dnd;
    }
    const desktopBox = this.root.getElementById("desktop-notifications");
    if (desktopBox && typeof desktop === "boolean") desktopBox.checked = desktop;
    const soundBox = this.root.getElementById("notification-sound");
    if (soundBox && typeof sound === "boolean") soundBox.checked = sound;
  }

  /** The server wrote its times in its own zone; the browser's are the person's. */
  paintTimes() {
    const selector = ".notify-menu time[datetime], .notify-room time[datetime], .dnd-indicator time[datetime], #dnd-settings time[datetime]";
    for (const time of this.root.querySelectorAll(selector)) {
      if (time.dateTime) time.textContent = endLabel(time.dateTime, this.now());
    }
  }
}

function setTime(element, iso, label) {
  if (!element) return;
  element.dateTime = iso || "";
  element.textContent = label;
}

/** The line under a form that says how saving went. */
function statusOf(form) {
  let status = form.querySelector(".notify-status");
  if (!status) {
    status = document.createElement("p");
    status.className = "notify-status";
    status.setAttribute("role", "status");
    form.append(status);
  }
  return status;
}
