// Avatar colours: one of eight, chosen from the username, the same on every page and tab.

const AVATAR_COLOURS = 8;

export function avatarClass(username) {
  let hash = 0;
  for (const char of username || "") hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return `avatar-c${hash % AVATAR_COLOURS}`;
}

export function paintAvatar(element) {
  const username = element.dataset.avatarFor;
  if (username !== undefined) element.classList.add(avatarClass(username));
}
