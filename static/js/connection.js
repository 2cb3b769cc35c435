// How the connection is doing: a status for screen readers in the header, and a discreet banner
// while it is lost, counting down to the next try, gone as soon as it is back.

export function watchConnection(socket, { status, banner }) {
  const label = status.querySelector(".connection-label") || status;
  const text = banner?.querySelector(".connection-banner-text");
  let countdown = null;
  let lost = false;

  banner?.querySelector("#reconnect-now")?.addEventListener("click", () => socket.reconnectNow());

  socket.addEventListener("state", (event) => {
    const { state, retryAt } = event.detail;
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
      // Announced once; the countdown is for the eyes only, not read out every second.
      if (!lost) label.textContent = "Offline: connection lost, reconnecting automatically";
      lost = true;
      const tick = () => {
        const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
        if (text) text.textContent = `Connection lost. Retrying in ${seconds} s…`;
      };
      tick();
      countdown = setInterval(tick, 1000);
      if (banner) banner.hidden = false;
    } else {
      label.textContent = "Signed out";
    }
  });
}
