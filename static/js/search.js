// The header's search box: results as one types, in a list under the box (the ARIA combobox
// pattern: the box keeps the focus and points into the list with aria-activedescendant), the
// keys that focus it from anywhere (`/`, Ctrl+K, Cmd+K), the phone's collapsed box, and on the
// results page the controls that search again when changed.
//
// Without JavaScript the box is a plain GET form to /search/, the results page. With it, each
// pause in typing asks the same URL for JSON (`Accept: application/json`): the results with
// room, author, time, the message's URL in context and its snippet as [text, matched] segments,
// shown with textContent and <mark> elements, never as HTML. Problems (the search did not run)
// and notes (how it was understood) are shown in the list's place or above it.

import { chooseOption, icon } from "./widgets.js";

const DEBOUNCE_MS = 200;
// The list is a glance: the results page has the rest.
const MAX_OPTIONS = 8;
const PHONE = "(max-width: 767px)";
const shortFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });
const LOCK = "M12 2a5 5 0 0 0-5 5v3H6a2 2 0 0 0-2 2v8a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-8a2 2 0 0 0-2-2h-1V7a5 5 0 0 0-5-5zm-3 8V7a3 3 0 0 1 6 0v3z";

/** The browser's time zone, for the dates in a query (`before:yesterday`); "" if unknown. */
function timeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch {
    return "";
  }
}

/** Where a key press is text being typed: there `/` is a slash and Ctrl+K is the field's own. */
function isTyping(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable || target.closest("textarea, select, [contenteditable]:not([contenteditable=false])")) {
    return true;
  }
  const input = target.closest("input");
  return Boolean(input) && !/^(checkbox|radio|button|submit|reset|range|color|file|image)$/.test(input.type);
}

/** `<time>` of an ISO instant, shown as elsewhere in the app (the full date on hover). */
export function timeElement(iso) {
  const time = document.createElement("time");
  time.dateTime = iso || "";
  const at = new Date(iso);
  if (!Number.isNaN(at.getTime())) {
    time.textContent = shortFormat.format(at);
    time.title = fullFormat.format(at);
  }
  return time;
}

/** The snippet's segments into `container`: matched parts as <mark>, all of it as text. */
export function fillSnippet(container, segments) {
  for (const segment of Array.isArray(segments) ? segments : []) {
    const [text, matched] = Array.isArray(segment) ? segment : [String(segment), false];
    if (!text) continue;
    if (matched) {
      const mark = document.createElement("mark");
      mark.textContent = text;
      container.append(mark);
    } else {
      container.append(document.createTextNode(text));
    }
  }
}

function roomLabel(room) {
  const label = document.createElement("span");
  label.className = "search-option-room";
  const sigil = document.createElement("span");
  sigil.className = "room-sigil";
  sigil.setAttribute("aria-hidden", "true");
  if (room?.is_private) {
    sigil.append(icon(LOCK, 12));
  } else {
    sigil.textContent = "#";
  }
  const name = document.createElement("span");
  name.textContent = room?.name || room?.slug || "";
  label.append(sigil, name);
  if (room?.is_private) {
    const hint = document.createElement("span");
    hint.className = "visually-hidden";
    hint.textContent = " (private)";
    label.append(hint);
  }
  return label;
}

