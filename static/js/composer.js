// The message box: Enter sends, Shift+Enter is a new line, ↑ in the empty box edits one's last
// message, the box grows with the text, the draft survives a reload. What is sent goes through the outbox (outbox.js), which keeps it until the
// server has it; here it shows as pending, then as delivered or refused. The thread panel's reply
// box is the same composer aimed at a thread (`threadRoot`): its own draft, its own queue.

import { forgetOutbox } from "./outbox.js";
import { setDelivery } from "./messages.js";
import { parseMentions } from "./mentions.js";
import { SendLater } from "./schedule.js"; // issue 15: "Send later"
import { TypingReporter } from "./typing.js";

const MAX_HEIGHT_PX = 192;
const DRAFT_PREFIX = "parley.draft.";
const SENDING = "sending…";
const WAITING = "waiting for the connection…";
// Only a body with @room/@here, or naming more people than the server's NOTIFY_WARNING_PEOPLE
// (15 by default) could, is worth asking about: the server's answer says whether to warn.
const ASK_ABOVE_NAMES = 15;
const GROUP_NAMES = ["room", "here"];
const COUNT_URL = "/notifications/notify-count/";

function csrfToken() {
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  return cookie ? decodeURIComponent(cookie.slice("csrftoken=".length)) : "";
}

/** How many people `body` would notify in the room, the server's exact number (or null). */
export async function notifyCount(roomId, body) {
  const response = await fetch(COUNT_URL, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify({ room: roomId, body }),
  });
  if (!response.ok) return null;
  return response.json();
}

export function draftKey(me, roomId, threadRoot = null) {
  return `${DRAFT_PREFIX}${me}.${roomId}${threadRoot ? `.t${threadRoot}` : ""}`;
}

/** Drafts and unsent messages are per person; logging out forgets this person's. */
export function forgetDrafts(me) {
  try {
    for (const key of Object.keys(localStorage)) {
      // Only this person's: the rest of the key is a room id, or a room's thread (usernames may contain dots).
      if (key.startsWith(`${DRAFT_PREFIX}${me}.`) && /^\d+(\.t\d+)?$/.test(key.slice(`${DRAFT_PREFIX}${me}.`.length))) {
        localStorage.removeItem(key);
      }
    }
  } catch {
    // Storage may be disabled; there is nothing to forget then.
  }
  forgetOutbox(me);
}

/** A message refused while its room (or thread) was not on screen goes back into its draft. */
export function keepAsDraft(me, roomId, body, threadRoot = null) {
  try {
    const key = draftKey(me, roomId, threadRoot);
    const draft = localStorage.getItem(key);
    localStorage.setItem(key, draft ? `${draft}\n${body}` : body);
  } catch {
    // Storage full or disabled: nothing more can be kept.
  }
}

