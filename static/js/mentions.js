// The @mention grammar, and the member list that `@` in the message box opens: a listbox the
// textarea points into with aria-activedescendant, driven by the arrow keys, Enter/Tab, Escape
// and the mouse.
//
// The grammar is the server's (messaging/mentions.py); both are checked against the same table
// of cases, tests/mention_cases.json. `@` at the start or after a character that is not a word
// character (so `bob@example.com` is an address), then the name: word characters and `.`, `+`,
// `-` (not `@`: `@bob.@carol` names bob and carol). Sentence punctuation at the end of a name
// belongs to the sentence.

import { avatarClass } from "./avatars.js";
import { presenceDot, presenceLabel } from "./presence.js";

const WORD = String.raw`\p{L}\p{N}_`;
/** One mention, as a regular expression source (flag `u`): `@` and the name, punctuation and all. */
export const MENTION_SOURCE = String.raw`(?<![${WORD}])@[${WORD}.+-]+`;
export const TRAILING_MENTION_PUNCTUATION = /[.,:;!?)]+$/;
// Bounds the server's one resolving query; nobody needs to mention more people in a message.
export const MAX_MENTIONS = 50;
const MENTION_PATTERN = new RegExp(MENTION_SOURCE, "gu");

/** The names `body` mentions, lower-cased, in order of first appearance, without repeats. */
export function parseMentions(body) {
  const names = new Set();
  for (const match of body.matchAll(MENTION_PATTERN)) {
    const name = match[0].slice(1).replace(TRAILING_MENTION_PUNCTUATION, "").toLowerCase();
    if (name) names.add(name);
    if (names.size >= MAX_MENTIONS) break;
  }
  return Array.from(names);
}

const MAX_OPTIONS = 8;
// @room and @here (notifications/audience.py): offered after the members whose names match.
// Whether the author may use them is the server's to say (the composer asks before sending).
export const GROUP_MENTIONS = [
  { username: "room", display_name: "Notify everyone in this room", group: true },
  { username: "here", display_name: "Notify everyone online now", group: true },
];
// The name being typed: `@` at the start or after a non-word character, up to the caret.
const TYPING_PATTERN = new RegExp(String.raw`(?:^|[^${WORD}])@([${WORD}.+-]*)$`, "u");

export class MentionPicker {
  constructor({ input, container, members, me, idPrefix = "mention", presence = null, groups = true }) {
    // A direct conversation passes `groups: false`: @room and @here mean nothing there.
    this.groups = groups ? GROUP_MENTIONS : [];
    this.input = input;
    this.presence = presence; // a PresenceStore: a dot on each member's avatar
    this.idPrefix = idPrefix; // ids stay unique with a second message box (the thread's) on the page
    this.members = members.filter((member) => member.username !== me);
    this.list = document.createElement("ul");
    this.list.id = `${idPrefix}-list`;
    this.list.className = "mention-list";
    this.list.setAttribute("role", "listbox");
    this.list.setAttribute("aria-label", "Members to mention");
    this.list.hidden = true;
    container.append(this.list);
    this.status = document.createElement("p");
    this.status.className = "visually-hidden";
    this.status.setAttribute("role", "status");
    container.append(this.status);
    this.options = [];
    this.active = -1;
    this.start = -1; // where the `@` is in the input's value

    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", this.list.id);
    input.addEventListener("input", () => this.update());
    input.addEventListener("click", () => this.update());
    input.addEventListener("blur", () => this.close());
    // Picking with the mouse must not blur the input first.
    this.list.addEventListener("mousedown", (event) => event.preventDefault());
  }

  get isOpen() {
    return !this.list.hidden;
  }