export class SearchBox {
  constructor({ form, input, opener = null, closer = null }) {
    this.form = form;
    this.input = input;
    this.opener = opener; // the phone's search button (a link to /search/ without JavaScript)
    this.closer = closer;
    this.header = form.closest(".site-header") || form;
    this.phone = window.matchMedia(PHONE);
    this.timer = null;
    this.controller = null; // the request in flight, aborted by the next
    this.shown = null; // the query the list shows, trimmed
    this.options = [];
    this.active = -1;

    // Dates in a query (`on:today`) are the person's days, not the server's.
    const zone = timeZone();
    if (zone && !form.elements.tz) {
      const tz = document.createElement("input");
      tz.type = "hidden";
      tz.name = "tz";
      tz.value = zone;
      form.append(tz);
    }

    this.popup = document.createElement("div");
    this.popup.className = "search-popup";
    this.popup.id = "search-popup";
    this.popup.hidden = true;
    this.notices = document.createElement("div");
    this.notices.className = "search-notices";
    this.list = document.createElement("ul");
    this.list.className = "search-options";
    this.list.id = "search-options";
    this.list.setAttribute("role", "listbox");
    this.list.setAttribute("aria-label", "Messages found");
    this.footer = document.createElement("a");
    this.footer.className = "search-all";
    this.popup.append(this.notices, this.list, this.footer);
    this.status = document.createElement("p");
    this.status.className = "visually-hidden";
    this.status.setAttribute("role", "status");
    form.append(this.popup, this.status);

    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", this.list.id);

    input.addEventListener("input", () => this.schedule());
    input.addEventListener("keydown", (event) => this.key(event));
    input.addEventListener("focus", () => {
      if (this.shown !== null && this.shown === this.query) this.show();
    });
    form.addEventListener("submit", () => this.cancel());
    // Choosing with the mouse must not take the focus from the box first.
    this.popup.addEventListener("mousedown", (event) => event.preventDefault());
    this.list.addEventListener("click", (event) => {
      const option = event.target.closest("[role=option]");
      if (option) this.open(this.options.indexOf(option), { newTab: event.ctrlKey || event.metaKey });
    });
    this.list.addEventListener("mousemove", (event) => {
      const index = this.options.indexOf(event.target.closest("[role=option]"));
      if (index >= 0 && index !== this.active) this.activate(index);
    });
    document.addEventListener("pointerdown", (event) => {
      if (this.form.contains(event.target) || this.opener?.contains(event.target)) return;
      this.close();
      if (this.isExpanded && !this.input.value.trim()) this.collapse({ refocus: false });
    });
    form.addEventListener("focusout", (event) => {
      if (event.relatedTarget && !form.contains(event.relatedTarget)) {
        this.close();
        this.collapse({ refocus: false });
      }
    });
    document.addEventListener("keydown", (event) => this.shortcut(event));

    opener?.addEventListener("click", (event) => {
      event.preventDefault();
      this.expand();
    });
    if (closer) {
      closer.hidden = false;
      closer.addEventListener("click", () => {
        this.close();
        this.collapse();
      });
    }
    this.phone.addEventListener("change", () => this.collapse({ refocus: false }));
  }

  get query() {
    return this.input.value.trim();
  }

  get isOpen() {
    return !this.popup.hidden;
  }

  get isExpanded() {
    return this.header.classList.contains("search-expanded");
  }

  /** The results page for `query`, as the form would submit it. */
  pageUrl(query) {
    const url = new URL(this.form.action, window.location.href);
    url.search = new URLSearchParams({ q: query, ...this.extraParams() }).toString();
    return url.pathname + url.search;
  }

  extraParams() {
    const tz = this.form.elements.tz?.value;
    return tz ? { tz } : {};
  }

  /** `/`, Ctrl+K or Cmd+K anywhere but in a field being typed in: to the box. */
  shortcut(event) {
    if (event.defaultPrevented || event.isComposing || event.altKey) return;
    const slash = event.key === "/" && !event.ctrlKey && !event.metaKey;
    const k = (event.key === "k" || event.key === "K") && (event.ctrlKey || event.metaKey) && !event.shiftKey;
    if (!slash && !k) return;
    if (k && event.target === this.input) {
      event.preventDefault();
      this.input.select();
      return;
    }
    if (isTyping(event.target)) return;
    // A modal dialog (delete, edit history) keeps the keyboard until it is closed.
    if (document.querySelector("dialog[open]")) return;
    event.preventDefault();
    this.focus();
  }

  focus() {
    if (this.phone.matches) this.expand();
    this.input.focus();
    this.input.select();
  }

