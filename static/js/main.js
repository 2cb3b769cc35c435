// Wires the page: one socket, the connection indicator, the badge, and the room if one is open.

import { Composer } from "./composer.js";
import { localiseTimes } from "./messages.js";
import { watchNotifications } from "./notifications.js";
import { RoomView } from "./room.js";
import { ChatSocket } from "./socket.js";

const body = document.body;
const socket = new ChatSocket(body.dataset.socketPath, { loginUrl: body.dataset.loginUrl });
const me = body.dataset.username;

const stateLabel = document.getElementById("connection-state");
let countdown = null;
socket.addEventListener("state", (event) => {
  const { state, retryAt } = event.detail;
  clearInterval(countdown);
  stateLabel.dataset.state = state;
  if (state === "open") stateLabel.textContent = "Connected";
  else if (state === "connecting") stateLabel.textContent = "Connecting…";
  else if (state === "closed") {
    const tick = () => {
      const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      stateLabel.textContent = `Offline, retrying in ${seconds} s`;
    };
    tick();
    countdown = setInterval(tick, 1000);
  } else stateLabel.textContent = "Signed out";
});

watchNotifications(socket, document.getElementById("notification-badge"));
localiseTimes(document);

const configElement = document.getElementById("room-config");
if (configElement) {
  const config = JSON.parse(configElement.textContent);
  const list = document.getElementById("messages");
  const room = new RoomView({ config, socket, list, me });
  const form = document.getElementById("composer");
  if (form) {
    new Composer({
      form,
      input: document.getElementById("message-input"),
      socket,
      view: room,
      me,
      myName: body.dataset.displayName,
    });
  }
  const older = document.getElementById("load-older");
  older?.addEventListener("click", () => room.loadOlder(older));
}

socket.connect();
