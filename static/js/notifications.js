// The header badge: live count of unread notifications.
//
// A notification may arrive before the message it points to (held behind a gap): the badge counts
// it at once; the room, if open, fetches the message itself (room.js) and never renders it from
// the notification.

export function watchNotifications(socket, badge) {
  if (!badge) return;
  const counted = new Set();
  socket.on("notification.new", (frame) => {
    // The same notification twice (a resend after a reconnect) counts once.
    const id = frame.notification?.id;
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
  socket.on("notification.read", (frame) => {
    badge.textContent = String(frame.unread);
    badge.setAttribute("aria-label", `${frame.unread} unread`);
    badge.hidden = frame.unread === 0;
  });
}
