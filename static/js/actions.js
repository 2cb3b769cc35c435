// What a reader does to the messages of the open room: edit their own in place, delete (after a
// confirmation), react, pin, and read a message's earlier versions. Every change goes to the
// server as a frame and shows only when the server's `message.updated` comes back (room.js);
// a refusal is said in words. The message list is one stop in the Tab order: arrow keys move
// between messages, Tab goes into the focused message's actions; a long press shows them on a
// touch screen. The room's list and the thread panel's each have theirs; the dialogs are shared.

import { renderDiff, wordDiff } from "./diff.js";
import { messageState, rove } from "./messages.js";

// An edit with no answer for this long is sent again (the same client_id: stored once).
const EDIT_TIMEOUT_MS = 10000;
const RETRY_WITHOUT_HINT_MS = 2000;
const RETRYABLE = new Set(["rate_limited", "server_error"]);
const LONG_PRESS_MS = 500;
const ALERT_MS = 8000;
const MAX_EDITOR_HEIGHT_PX = 240;
const CHANGE_FRAMES = {
  "message.edit": "Not saved",
  "message.delete": "Not deleted",
  "reaction.add": "Reaction not added",
  "reaction.remove": "Reaction not removed",
  "message.pin": "Pin not changed",
};
const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export class MessageActions {
  constructor({ view, socket, list, me, picker, versionsUrl, canSeeVersions = true, alert }) {
    this.view = view;
    this.socket = socket;
    this.list = list;
    this.me = me;
    this.picker = picker;
    this.versionsUrl = versionsUrl; // with "{seq}" for the message's seq
    this.canSeeVersions = canSeeVersions; // the room's policy when the page was rendered
    this.alertBox = alert;
    this.alertTimer = null;
    this.edits = new Map(); // seq → the edit on its way: { clientId, body, editedBefore, timer }
    this.retries = new Map(); // "type:seq" → the frame to send again after a wait
    this.pressTimer = null;

    list.addEventListener("click", (event) => this.clicked(event));
    list.addEventListener("keydown", (event) => this.keyed(event));
    list.addEventListener("focusin", (event) => {
      const item = event.target.closest(".message[data-seq]");
      if (item) rove(list, item);
    });
    list.addEventListener("focusout", (event) => {
      const item = event.target.closest(".message");
      if (item && !item.contains(event.relatedTarget)) item.classList.remove("show-actions");
      // Left for elsewhere on the page: coming back by Tab lands on the newest message again.
      if (event.relatedTarget && !list.contains(event.relatedTarget)) {
        for (const visited of list.querySelectorAll(".message[data-roving]")) delete visited.dataset.roving;
        rove(list);
      }
    });
    // A long press on a touch screen shows the message's actions.
    list.addEventListener("pointerdown", (event) => {
      if (event.pointerType !== "touch") return;
      const item = event.target.closest(".message[data-seq]:not(.deleted)");
      if (!item || event.target.closest("button, a, textarea")) return;
      clearTimeout(this.pressTimer);
      this.pressTimer = setTimeout(() => this.showActions(item), LONG_PRESS_MS);
    });
    for (const type of ["pointerup", "pointercancel", "pointermove"]) {
      list.addEventListener(type, () => clearTimeout(this.pressTimer));
    }
    list.addEventListener("contextmenu", (event) => {
      const item = event.target.closest(".message.show-actions");
      if (item && !event.target.closest("a")) event.preventDefault();
    });

    view.addEventListener("message", (event) => this.changed(event.detail.message));
    socket.on("error", (frame) => this.refused(frame));
    socket.addEventListener("open", () => {
      for (const seq of this.edits.keys()) this.sendEdit(seq);
    });
  }

  // --- frames ----------------------------------------------------------------------------------

  send(frame, { retry = true } = {}) {
    if (retry) this.retries.set(`${frame.type}:${frame.seq}`, frame);
    if (this.socket.send(frame)) return true;
    this.say("Not connected. Try again once the connection is back.");
    return false;
  }

  /** The server answered a change of ours, or someone else's reached this page. */
  changed(message) {
    for (const type of Object.keys(CHANGE_FRAMES)) this.retries.delete(`${type}:${message.seq}`);
    // Saved (by this tab or another of the person's), or gone: the editor has done its job.
    const edit = this.edits.get(message.seq);
    if (message.deleted || (edit && message.edited_at !== edit.editedBefore)) this.finishEdit(message.seq);
  }

  refused(frame) {
    const what = CHANGE_FRAMES[frame.frame];
    if (!what || frame.room !== this.view.roomId) return;
    // The room and the open thread each answer for the messages they show.
    if (Number.isInteger(frame.seq) && !this.view.itemFor(frame.seq)) return;
    const wait = frame.retry_after ? frame.retry_after * 1000 : RETRY_WITHOUT_HINT_MS;
    const edit = frame.frame === "message.edit" ? this.edits.get(frame.seq) : null;
    if (edit && frame.client_id && frame.client_id !== edit.clientId) return;
    if (RETRYABLE.has(frame.code)) {
      if (edit) {
        clearTimeout(edit.timer);
        edit.timer = setTimeout(() => this.sendEdit(frame.seq), wait);
        return;
      }
      const again = this.retries.get(`${frame.frame}:${frame.seq}`);
      if (again) {
        setTimeout(() => this.send(again), wait);
        return;
      }
    }
    this.retries.delete(`${frame.frame}:${frame.seq}`);
    if (edit) {
      this.editRefused(frame.seq, `${what}: ${frame.detail}`, frame.code);
      return;
    }
    this.say(`${what}: ${frame.detail}`);
  }

  /** A sentence for everyone, screen readers included, for a few seconds. */
  say(text) {
    if (!this.alertBox) return;
    clearTimeout(this.alertTimer);
    this.alertBox.textContent = text;
    this.alertTimer = setTimeout(() => {
      this.alertBox.textContent = "";
    }, ALERT_MS);
  }

  // --- pointer and keys ------------------------------------------------------------------------

  clicked(event) {
    const reaction = event.target.closest(".reaction[data-emoji]");
    const item = event.target.closest(".message[data-seq]");
    if (!item) return;
    if (reaction) {
      this.toggleReaction(item, reaction.dataset.emoji);
      return;
    }
    const button = event.target.closest("[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    if (action === "react") this.chooseReaction(item, button);
    else if (action === "edit") this.startEdit(item);
    else if (action === "pin") this.togglePin(item);
    else if (action === "delete") this.confirmDelete(item, button);
    else if (action === "history") this.showVersions(item, button);
  }

  keyed(event) {
    const item = event.target.closest(".message[data-seq]");
    if (!item) return;
    if (event.target === item) {
      const items = Array.from(this.list.querySelectorAll(".message[data-seq]"));
      const at = items.indexOf(item);
      const to = { ArrowUp: at - 1, ArrowDown: at + 1, Home: 0, End: items.length - 1 }[event.key];
      if (to === undefined || event.altKey || event.ctrlKey || event.metaKey) return;
      event.preventDefault();
      const next = items[Math.max(0, Math.min(items.length - 1, to))];
      rove(this.list, next);
      next.focus();
      return;
    }
    // Escape in a message's actions goes back to the message.
    if (event.key === "Escape" && event.target.closest(".message-actions, .reactions")) {
      event.preventDefault();
      item.focus();
    }
  }

  showActions(item) {
    item.classList.add("show-actions");
    item.focus();
    navigator.vibrate?.(10);
  }

  // --- reactions and pins --------------------------------------------------------------------

  chooseReaction(item, button) {
    hold(item);
    this.picker.open(
      button,
      (emoji) => this.react(item, emoji, true),
      () => release(item),
    );
  }

  toggleReaction(item, emoji) {
    const message = messageState(item);
    const group = message?.reactions?.find((g) => g.emoji === emoji);
    const mine = Boolean(group?.users.includes(this.me));
    if (!mine) this.picker.remember(emoji);
    this.react(item, emoji, !mine);
  }

  react(item, emoji, add) {
    const seq = Number(item.dataset.seq);
    const type = add ? "reaction.add" : "reaction.remove";
    this.send({ type, room: this.view.roomId, seq, emoji });
  }

  togglePin(item) {
    const message = messageState(item);
    if (!message) return;
    const seq = Number(item.dataset.seq);
    this.send({ type: "message.pin", room: this.view.roomId, seq, pinned: !message.pinned });
  }

  // --- editing ---------------------------------------------------------------------------------

  /** ↑ in the empty composer: edit one's newest message (if it can still be edited). */
  editLast(returnTo) {
    const own = Array.from(this.list.querySelectorAll(".message.own[data-seq]:not(.deleted)"));
    const last = own[own.length - 1];
    if (!last || !last.querySelector('[data-action="edit"]')) return false;
    last.scrollIntoView({ block: "nearest" });
    return this.startEdit(last, { returnTo });
  }

  startEdit(item, { returnTo = null } = {}) {
    const message = messageState(item);
    if (!message || message.deleted || message.author.username !== this.me) return false;
    const open = item.querySelector(".edit-form");
    if (open) {
      open.querySelector("textarea").focus();
      return true;
    }
    for (const other of this.list.querySelectorAll(".edit-form")) {
      const seq = Number(other.closest(".message").dataset.seq);
      if (!this.edits.has(seq)) this.closeEditor(other.closest(".message"));
    }
    const seq = message.seq;
    const form = document.createElement("form");
    form.className = "edit-form";
    form.setAttribute("aria-live", "off");
    const label = document.createElement("label");
    label.className = "visually-hidden";
    label.htmlFor = `edit-${seq}`;
    label.textContent = "Edit message";
    const input = document.createElement("textarea");
    input.id = `edit-${seq}`;
    input.rows = 1;
    input.maxLength = 10000;
    input.value = message.body;
    input.setAttribute("aria-describedby", `edit-hint-${seq}`);
    const hint = document.createElement("p");
    hint.className = "edit-hint";
    hint.id = `edit-hint-${seq}`;
    hint.innerHTML = "<kbd>Enter</kbd> to save, <kbd>Escape</kbd> to cancel";
    const status = document.createElement("p");
    status.className = "edit-status";
    status.setAttribute("role", "status");
    const save = document.createElement("button");
    save.type = "submit";
    save.textContent = "Save";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "secondary";
    cancel.textContent = "Cancel";
    const buttons = document.createElement("div");
    buttons.className = "edit-buttons";
    buttons.append(hint, cancel, save);
    form.append(label, input, buttons, status);
    form.returnTo = returnTo;

    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.saveEdit(item);
      } else if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        this.cancelEdit(item);
      }
    });
    input.addEventListener("input", () => grow(input));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.saveEdit(item);
    });
    cancel.addEventListener("click", () => this.cancelEdit(item));

    item.classList.add("editing");
    item.querySelector(".body").hidden = true;
    item.querySelector(".body").after(form);
    grow(input);
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
    return true;
  }

  saveEdit(item) {
    const seq = Number(item.dataset.seq);
    const form = item.querySelector(".edit-form");
    const message = messageState(item);
    if (!form || !message || this.edits.has(seq)) return;
    const body = form.querySelector("textarea").value.trim();
    const status = form.querySelector(".edit-status");
    if (!body) {
      status.textContent = "A message needs some text. To remove it, delete it instead.";
      status.setAttribute("role", "alert");
      return;
    }
    if (body === message.body) {
      this.cancelEdit(item);
      return;
    }
    this.edits.set(seq, { clientId: crypto.randomUUID(), body, editedBefore: message.edited_at, timer: null });
    form.classList.add("saving");
    form.querySelector("textarea").readOnly = true;
    for (const button of form.querySelectorAll("button")) button.disabled = true;
    status.setAttribute("role", "status");
    status.textContent = "Saving…";
    this.sendEdit(seq);
  }

  sendEdit(seq) {
    const edit = this.edits.get(seq);
    if (!edit) return;
    clearTimeout(edit.timer);
    const frame = { type: "message.edit", room: this.view.roomId, seq, body: edit.body, client_id: edit.clientId };
    const sent = this.socket.send(frame);
    const status = this.view.itemFor(seq)?.querySelector(".edit-status");
    if (!sent && status) status.textContent = "Saving once the connection is back…";
    edit.timer = setTimeout(() => this.sendEdit(seq), EDIT_TIMEOUT_MS);
  }

  editRefused(seq, text, code) {
    const edit = this.edits.get(seq);
    if (edit) clearTimeout(edit.timer);
    this.edits.delete(seq);
    const item = this.view.itemFor(seq);
    const form = item?.querySelector(".edit-form");
    if (!form) return;
    if (code === "message_deleted" || code === "no_such_message") {
      this.closeEditor(item);
      this.say(text);
      return;
    }
    form.classList.remove("saving");
    const input = form.querySelector("textarea");
    input.readOnly = false;
    for (const button of form.querySelectorAll("button")) button.disabled = false;
    const status = form.querySelector(".edit-status");
    status.setAttribute("role", "alert");
    status.textContent = text;
    input.focus();
  }

  finishEdit(seq) {
    const edit = this.edits.get(seq);
    if (edit) clearTimeout(edit.timer);
    this.edits.delete(seq);
    const item = this.view.itemFor(seq);
    if (item?.querySelector(".edit-form")) this.closeEditor(item);
  }

  cancelEdit(item) {
    const seq = Number(item.dataset.seq);
    const edit = this.edits.get(seq);
    if (edit) {
      // Sent already: the server has it or will; only stop waiting for it here.
      clearTimeout(edit.timer);
      this.edits.delete(seq);
    }
    this.closeEditor(item);
  }

  closeEditor(item) {
    const form = item.querySelector(".edit-form");
    if (!form) return;
    const hadFocus = form.contains(document.activeElement);
    const returnTo = form.returnTo;
    form.remove();
    item.classList.remove("editing");
    const body = item.querySelector(".body");
    if (body) body.hidden = false;
    if (hadFocus) (returnTo?.isConnected ? returnTo : item).focus();
  }

  // --- deleting --------------------------------------------------------------------------------

  confirmDelete(item, opener) {
    const message = messageState(item);
    if (!message || message.deleted) return;
    const dialog = document.getElementById("delete-dialog") || buildDeleteDialog();
    dialog.owner = this;
    const own = message.author.username === this.me;
    dialog.querySelector("#delete-title").textContent = own
      ? "Delete your message?"
      : `Delete ${message.author.display_name || message.author.username}’s message?`;
    dialog.querySelector(".dialog-quote").textContent = message.body;
    dialog.seq = message.seq;
    dialog.opener = opener;
    dialog.returnValue = "";
    hold(item);
    dialog.showModal();
    dialog.querySelector('button[value="cancel"]').focus();
  }

  // --- earlier versions ------------------------------------------------------------------------

  async showVersions(item, opener) {
    const message = messageState(item);
    if (!message) return;
    const dialog = document.getElementById("versions-dialog") || buildVersionsDialog();
    const list = dialog.querySelector(".versions");
    const status = dialog.querySelector(".versions-status");
    list.replaceChildren();
    status.textContent = "Loading…";
    dialog.opener = opener;
    dialog.showModal();
    dialog.querySelector(".dialog-close").focus();
    const hidden = "In this room only the owner and admins can see a message’s earlier versions.";
    if (!this.canSeeVersions) {
      status.textContent = hidden;
      return;
    }
    const url = this.versionsUrl.replace("{seq}", String(message.seq));
    let response;
    let answer = {};
    try {
      response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      answer = await response.json().catch(() => ({}));
    } catch {
      status.textContent = "The history could not be loaded. Check the connection and try again.";
      return;
    }
    if (response.status === 403) {
      status.textContent = answer.detail || hidden;
      return;
    }
    if (response.status === 404) {
      status.textContent = "This message has no history any more: it was deleted.";
      return;
    }
    if (!response.ok || !Array.isArray(answer.versions)) {
      status.textContent = "The history could not be loaded. Try again later.";
      return;
    }
    const versions = answer.versions;
    const author = message.author.display_name || message.author.username;
    status.textContent = `${versions.length} version${versions.length === 1 ? "" : "s"}, the current one last.`;
    versions.forEach((version, index) => {
      const entry = document.createElement("li");
      entry.className = "version";
      const head = document.createElement("p");
      head.className = "version-head";
      const title = document.createElement("strong");
      title.textContent = index === 0 ? "Original" : index === versions.length - 1 ? "Current" : `Edit ${index}`;
      const time = document.createElement("time");
      time.dateTime = version.written_at;
      const at = new Date(version.written_at);
      time.textContent = Number.isNaN(at.getTime()) ? version.written_at : timeFormat.format(at);
      const verb = index === 0 ? "written by" : "edited by";
      head.append(title, ` · ${verb} ${author} · `, time);
      const body = document.createElement("div");
      body.className = "version-body";
      if (index === 0) body.textContent = version.body;
      else renderDiff(body, wordDiff(versions[index - 1].body, version.body));
      entry.append(head, body);
      list.append(entry);
    });
  }

}

