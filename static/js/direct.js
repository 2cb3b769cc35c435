// Direct messages from wherever a person's name is: the "Message" button of a member list (a form
// that works without JavaScript too), a message's author and a mention chip (a small menu with
// "Message NAME"), and the "New message" page's people picker (a filter as one types, and the
// limit of people kept). Starting a conversation one already has opens it: the server answers
// with the same room (POST /direct/, {"room", "url", "created"}).

function csrfToken() {
  const field = document.querySelector('input[name="csrfmiddlewaretoken"]');
  if (field) return field.value;
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  return cookie ? decodeURIComponent(cookie.slice("csrftoken=".length)) : "";
}

/** Start (or open) the conversation with these usernames and go there; the refusal's detail else. */
export async function startDirect(usernames, { url = "/direct/" } = {}) {
  const body = new URLSearchParams();
  for (const name of usernames) body.append("username", name);
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
      body,
    });
  } catch {
    return { error: "Could not reach the server. Please try again." };
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok || !answer.url) return { error: answer.detail || "The conversation could not be started." };
  window.location.assign(answer.url);
  return answer;
}

/** The "Message" buttons of member lists: the same conversation, without a page in between. */
function enhanceMessageButtons(root, alert) {
  root.addEventListener("submit", async (event) => {
    const form = event.target.closest("form.message-person");
    if (!form) return;
    event.preventDefault();
    const names = new FormData(form).getAll("username");
    const result = await startDirect(names, { url: form.action });
    if (result.error && alert) alert.textContent = result.error;
  });
}

/**
 * A click on someone else's name in a message (its author, or a mention chip) offers a direct
 * message with them: a small menu beside the name, closed by Escape or a click elsewhere.
 */
class PersonMenu {
  constructor({ root, me, names, alert }) {
    this.me = me.toLowerCase();
    this.names = names; // username → display name
    this.alert = alert;
    this.menu = null;
    root.addEventListener("click", (event) => this.clicked(event));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.menu) this.close({ restoreFocus: true });
    });
    document.addEventListener("click", (event) => {
      if (this.menu && !this.menu.contains(event.target) && !this.anchor?.contains(event.target)) this.close();
    });
  }

  clicked(event) {
    const author = event.target.closest(".message .author");
    const mention = event.target.closest(".message .mention");
    let username = null;
    if (author) username = author.closest(".message")?.dataset.author || null;
    else if (mention) username = mention.textContent.replace(/^@/, "");
    if (!username || username.toLowerCase() === this.me) return;
    event.preventDefault();
    this.open(author || mention, username);
  }

  open(anchor, username) {
    this.close();
    const name = this.names.get(username.toLowerCase()) || (anchor.classList.contains("author") ? anchor.textContent : username);
    const menu = document.createElement("div");
    menu.className = "person-menu";
    menu.setAttribute("role", "dialog");
    menu.setAttribute("aria-label", name);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "person-menu-message";
    button.textContent = `Message ${name}`;
    button.addEventListener("click", async () => {
      button.disabled = true;
      const result = await startDirect([username]);
      if (result.error) {
        button.disabled = false;
        if (this.alert) this.alert.textContent = result.error;
        this.close();
      }
    });
    menu.append(button);
    const rect = anchor.getBoundingClientRect();
    menu.style.left = `${Math.max(8, rect.left + window.scrollX)}px`;
    menu.style.top = `${rect.bottom + window.scrollY + 4}px`;
    document.body.append(menu);
    this.menu = menu;
    this.anchor = anchor;
    button.focus();
  }

  close({ restoreFocus = false } = {}) {
    this.menu?.remove();
    this.menu = null;
    if (restoreFocus) this.anchor?.focus?.();
  }
}

/** The "New message" page: filter the people as one types; keep within the limit of people. */
function enhancePicker(form) {
  const filter = form.querySelector("#direct-filter");
  const status = form.querySelector("#direct-picker-status");
  const boxes = Array.from(form.querySelectorAll('input[type="checkbox"][name="username"]'));
  // The limit counts the starter, who is not in the list.
  const most = Math.max(1, Number(form.dataset.maxPeople || 9) - 1);
  const update = () => {
    const chosen = boxes.filter((box) => box.checked);
    for (const box of boxes) box.disabled = !box.checked && chosen.length >= most;
    if (!status) return;
    if (chosen.length === 0) status.textContent = "Choose someone to write to.";
    else if (chosen.length >= most) status.textContent = `${chosen.length} people chosen: a conversation takes no more.`;
    else status.textContent = `${chosen.length} ${chosen.length === 1 ? "person" : "people"} chosen.`;
  };
  const applyFilter = () => {
    const words = (filter?.value || "").trim().toLowerCase().split(/\s+/).filter(Boolean);
    for (const item of form.querySelectorAll(".direct-person")) {
      const text = item.dataset.search || "";
      item.hidden = !words.every((word) => text.includes(word));
    }
  };
  // Typed before the script ran (or kept by the browser on Back): applied at once.
  applyFilter();
  filter?.addEventListener("input", applyFilter);
  filter?.addEventListener("keydown", (event) => {
    // Enter in the filter ticks the one person it leaves, rather than posting the form.
    if (event.key !== "Enter") return;
    event.preventDefault();
    const shown = Array.from(form.querySelectorAll(".direct-person:not([hidden]) input:not(:disabled)"));
    if (shown.length === 1) {
      shown[0].checked = !shown[0].checked;
      update();
    }
  });
  form.addEventListener("change", update);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const names = boxes.filter((box) => box.checked).map((box) => box.value);
    if (names.length === 0) {
      update();
      return;
    }
    const result = await startDirect(names, { url: form.action });
    if (result.error && status) status.textContent = result.error;
  });
  update();
}

export function enhanceDirect({ root = document, me = "", members = [] } = {}) {
  const alert = document.getElementById("room-alert");
  enhanceMessageButtons(root, alert);
  const names = new Map(members.map((m) => [m.username.toLowerCase(), m.display_name || m.username]));
  new PersonMenu({ root: document.getElementById("main") || root, me, names, alert });
  const picker = document.getElementById("direct-picker");
  if (picker) enhancePicker(picker);
}
