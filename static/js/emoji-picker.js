// The reaction picker: search Unicode's emoji by name and alias (the catalogue from
// /emoji.json, fetched once, on first use), the reader's recently used ones first. One picker
// for the page, opened next to the button that asked for it; keyboard: type to search, arrows
// to move, Enter to pick, Escape to close (focus goes back to that button).

import { chooseOption } from "./widgets.js";

const RECENT_PREFIX = "parley.recent-emoji.";
const RECENT_LIMIT = 16;
const RESULT_LIMIT = 64;
const COLUMNS = 8;
// Until the reader has used any: the ones every chat offers first.
const DEFAULT_EMOJI = [
  { emoji: "👍", name: "thumbs up" },
  { emoji: "❤️", name: "red heart" },
  { emoji: "😂", name: "face with tears of joy" },
  { emoji: "🎉", name: "party popper" },
  { emoji: "😮", name: "face with open mouth" },
  { emoji: "😢", name: "crying face" },
  { emoji: "🙏", name: "folded hands" },
  { emoji: "👀", name: "eyes" },
];

let catalogue = null; // the promise of the list, shared by every picker on the page

export function loadCatalogue(url) {
  if (!catalogue) {
    catalogue = fetch(url, { credentials: "same-origin" })
      .then((response) => (response.ok ? response.json() : Promise.reject(new Error(String(response.status)))))
      .then((entries) => (Array.isArray(entries) ? entries : entries.emoji || []))
      .catch((error) => {
        catalogue = null; // tried again next time
        throw error;
      });
  }
  return catalogue;
}

/** Entries matching `query`: names starting with it first, then a word or alias starting with it, then containing it. */
export function searchEmoji(entries, query, limit = RESULT_LIMIT) {
  const q = query.trim().toLowerCase().replace(/^:|:$/g, "");
  if (!q) return entries.slice(0, limit);
  const ranked = [];
  for (const entry of entries) {
    const name = entry.name.toLowerCase();
    const aliases = (entry.aliases || []).map((alias) => alias.toLowerCase());
    let rank = -1;
    if (name.startsWith(q) || aliases.some((alias) => alias.startsWith(q))) rank = 0;
    else if (name.split(/[\s:_-]+/).some((word) => word.startsWith(q))) rank = 1;
    else if (name.includes(q) || aliases.some((alias) => alias.includes(q))) rank = 2;
    if (rank >= 0) ranked.push({ rank, entry });
  }
  ranked.sort((x, y) => x.rank - y.rank);
  return ranked.slice(0, limit).map((found) => found.entry);
}

export class EmojiPicker {
  constructor({ me, url }) {
    this.me = me;
    this.url = url;
    this.onPick = null;
    this.onClose = null;
    this.opener = null;
    this.options = [];
    this.active = -1;
    this.entries = null;

    this.panel = document.createElement("div");
    this.panel.className = "emoji-picker";
    this.panel.id = "emoji-picker";
    this.panel.setAttribute("role", "dialog");
    this.panel.setAttribute("aria-label", "Add a reaction");
    this.panel.hidden = true;
    this.input = document.createElement("input");
    this.input.type = "search";
    this.input.className = "emoji-search";
    this.input.placeholder = "Search emoji";
    this.input.setAttribute("aria-label", "Search emoji");
    this.input.setAttribute("role", "combobox");
    this.input.setAttribute("aria-expanded", "true");
    this.input.setAttribute("aria-controls", "emoji-options");
    this.input.setAttribute("aria-autocomplete", "list");
    this.input.autocomplete = "off";
    this.heading = document.createElement("p");
    this.heading.className = "emoji-heading";
    this.heading.id = "emoji-heading";
    this.list = document.createElement("ul");
    this.list.className = "emoji-options";
    this.list.id = "emoji-options";
    this.list.setAttribute("role", "listbox");
    this.list.setAttribute("aria-labelledby", "emoji-heading");
    this.status = document.createElement("p");
    this.status.className = "visually-hidden";
    this.status.setAttribute("role", "status");
    this.panel.append(this.input, this.heading, this.list, this.status);
    document.body.append(this.panel);

    this.input.addEventListener("input", () => this.render());
    this.input.addEventListener("keydown", (event) => this.key(event));
    // Picking with the mouse must not blur the search first.
    this.list.addEventListener("mousedown", (event) => event.preventDefault());
    this.list.addEventListener("click", (event) => {
      const option = event.target.closest("[role=option]");
      if (option) this.pick(this.options.indexOf(option));
    });
    document.addEventListener("pointerdown", (event) => {
      if (this.isOpen && !this.panel.contains(event.target) && !this.opener?.contains(event.target)) {
        this.close({ refocus: false });
      }
    });
    this.panel.addEventListener("focusout", (event) => {
      if (this.isOpen && event.relatedTarget && !this.panel.contains(event.relatedTarget)) {
        this.close({ refocus: false });
      }
    });
    window.addEventListener("resize", () => this.place());
  }