/** One confirmation for the page; `dialog.owner` is the list (room or thread) that opened it. */
function buildDeleteDialog() {
  const dialog = document.createElement("dialog");
  dialog.className = "dialog confirm-dialog";
  dialog.id = "delete-dialog";
  dialog.setAttribute("role", "alertdialog");
  dialog.setAttribute("aria-labelledby", "delete-title");
  dialog.setAttribute("aria-describedby", "delete-detail");
  dialog.innerHTML = `<form method="dialog">
      <h2 id="delete-title">Delete this message?</h2>
      <p id="delete-detail">Everyone in the room will see “Message deleted” in its place. This cannot be undone.</p>
      <blockquote class="dialog-quote"></blockquote>
      <div class="dialog-buttons">
        <button type="submit" value="cancel" class="secondary">Cancel</button>
        <button type="submit" value="delete" class="danger">Delete</button>
      </div>
    </form>`;
  dialog.addEventListener("close", () => {
    const owner = dialog.owner;
    const item = owner.view.itemFor(dialog.seq);
    if (dialog.returnValue === "delete" && item) {
      owner.send({ type: "message.delete", room: owner.view.roomId, seq: dialog.seq });
      // The message stays where it is, as a tombstone: the focus stays with it.
      item.focus();
    } else if (dialog.opener?.isConnected) {
      dialog.opener.focus();
    }
    if (item) release(item);
  });
  document.body.append(dialog);
  return dialog;
}

function buildVersionsDialog() {
  const dialog = document.createElement("dialog");
  dialog.className = "dialog versions-dialog";
  dialog.id = "versions-dialog";
  dialog.setAttribute("aria-labelledby", "versions-title");
  dialog.innerHTML = `<form method="dialog">
      <div class="dialog-head">
        <h2 id="versions-title">Edit history</h2>
        <button type="submit" value="close" class="quiet-button dialog-close">Close</button>
      </div>
      <p class="versions-status" role="status"></p>
      <ol class="versions"></ol>
    </form>`;
  dialog.addEventListener("close", () => {
    if (dialog.opener?.isConnected) dialog.opener.focus();
  });
  // A click on the backdrop closes it, as Escape does.
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close();
  });
  document.body.append(dialog);
  return dialog;
}

// While a message's picker or dialog is open the focus is outside the message, which would hide
// its actions: they stay shown, so the focus can come back to the button that opened it.
function hold(item) {
  item.classList.add("actions-held");
}

function release(item) {
  item.classList.remove("actions-held");
}

function grow(input) {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight + 2, MAX_EDITOR_HEIGHT_PX)}px`;
}
