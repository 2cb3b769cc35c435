// The room header's "Pinned" list: how many messages are pinned, and a panel listing them, the
// most recently pinned first, kept current from every message the room view hears of. A pinned
// message that is loaded is scrolled to; one that is not opens the room around it (?around=).

import { shownName } from "./messages.js";

const SNIPPET_CHARS = 140;

function snippet(text) {
  const chars = Array.from(text.replace(/\s+/g, " ").trim());
  return chars.length > SNIPPET_CHARS ? `${chars.slice(0, SNIPPET_CHARS - 1).join("")}…` : chars.join("");
}

export class PinnedList {
  constructor({ view, toggle, panel }) {
    this.view = view;
    this.toggle = toggle;
    this.panel = panel;
    this.list = panel.querySelector(".pin-list");
    this.empty = panel.querySelector(".pins-empty");
    this.count = toggle.querySelector(".count");
    this.changes = new Map(); // seq → the change its entry shows
    for (const entry of this.list.querySelectorAll(".pin[data-seq]")) {
      this.changes.set(Number(entry.dataset.seq), Number(entry.dataset.change || 0));
    }

    toggle.addEventListener("click", () => (this.isOpen ? this.close() : this.open()));
    panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        this.close();
      }
    });
    document.addEventListener("pointerdown", (event) => {
      if (this.isOpen && !panel.contains(event.target) && !toggle.contains(event.target)) {
        this.close({ restoreFocus: false });
      }
    });
    this.list.addEventListener("click", (event) => {
      const link = event.target.closest(".pin-link");
      if (link) this.opened(event, Number(link.closest(".pin").dataset.seq));
    });
    view.addEventListener("message", (event) => this.changed(event.detail.message));
    this.render();
  }

  get isOpen() {
    return !this.panel.hidden;
  }

  open() {
    this.panel.hidden = false;
    this.toggle.setAttribute("aria-expanded", "true");
    (this.list.querySelector(".pin-link") || this.panel.querySelector("h2")).focus();
  }

  close({ restoreFocus = true } = {}) {
    if (!this.isOpen) return;
    this.panel.hidden = true;
    this.toggle.setAttribute("aria-expanded", "false");
    if (restoreFocus) this.toggle.focus();
  }

  /** A loaded message is scrolled to and focused; otherwise the link opens the room around it. */
  opened(event, seq) {
    const item = this.view.itemFor(seq);
    if (!item) return;
    event.preventDefault();
    this.close({ restoreFocus: false });
    item.scrollIntoView({ block: "center" });
    item.classList.remove("flash");
    void item.offsetWidth; // restart the highlight's animation
    item.classList.add("flash");
    item.focus({ preventScroll: true });
  }

  changed(message) {
    const seq = message.seq;
    const shown = this.changes.get(seq);
    if (shown !== undefined && shown >= message.change) return;
    const existing = this.list.querySelector(`.pin[data-seq="${seq}"]`);
    if (!message.pinned || message.deleted) {
      if (existing) {
        existing.remove();
        this.changes.delete(seq);
        this.render();
      }
      return;
    }
    const entry = this.entry(message);
    existing?.remove();
    const later = Array.from(this.list.children).find(
      (other) => new Date(other.dataset.pinnedAt) < new Date(message.pinned.at),
    );
    this.list.insertBefore(entry, later || null);
    this.changes.set(seq, message.change);
    this.render();
  }

  entry(message) {
    const entry = document.createElement("li");
    entry.className = "pin";
    entry.dataset.seq = message.seq;
    entry.dataset.change = message.change;
    entry.dataset.pinnedAt = message.pinned.at;
    const link = document.createElement("a");
    link.className = "pin-link";
    link.href = `${window.location.pathname}?around=${message.seq}#m${message.seq}`;
    const author = document.createElement("span");
    author.className = "pin-author";
    author.textContent = message.author.display_name || message.author.username;
    const body = document.createElement("span");
    body.className = "pin-body";
    body.textContent = snippet(message.body);
    link.append(author, " ", body);
    const by = document.createElement("span");
    by.className = "pin-by";
    by.textContent = `Pinned by ${shownName(message.pinned.by)}`;
    entry.append(link, by);
    return entry;
  }

  render() {
    const count = this.list.children.length;
    this.count.textContent = String(count);
    this.empty.hidden = count > 0;
  }
}
