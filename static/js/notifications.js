// The header badge: live count of unread notifications.

export function watchNotifications(socket, badge) {
  if (!badge) return;
  socket.on("notification.new", () => {
    const count = Number(badge.textContent || "0") + 1;
    badge.textContent = String(count);
    badge.setAttribute("aria-label", `${count} unread`);
    badge.hidden = false;
  });
}
