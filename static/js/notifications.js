// The header badge: live count of unread notifications; on the notifications page, the list
// loses the ones whose message was deleted.
//
// A notification may arrive before the message it points to (held behind a gap): the badge counts
// it at once; the room, if open, fetches the message itself (room.js) and never renders it from
// the notification.
//
// A thread's replies make one notification while it is unread, sent again (same id) as replies
// come; frames that carry `unread` (the server's count) set the badge to it, so an update is
// never counted twice. A reply notification for the thread this tab is reading does not bump the
// badge at all: `readingThread` says so, and `readNotified` reads the thread again, which marks
// the notification read (the server then says how many are left).

function setBadge(badge, unread) {
  badge.textContent = String(unread);
  badge.setAttribute("aria-label", `${unread} unread`);
  badge.hidden = unread === 0;
}

export function watchNotifications(socket, badge, list = null, { readingThread = null, readNotified = null } = {}) {
  if (!badge) return;
  const counted = new Set();
  socket.on("notification.new", (frame) => {
    const notification = frame.notification || {};
    if (notification.kind === "reply" && readingThread?.(notification.room ?? notification.message?.room, notification.thread_root)) {
      readNotified?.();
      return;
    }
    if (Number.isInteger(frame.unread)) {
      if (notification.id !== undefined) counted.add(notification.id);
      setBadge(badge, frame.unread);
      return;
    }
    // The same notification twice (a resend after a reconnect, a reply notification brought up
    // to date) counts once.
    const id = notification.id;
    if (frame.updated && id !== undefined) counted.add(id);
    if (id !== undefined) {
      if (counted.has(id)) return;
      counted.add(id);
    }
    const count = Number(badge.textContent || "0") + 1;
    badge.textContent = String(count);
    badge.setAttribute("aria-label", `${count} unread`);
    badge.hidden = false;
  });
  // Read in another tab (or on the notifications page): the server says how many are left.
  socket.on("notification.read", (frame) => setBadge(badge, frame.unread));
  // Their message was deleted: they are gone, from the count and from the list.
  socket.on("notification.removed", (frame) => {
    if (Number.isInteger(frame.unread)) setBadge(badge, frame.unread);
    if (!list) return;
    for (const id of frame.ids || []) list.querySelector(`.notification[data-id="${Number(id)}"]`)?.remove();
    if (!list.querySelector(".notification")) {
      const empty = document.createElement("li");
      empty.className = "muted empty-state";
      empty.textContent = "Nothing yet. When someone @mentions you, or replies in a thread you follow, it shows up here.";
      list.replaceChildren(empty);
    }
  });
}