export class Composer {
  constructor({
    form,
    input,
    socket,
    outbox,
    view,
    me,
    myName,
    picker = null,
    editLast = null,
    threadRoot = null,
    alsoInRoom = null,
    typing = false,
  }) {
    this.form = form;
    this.input = input;
    this.socket = socket;
    this.outbox = outbox;
    this.view = view;
    this.me = me;
    this.myName = myName;
    this.picker = picker;
    this.roomId = view.roomId;
    this.threadRoot = threadRoot;
    this.alsoInRoom = alsoInRoom; // the "Also send to the room" checkbox of a thread's composer
    this.failedEntries = new Map(); // client_id → outbox entry the server refused, for Retry
    this.draftKey = draftKey(me, view.roomId, threadRoot);
    this.status = null; // why the composer is disabled, when it is
    this.confirmation = null; // "This will notify 42 people": Send anyway / Cancel
    this.notice = null; // why a group mention went out as plain text
    this.asking = false;
    this.sentIds = new Set(); // this composer's client_ids: a mention.refused is about one of them
    // "is typing…" for the others, where the room has it on (room_config `typing`).
    this.typing = typing ? new TypingReporter({ socket, input, roomId: view.roomId, threadRoot }) : null;

    input.addEventListener("keydown", (event) => {
      if (this.picker?.handleKey(event)) return;
      // ↑ in an empty box edits one's last message, as in Slack and Zulip.
      const plain = !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey;
      if (event.key === "ArrowUp" && plain && !this.input.value && !this.status && editLast?.()) {
        event.preventDefault();
        return;
      }
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    input.addEventListener("input", () => {
      this.grow();
      this.saveDraft();
    });
    // With JavaScript on, the form is never posted: the message goes over the socket.
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    outbox.addEventListener("refused", (event) => {
      if (event.detail.roomId !== this.roomId || (event.detail.threadRoot || null) !== this.threadRoot) return;
      event.preventDefault();
      this.failed(event.detail.entry, event.detail.frame);
    });
    socket.on("mention.refused", (frame) => {
      if (frame.room === this.roomId && this.sentIds.delete(frame.client_id)) this.showNotice(frame.detail);
    });
    socket.addEventListener("open", () => this.markPending(SENDING));
    socket.addEventListener("close", () => this.markPending(WAITING));

    // Written before a reload (or in another tab) and not stored yet: still on its way.
    // (A thread's are shown by the panel, once the thread's replies are in.)
    if (!threadRoot) this.showWaiting();
    this.restoreDraft();
    // Issue 15 (scheduled/): the "Send later" menu beside Send, where the form has one.
    this.sendLater = SendLater.attach(this);
  }

  showWaiting() {
    for (const entry of this.outbox.entries(this.roomId, this.threadRoot)) {
      // Already on screen: written while the thread was loading, or delivered meanwhile.
      if (this.view.list.querySelector(`.message[data-client-id="${CSS.escape(entry.client_id)}"]`)) continue;
      this.showPending(entry);
    }
  }

  /** The thread panel shows another thread: its own draft and waiting replies. */
  retarget(threadRoot) {
    if (threadRoot === this.threadRoot) return;
    this.threadRoot = threadRoot;
    this.typing?.retarget(threadRoot);
    this.draftKey = draftKey(this.me, this.roomId, threadRoot);
    this.failedEntries.clear();
    this.input.value = "";
    this.picker?.close();
    this.restoreDraft();
    this.grow();
  }

  grow() {
    // CSSOM writes are allowed under the page's style-src 'self'; style="" attributes are not.
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight + 2, MAX_HEIGHT_PX)}px`;
  }

  restoreDraft() {
    let draft = null;
    try {
      draft = localStorage.getItem(this.draftKey);
    } catch {
      return;
    }
    if (draft && !this.input.value) {
      this.input.value = draft;
      this.grow();
    }
  }

  saveDraft() {
    try {
      if (this.input.value.trim()) localStorage.setItem(this.draftKey, this.input.value);
      else localStorage.removeItem(this.draftKey);
    } catch {
      // Storage full or disabled: the draft just does not survive a reload.
    }
  }

  itemFor(clientId) {
    return this.view.list.querySelector(`.message[data-client-id="${CSS.escape(clientId)}"]:not([data-id])`);
  }

  markPending(text) {
    for (const item of this.view.list.querySelectorAll(".message.pending:not([data-id])")) {
      if (item.querySelector(".send-state")?.textContent !== text) setDelivery(item, text);
    }
  }

  showPending(entry) {
    const item = this.view.showPending({
      client_id: entry.client_id,
      room: this.roomId,
      thread_root: this.threadRoot,
      in_room: !this.threadRoot || Boolean(entry.also_in_room),
      body: entry.body,
      author: { username: this.me, display_name: this.myName },
      created_at: entry.created_at,
      mentions: [],
    });
    if (!this.socket.isOpen) setDelivery(item, WAITING);
    return item;
  }

  /** Whether sending `body` may notify many people (or use a group mention): ask the server. */
  mayNotifyMany(body) {
    const names = parseMentions(body);
    return names.some((name) => GROUP_NAMES.includes(name)) || names.length > ASK_ABOVE_NAMES;
  }

  async checkAudience(body) {
    if (this.asking) return;
    this.asking = true;
    let answer = null;
    try {
      answer = await notifyCount(this.roomId, body);
    } catch {
      answer = null; // offline: the warning never stands between a person and sending
    } finally {
      this.asking = false;
    }
    if (this.input.value.trim() !== body) return; // changed meanwhile: asked again on Enter
    if (!answer || (!answer.warn && answer.allowed)) {
      this.submit({ confirmed: true });
      return;
    }
    this.confirm(answer);
  }

  /** "This will notify 42 people" (and/or "@room will be plain text"), Send anyway / Cancel. */
  confirm(answer) {
    this.closeConfirmation();
    const box = document.createElement("div");
    box.className = "composer-status notify-confirm";
    box.setAttribute("role", "alertdialog");
    box.setAttribute("aria-label", "Confirm sending");
    const lines = [];
    if (answer.warn) lines.push(`This will notify ${answer.count} ${answer.count === 1 ? "person" : "people"}.`);
    if (!answer.allowed) lines.push(answer.detail.replace(/ It was sent as plain text\.$/, "") + ` @${answer.group_mention} will be sent as plain text.`);
    const text = document.createElement("p");
    text.className = "notify-confirm-text";
    text.textContent = lines.join(" ");
    const send = document.createElement("button");
    send.type = "button";
    send.textContent = "Send anyway";
    send.addEventListener("click", () => {
      this.closeConfirmation();
      this.submit({ confirmed: true });
    });
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "secondary";
    cancel.textContent = "Cancel";
    cancel.addEventListener("click", () => {
      this.closeConfirmation();
      this.input.focus();
    });
    box.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        cancel.click();
      }
    });
    box.append(text, send, " ", cancel);
    this.form.append(box);
    this.confirmation = box;
    send.focus();
  }

  closeConfirmation() {
    this.confirmation?.remove();
    this.confirmation = null;
  }

  /** Said by the server after sending (mention.refused): shown until the next message. */
  showNotice(detail) {
    this.notice?.remove();
    this.notice = document.createElement("p");
    this.notice.className = "composer-status mention-notice";
    this.notice.setAttribute("role", "status");
    this.notice.textContent = detail;
    this.form.append(this.notice);
  }

  submit({ confirmed = false } = {}) {
    const body = this.input.value.trim();
    if (!body || this.status) return;
    if (!confirmed && this.mayNotifyMany(body)) {
      this.checkAudience(body);
      return;
    }
    this.closeConfirmation();
    this.notice?.remove();
    this.notice = null;
    this.picker?.close();
    const entry = this.outbox.add(this.roomId, body, {
      threadRoot: this.threadRoot,
      alsoInRoom: Boolean(this.threadRoot && this.alsoInRoom?.checked),
    });
    this.showPending(entry);
    if (this.mayNotifyMany(body)) this.sentIds.add(entry.client_id);
    // Like Slack: "Also send to the room" is for the one reply.
    if (this.alsoInRoom) this.alsoInRoom.checked = false;
    this.input.value = "";
    this.typing?.stop();
    this.saveDraft();
    this.grow();
    this.input.focus();
  }

  retry(clientId) {
    const entry = this.failedEntries.get(clientId);
    const item = this.itemFor(clientId);
    if (!entry || !item) return;
    this.failedEntries.delete(clientId);
    item.classList.remove("failed");
    item.classList.add("pending");
    setDelivery(item, this.socket.isOpen ? SENDING : WAITING);
    // Behind whatever else is waiting: it is sent again now, as if just written.
    this.outbox.add(this.roomId, entry.body, {
      clientId,
      threadRoot: this.threadRoot,
      alsoInRoom: Boolean(entry.also_in_room),
    });
    this.input.focus();
  }

  discard(clientId) {
    this.failedEntries.delete(clientId);
    this.itemFor(clientId)?.remove();
    this.input.focus();
  }

  failed(entry, frame) {
    this.failedEntries.set(entry.client_id, entry);
    const item = this.itemFor(entry.client_id);
    if (!item) return;
    item.classList.remove("pending");
    item.classList.add("failed");
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "secondary";
    retry.textContent = "Retry";
    retry.addEventListener("click", () => this.retry(entry.client_id));
    const discard = document.createElement("button");
    discard.type = "button";
    discard.className = "secondary";
    discard.textContent = "Discard";
    discard.addEventListener("click", () => this.discard(entry.client_id));
    setDelivery(item, `Not sent: ${frame.detail}`, [retry, discard]);
  }

  /** Writing is off while the person is not a member (removed, or left in another tab). */
  disable(reason) {
    this.status?.remove();
    this.status = document.createElement("p");
    this.status.className = "composer-status";
    this.status.setAttribute("role", "status");
    this.status.textContent = reason;
    this.form.append(this.status);
    this.form.classList.add("disabled");
    for (const control of this.form.querySelectorAll("textarea, button")) control.disabled = true;
    this.picker?.close();
  }

  enable() {
    if (!this.status) return;
    this.status.remove();
    this.status = null;
    this.form.classList.remove("disabled");
    for (const control of this.form.querySelectorAll("textarea, button")) control.disabled = false;
  }
}
