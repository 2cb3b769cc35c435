// Rendering of one message: user text only ever through textContent.

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });

export function renderMessage(message, { me, pending = false } = {}) {
  const item = document.createElement("li");
  item.className = "message";
  fillMessage(item, message, { me, pending });
  return item;
}

export function fillMessage(item, message, { me, pending = false }) {
  item.replaceChildren();
  item.classList.toggle("own", message.author.username === me);
  item.classList.toggle("mentions-me", (message.mentions || []).includes(me));
  item.classList.toggle("pending", pending);
  if (message.id) item.dataset.id = message.id;
  if (message.seq) {
    item.dataset.seq = message.seq;
    item.id = `m${message.seq}`;
  }
  if (message.client_id) item.dataset.clientId = message.client_id;

  const meta = document.createElement("div");
  meta.className = "meta";
  const author = document.createElement("span");
  author.className = "author";
  author.textContent = message.author.display_name || message.author.username;
  author.title = `@${message.author.username}`;
  meta.append(author, " ");
  const time = document.createElement("time");
  if (message.created_at) {
    const at = new Date(message.created_at);
    time.dateTime = message.created_at;
    time.textContent = timeFormat.format(at);
    time.title = fullFormat.format(at);
  }
  meta.append(time);
  if (pending) {
    const state = document.createElement("span");
    state.className = "send-state";
    state.textContent = "sending…";
    meta.append(" ", state);
  }
  const body = document.createElement("div");
  body.className = "body";
  body.textContent = message.body;
  item.append(meta, body);
}

export function localiseTimes(root) {
  for (const time of root.querySelectorAll("time[datetime]")) {
    const at = new Date(time.dateTime);
    if (Number.isNaN(at.getTime())) continue;
    if (time.closest(".message")) time.textContent = timeFormat.format(at);
    time.title = fullFormat.format(at);
  }
}
