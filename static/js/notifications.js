// The header badge: live count of unread notifications.

export function watchNotifications(socket, badge) {
  if (!badge) return;
  socket.on("notification.new", () => {
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