  /** On a phone the box is behind a button in the header; opened, it covers the header. */
  expand() {
    this.header.classList.add("search-expanded");
    this.opener?.setAttribute("aria-expanded", "true");
    this.input.focus();
  }

  collapse({ refocus = true } = {}) {
    if (!this.isExpanded) return;
    this.header.classList.remove("search-expanded");
    this.opener?.setAttribute("aria-expanded", "false");
    if (refocus && this.phone.matches) this.opener?.focus();
  }

  schedule() {
    clearTimeout(this.timer);
    const query = this.query;
    if (!query) {
      this.cancel();
      this.shown = null;
      this.close();
      return;
    }
    this.timer = setTimeout(() => this.search(query), DEBOUNCE_MS);
  }

  cancel() {
    clearTimeout(this.timer);
    this.controller?.abort();
    this.controller = null;
  }

  async search(query) {
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    this.popup.setAttribute("aria-busy", "true");
    if (!this.isOpen) this.render(query, null);
    let answer;
    try {
      // `preview`: the server's first few, all the list shows.
      const params = new URLSearchParams({ q: query, ...this.extraParams(), preview: "1" });
      const url = new URL(this.form.action, window.location.href);
      url.search = params.toString();
      const response = await fetch(url, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        signal: controller.signal,
      });
      const data = await response.json().catch(() => null);
      // A session that has ended is sent to the log-in page, as every page's requests are.
      const loginPath = document.body.dataset.loginUrl || "/accounts/login/";
      const loggedOut = response.redirected && new URL(response.url).pathname === loginPath;
      if (response.ok && data && !loggedOut) answer = data;
      else if (loggedOut || response.status === 401 || response.status === 403) answer = { failure: "Log in again to search." };
      else if (response.status === 400 && data?.detail) answer = { failure: String(data.detail) };
      else answer = { failure: "Search is not available right now. Try again in a moment." };
    } catch (error) {
      if (error.name === "AbortError") return;
      answer = { failure: "Search needs a connection to the server. Try again when it is back." };
    }
    if (controller !== this.controller) return;
    this.controller = null;
    this.popup.removeAttribute("aria-busy");
    // Typed on meanwhile: the next answer is on its way (or the box was emptied).
    if (this.query !== query) return;
    this.render(query, answer);
  }

  /** Show `answer` for `query`; null while the first answer is awaited. */
  render(query, answer) {
    this.shown = answer ? query : null;
    const notices = [];
    const notice = (text, kind) => {
      const p = document.createElement("p");
      p.className = `search-notice search-${kind}`;
      p.textContent = text;
      notices.push(p);
    };
    const results = (answer?.results || []).slice(0, MAX_OPTIONS);
    if (!answer) notice("Searching…", "pending");
    else if (answer.failure) notice(answer.failure, "problem");
    for (const problem of answer?.problems || []) notice(problem.message || problem.code, "problem");
    for (const note of answer?.notes || []) notice(note.message || note.code, "note");
    if (answer?.fuzzy && results.length) notice("No message contains exactly these words; these contain similar ones.", "note");
    const ran = answer && !answer.failure && !(answer.problems || []).length;
    if (ran && !results.length) notice(`No results for “${query}”.`, "empty");
    this.notices.replaceChildren(...notices);
    this.options = results.map((result, index) => this.option(result, index));
    this.list.replaceChildren(...this.options);
    this.list.hidden = !this.options.length;
    const more = Boolean(answer?.more) || (answer?.results || []).length > results.length;
    this.footer.href = this.pageUrl(query);
    this.footer.textContent = more ? `All results for “${query}”` : `Open “${query}” on the results page`;
    this.footer.hidden = !ran;
    this.activate(-1);
    this.show();
    if (!answer) return;
    const count = results.length;
    this.status.textContent = ran
      ? count
        ? `${count}${more ? " or more" : ""} result${count === 1 && !more ? "" : "s"}. Up and down to choose, Enter to open.`
        : "No results."
      : notices.map((p) => p.textContent).join(" ");
  }

  option(result, index) {
    const option = document.createElement("li");
    option.id = `search-option-${index}`;
    option.className = "search-option";
    option.setAttribute("role", "option");
    option.setAttribute("aria-selected", "false");
    option.dataset.url = result.url || "";
    option.dataset.id = result.id;
    const head = document.createElement("span");
    head.className = "search-option-head";
    const author = document.createElement("span");
    author.className = "search-option-author";
    author.textContent = result.author ? result.author.display_name || result.author.username : "Deleted user";
    head.append(roomLabel(result.room), author, timeElement(result.created_at));
    // As on the results page: a reply says it is one (it opens in its thread unless also sent
    // to the room), and a pinned message says so.
    for (const [shown, text] of [
      [result.thread_root_seq, "in a thread"],
      [result.is_pinned, "pinned"],
    ]) {
      if (!shown) continue;
      const tag = document.createElement("span");
      tag.className = "search-option-tag";
      tag.textContent = text;
      head.append(tag);
    }
    const snippet = document.createElement("span");
    snippet.className = "search-snippet";
    fillSnippet(snippet, result.snippet);
    option.append(head, snippet);
    return option;
  }

  show() {
    this.popup.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
  }

  close() {
    if (!this.isOpen) return;
    this.popup.hidden = true;
    this.input.setAttribute("aria-expanded", "false");
    this.activate(-1);
  }

  activate(index) {
    this.active = index;
    chooseOption(this.input, this.options, index);
  }

  /** Go to the message of option `index`, in its room (or thread) around it. */
  open(index, { newTab = false } = {}) {
    const url = this.options[index]?.dataset.url;
    if (!url) return;
    if (newTab) {
      window.open(url, "_blank", "noopener");
      return;
    }
    this.cancel();
    this.close();
    window.location.assign(url);
  }

  key(event) {
    if (event.isComposing) return;
    const count = this.options.length;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!this.isOpen) {
        if (this.shown !== null && this.shown === this.query) this.show();
        else if (this.query) {
          clearTimeout(this.timer);
          this.search(this.query);
        }
        return;
      }
      if (!count) return;
      // Past either end is the box itself again: nothing chosen, Enter opens the results page.
      const positions = count + 1;
      const step = event.key === "ArrowDown" ? 1 : -1;
      const next = ((this.active + 1 + step + positions) % positions) - 1;
      this.activate(next);
    } else if (event.key === "Enter") {
      if (this.isOpen && this.active >= 0) {
        event.preventDefault();
        this.open(this.active, { newTab: event.ctrlKey || event.metaKey });
      }
      // Otherwise the form goes to the results page, as without JavaScript.
    } else if (event.key === "Escape") {
      if (this.isOpen) {
        // The list closes and the words stay; the next Escape clears them (the browser's own).
        event.preventDefault();
        event.stopPropagation();
        this.cancel();
        this.close();
      } else if (!this.input.value) {
        event.preventDefault();
        event.stopPropagation();
        this.collapse();
        if (!this.phone.matches) this.input.blur();
      }
    }
  }
}

/**
 * The results page (templates/search/results.html): its times shown as elsewhere, the dates in
 * its query in the person's time zone, and the room and order controls search again as soon as
 * they change (its Search button is for pages without JavaScript).
 */
export function enhanceResultsPage(root = document) {
  for (const time of root.querySelectorAll(".search-results time[datetime]")) {
    const at = new Date(time.dateTime);
    if (Number.isNaN(at.getTime())) continue;
    time.textContent = shortFormat.format(at);
    time.title = fullFormat.format(at);
  }
  const form = root.querySelector("main form.search-form");
  if (!form) return;
  const tz = form.querySelector("[data-search-tz]");
  if (tz && !tz.value) tz.value = timeZone();
  for (const control of form.querySelectorAll("select[name=room], select[name=order]")) {
    control.addEventListener("change", () => form.requestSubmit());
  }
  form.dataset.enhanced = "true"; // its controls search again from now on
}
