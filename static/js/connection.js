// How the connection is doing: a status for screen readers in the header, and a discreet banner
// while it is lost, counting down to the next try, gone as soon as it is back.

export function watchConnection(socket, { status, banner }) {
  const label = status.querySelector(".connection-label") || status;
  const text = banner?.querySelector(".connection-banner-text");
  let countdown = null;
  let lost = false;
  let lostReason = null;

  banner?.querySelector("#reconnect-now")?.addEventListener("click", () => socket.reconnectNow());

  socket.addEventListener("state", (event) => {
    const { state, retryAt, reason } = event.detail;
    clearInterval(countdown);
    status.dataset.state = state;
    if (state === "open") {
      lost = false;
      label.textContent = "Connected";
      if (banner) banner.hidden = true;
    } else if (state === "connecting") {
      label.textContent = lost ? "Reconnecting…" : "Connecting…";
      if (lost && text) text.textContent = "Reconnecting…";
    } else if (state === "closed") {
      // Announced once (or when the reason changes); the countdown is for the eyes only, not
      // read out every second.
      const why = reason || "Connection lost";
      const announcement = reason
        ? `Offline: ${reason.toLowerCase()}, retrying automatically`
        : "Offline: connection lost, reconnecting automatically";
      if (!lost || lostReason !== why) label.textContent = announcement;
      lost = true;
      lostReason = why;
      const tick = () => {
        const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
        if (text) text.textContent = `${why}. Retrying in ${seconds} s…`;
      };
      tick();
      countdown = setInterval(tick, 1000);
      if (banner) banner.hidden = false;
    } else {
      label.textContent = "Signed out";
    }
  });
}