  update() {
    const caret = this.input.selectionStart;
    if (caret !== this.input.selectionEnd) return this.close();
    const match = TYPING_PATTERN.exec(this.input.value.slice(0, caret));
    if (!match) return this.close();
    const query = match[1].toLowerCase();
    this.start = caret - match[1].length - 1;
    const found = this.members
      .filter(
        (member) =>
          member.username.toLowerCase().startsWith(query) ||
          member.display_name
            .toLowerCase()
            .split(/\s+/)
            .some((word) => word.startsWith(query)),
      )
      .concat(query ? this.groups.filter((group) => group.username.startsWith(query)) : [])
      .slice(0, MAX_OPTIONS);
    if (!found.length) return this.close();
    this.render(found);
  }

  render(members) {
    const previous = this.options[this.active]?.dataset.username;
    this.options = members.map((member, index) => {
      const option = document.createElement("li");
      option.id = `${this.idPrefix}-option-${index}`;
      option.className = "mention-option";
      option.setAttribute("role", "option");
      option.dataset.username = member.username;
      const avatar = document.createElement("span");
      avatar.className = `avatar avatar-small ${avatarClass(member.username)}`;
      avatar.setAttribute("aria-hidden", "true");
      avatar.textContent = member.group ? "@" : Array.from(member.display_name || member.username)[0].toUpperCase();
      const face = document.createElement("span");
      face.className = "avatar-with-presence";
      face.append(avatar);
      const person = this.presence && Number.isInteger(member.id) ? this.presence.get(member.id) : null;
      const known = person && this.presence.enabled && person.state ? person : null;
      if (known) {
        const dot = presenceDot(this.presence, member.id);
        dot.removeAttribute("role");
        dot.removeAttribute("aria-label");
        dot.setAttribute("aria-hidden", "true");
        face.append(dot);
      }
      const name = document.createElement("span");
      name.textContent = member.display_name;
      const handle = document.createElement("span");
      handle.className = "muted";
      handle.textContent = `@${member.username}`;
      option.append(face, name, " ", handle);
      if (known) {
        const presence = document.createElement("span");
        presence.className = "visually-hidden";
        presence.textContent = `, ${presenceLabel(known)}`;
        option.append(presence);
      }
      option.addEventListener("click", () => this.pick(index));
      option.addEventListener("mousemove", () => this.activate(index));
      return option;
    });
    this.list.replaceChildren(...this.options);
    this.list.hidden = false;
    const keep = this.options.findIndex((option) => option.dataset.username === previous);
    this.activate(keep >= 0 ? keep : 0);
    const count = this.options.length;
    this.status.textContent = `${count} member${count === 1 ? "" : "s"} found. Up and down to choose, Enter to pick.`;
  }

  activate(index) {
    this.active = index;
    this.options.forEach((option, i) => option.setAttribute("aria-selected", String(i === index)));
    const option = this.options[index];
    if (!option) return;
    this.input.setAttribute("aria-activedescendant", option.id);
    option.scrollIntoView({ block: "nearest" });
  }

  pick(index) {
    const option = this.options[index];
    if (!option) return;
    const caret = this.input.selectionStart;
    const value = this.input.value;
    const insert = `@${option.dataset.username} `;
    this.input.value = value.slice(0, this.start) + insert + value.slice(caret).replace(/^ /, "");
    const position = this.start + insert.length;
    this.input.setSelectionRange(position, position);
    this.close();
    this.input.focus();
    this.input.dispatchEvent(new Event("input", { bubbles: true }));
  }

  close() {
    if (this.list.hidden) return;
    this.list.hidden = true;
    this.list.replaceChildren();
    this.options = [];
    this.active = -1;
    this.status.textContent = "";
    this.input.removeAttribute("aria-activedescendant");
  }

  /** The composer's keydown asks first: true when the key was the picker's. */
  handleKey(event) {
    if (!this.isOpen || event.isComposing) return false;
    const count = this.options.length;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.activate((this.active + step + count) % count);
    } else if ((event.key === "Enter" && !event.shiftKey) || event.key === "Tab") {
      this.pick(this.active);
    } else if (event.key === "Escape") {
      this.close();
    } else {
      return false;
    }
    event.preventDefault();
    event.stopPropagation();
    return true;
  }
}