  get isOpen() {
    return !this.panel.hidden;
  }

  get recentKey() {
    return `${RECENT_PREFIX}${this.me}`;
  }

  recent() {
    try {
      const stored = JSON.parse(localStorage.getItem(this.recentKey) || "[]");
      return Array.isArray(stored) ? stored.filter((e) => e && typeof e.emoji === "string") : [];
    } catch {
      return [];
    }
  }

  /** Remember `emoji` as the most recently used one. */
  remember(emoji) {
    const name =
      this.entries?.find((entry) => entry.emoji === emoji)?.name ||
      this.recent().find((entry) => entry.emoji === emoji)?.name ||
      DEFAULT_EMOJI.find((entry) => entry.emoji === emoji)?.name ||
      emoji;
    const list = [{ emoji, name }, ...this.recent().filter((entry) => entry.emoji !== emoji)].slice(0, RECENT_LIMIT);
    try {
      localStorage.setItem(this.recentKey, JSON.stringify(list));
    } catch {
      // Storage full or disabled: the picker just does not remember.
    }
  }

  /** `onClose` runs once it is closed (and the focus is back on `opener`, when it goes back). */
  open(opener, onPick, onClose = null) {
    this.opener = opener;
    this.onPick = onPick;
    this.onClose = onClose;
    this.input.value = "";
    this.panel.hidden = false;
    this.render();
    this.place();
    this.input.focus();
    loadCatalogue(this.url)
      .then((entries) => {
        this.entries = entries;
        if (this.isOpen && this.input.value.trim()) this.render();
      })
      .catch(() => {
        if (this.isOpen && this.input.value.trim()) this.render();
      });
  }

  close({ refocus = true } = {}) {
    if (!this.isOpen) return;
    this.panel.hidden = true;
    this.list.replaceChildren();
    this.options = [];
    this.input.removeAttribute("aria-activedescendant");
    const opener = this.opener;
    const onClose = this.onClose;
    this.opener = null;
    this.onClose = null;
    if (refocus && opener?.isConnected) opener.focus();
    onClose?.();
  }

  /** Beside the button that opened it; on a phone, a sheet across the bottom (CSS). */
  place() {
    if (!this.isOpen || !this.opener) return;
    const box = this.opener.getBoundingClientRect();
    const width = this.panel.offsetWidth;
    const height = this.panel.offsetHeight;
    const left = Math.max(8, Math.min(box.right - width, window.innerWidth - width - 8));
    const above = box.top - height - 6;
    const top = above >= 8 ? above : Math.min(box.bottom + 6, window.innerHeight - height - 8);
    // CSSOM writes are allowed under the page's style-src 'self'; style="" attributes are not.
    this.panel.style.left = `${left}px`;
    this.panel.style.top = `${Math.max(8, top)}px`;
  }

  render() {
    const query = this.input.value;
    let found;
    if (!query.trim()) {
      const recent = this.recent();
      found = recent.length ? recent : DEFAULT_EMOJI;
      this.heading.textContent = recent.length ? "Recently used" : "Frequently used";
    } else if (this.entries) {
      found = searchEmoji(this.entries, query);
      this.heading.textContent = found.length ? "Search results" : "No emoji found";
    } else {
      found = searchEmoji([...this.recent(), ...DEFAULT_EMOJI], query);
      this.heading.textContent = catalogue ? "Loading emoji…" : "Emoji could not be loaded";
    }
    this.options = found.map((entry, index) => {
      const option = document.createElement("li");
      option.id = `emoji-option-${index}`;
      option.className = "emoji-option";
      option.setAttribute("role", "option");
      option.setAttribute("aria-label", entry.name);
      option.title = `:${entry.name}:`;
      option.dataset.emoji = entry.emoji;
      option.textContent = entry.emoji;
      option.addEventListener("mousemove", () => this.activate(index));
      return option;
    });
    this.list.replaceChildren(...this.options);
    this.activate(this.options.length ? 0 : -1);
    if (query.trim()) {
      const count = this.options.length;
      this.status.textContent = `${count} emoji found.`;
    } else {
      this.status.textContent = "";
    }
  }

  activate(index) {
    this.active = index;
    chooseOption(this.input, this.options, index);
  }

  key(event) {
    if (event.isComposing) return;
    const count = this.options.length;
    const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: COLUMNS, ArrowUp: -COLUMNS };
    // The arrows move through the grid (the search is a word or two: the caret can do without).
    if (event.key in moves && count) {
      const next = this.active + moves[event.key];
      this.activate(Math.max(0, Math.min(count - 1, next)));
    } else if (event.key === "Enter") {
      this.pick(this.active);
    } else if (event.key === "Escape") {
      this.close();
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  }

  pick(index) {
    const option = this.options[index];
    if (!option) return;
    const emoji = option.dataset.emoji;
    const onPick = this.onPick;
    this.remember(emoji);
    this.close();
    onPick?.(emoji);
  }
}
