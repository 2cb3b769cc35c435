// Wires the page: one socket, the connection banner, the badges, the desktop notifications, the search box,
// the sidebar, the outbox of unsent messages, the followed threads, and the room (with its thread panel) if
// one is open.

import { MessageActions } from "./actions.js";
import { Composer, forgetDrafts, keepAsDraft } from "./composer.js";
import { watchConnection } from "./connection.js";
import { DesktopNotifier, enhanceDesktopSettings } from "./desktop.js";
import { enhanceDirect } from "./direct.js";
import { EmojiPicker } from "./emoji-picker.js";
import { MentionPicker } from "./mentions.js";
import { localiseTimes, setViewer } from "./messages.js";
import { watchNotifications } from "./notifications.js";
import { NotifySettings } from "./notify-settings.js";
import { Outbox } from "./outbox.js";
import { PinnedList } from "./pins.js";
import { PresenceReporter, PresenceStore, PresenceView } from "./presence.js";
import { enhanceStatusForm } from "./profile.js";
import { ReadReceipts } from "./receipts.js";
import { Reminders } from "./reminders.js"; // reminders (issue 15)
import { RoomView } from "./room.js";
import { enhanceResultsPage, SearchBox } from "./search.js";
import { Drawer, RoomList } from "./sidebar.js";
import { ChatSocket } from "./socket.js";
import { ThreadPanel } from "./thread.js";
import { ThreadStore, ThreadsPage } from "./threads.js";
import { TypingWatcher } from "./typing.js";

// A thread's own page is for browsers without JavaScript: here the thread opens beside its room.
const panelUrl = document.querySelector("[data-panel-url]")?.dataset.panelUrl;
if (panelUrl) window.location.replace(panelUrl + window.location.hash);

const body = document.body;
const socket = new ChatSocket(body.dataset.socketPath, { loginUrl: body.dataset.loginUrl });
const me = body.dataset.username;
// Every page sends what is waiting, for any room: a message typed before a reload goes out even
// if the person went on to another room.
const outbox = new Outbox({ socket, me });

// Every tab says whether its person is here; every page may show who else is.
new PresenceReporter({ socket });
const presence = new PresenceStore({ socket });

watchConnection(socket, {
  status: document.getElementById("connection-state"),
  banner: document.getElementById("connection-banner"),
});
// Every page counts the followed threads' unread replies, for the header's Threads badge.
const threads = new ThreadStore({ socket, me, badge: document.getElementById("threads-badge") });
let threadPanel = null;
watchNotifications(socket, document.getElementById("notification-badge"), document.getElementById("notification-list"), {
  readingThread: (room, root) => threads.isReading(room, root),
  readNotified: () => threadPanel?.readNotified(),
});
// Every page pops what concerns its person while the tab is hidden (one tab of several).
const desktop = new DesktopNotifier({ socket, me });
const desktopSettings = document.getElementById("desktop-settings");
if (desktopSettings) enhanceDesktopSettings(desktopSettings, desktop);
localiseTimes(document);
// Notification control (issue 16): its forms, the DND indicator, every device following.
new NotifySettings({ socket });
const searchForm = document.getElementById("search-form");
if (searchForm) {
  new SearchBox({
    form: searchForm,
    input: document.getElementById("search-box"),
    opener: document.getElementById("search-open"),
    closer: document.getElementById("search-close"),
  });
}
enhanceResultsPage(document);
const threadList = document.getElementById("thread-list");
if (threadList) {
  new ThreadsPage({
    store: threads,
    list: threadList,
    jsonUrl: threadList.dataset.jsonUrl || `${window.location.pathname}?format=json`,
    empty: document.getElementById("threads-empty"),
  });
}
const statusForm = document.getElementById("status-form");
if (statusForm) enhanceStatusForm(statusForm);
document.querySelector(".logout-form")?.addEventListener("submit", () => forgetDrafts(me));

const configElement = document.getElementById("room-config");
const config = configElement ? JSON.parse(configElement.textContent) : null;

// Direct messages (issue 16): "Message" on people's names, the New message page's picker.
enhanceDirect({ me, members: config?.members || [] });

// reminders (issue 15): "Remind me" in the room's message menus; a reminder's desktop notification on every page.
new Reminders({ socket, roomId: config?.id ?? null });

const sidebar = document.getElementById("sidebar");
if (sidebar) {
  new RoomList({ nav: sidebar, socket, me, openRoomId: config?.id ?? null });
  new Drawer({
    toggle: document.getElementById("sidebar-toggle"),
    panel: sidebar,
    bodyClass: "sidebar-open",
    query: "(max-width: 767px)",
  });
}

if (config) {
  const list = document.getElementById("messages");
  const canManage = Boolean(config.can_manage);
  const minutes = (value) => Math.max(0, Number(value) || 0) * 60 * 1000;
  setViewer({
    me,
    canManage,
    // Only members change messages; where managers keep pins to themselves, only they pin.
    canPin: Boolean(config.member) && (config.pins_by !== "managers" || canManage),
    editWindowMs: minutes(config.edit_window_minutes),
    deleteWindowMs: minutes(config.delete_window_minutes),
    names: new Map((config.members || []).map((m) => [m.username, m.display_name || m.username])),
    // Whoever may write in the room (the page has its composer) may reply in its threads.
    canReply: Boolean(config.member) && Boolean(document.getElementById("composer")),
    canRemind: Boolean(config.member), // reminders (issue 15)
    threadsUrl: config.threads_url || `/rooms/${config.slug}/threads/{root}/`,
  });
  const room = new RoomView({ config, socket, list, me, jumpButton: document.getElementById("jump-latest") });
  // The members' statuses as the page was rendered; their presence comes after the hello.
  for (const member of config.members || []) if (member.status) presence.apply({ id: member.id, status: member.status });
  if (config.presence === false) presence.enabled = false;
  const presenceView = new PresenceView({
    store: presence,
    root: document,
    members: config.members || [],
    me,
    invisible: Boolean(config.awareness?.invisible),
  });
  room.addEventListener("message", (event) => presenceView.paintItem(event.detail.item));
  for (const item of list.querySelectorAll(".message[data-seq]")) presenceView.paintItem(item);
  // Receipts and typing are for members, in rooms small enough to have them on.
  if (config.receipts && config.member) new ReadReceipts({ view: room, socket, me });
  const typing = config.typing && config.member ? new TypingWatcher({ socket, me }) : null;
  const emojiPicker = new EmojiPicker({ me, url: config.emoji_url || "/emoji.json" });
  const actions = new MessageActions({
    view: room,
    socket,
    list,
    me,
    picker: emojiPicker,
    versionsUrl: config.versions_url || `/rooms/${config.slug}/messages/{seq}/versions/`,
    canSeeVersions: config.can_see_versions !== false,
    alert: document.getElementById("room-alert"),
  });
  const pinsToggle = document.getElementById("pins-toggle");
  if (pinsToggle) new PinnedList({ view: room, toggle: pinsToggle, panel: document.getElementById("pins-panel") });
  const form = document.getElementById("composer");
  let composer = null;
  if (form) {
    const input = document.getElementById("message-input");
    composer = new Composer({
      form,
      input,
      socket,
      outbox,
      view: room,
      me,
      myName: body.dataset.displayName,
      picker: new MentionPicker({ input, container: form, members: config.members || [], me, presence }),
      editLast: () => actions.editLast(input),
      typing: Boolean(typing),
    });
    const typingLine = document.getElementById("typing-room");
    if (typing && typingLine) typing.show(typingLine, room.roomId, null);
  }
  const panel = document.getElementById("thread-panel");
  if (panel) {
    threadPanel = new ThreadPanel({
      panel,
      room,
      config,
      socket,
      outbox,
      store: threads,
      me,
      myName: body.dataset.displayName,
      picker: emojiPicker,
      presence,
    });
    threadPanel.addEventListener("message", (event) => presenceView.paintItem(event.detail.item));
    const threadTyping = document.getElementById("typing-thread");
    if (typing && threadTyping) {
      const shownThread = () => (threadPanel.isOpen ? threadPanel.root : null);
      threadPanel.addEventListener("retarget", typing.show(threadTyping, room.roomId, shownThread));
    }
  }
  socket.on("room.left", (frame) => {
    if (frame.room.id !== room.roomId) return;
    room.leave();
    composer?.disable("You are no longer a member of this room.");
    threadPanel?.composer?.disable("You are no longer a member of this room.");
  });
  socket.on("room.joined", (frame) => {
    if (frame.room.id !== room.roomId) return;
    room.rejoin();
    composer?.enable();
    threadPanel?.composer?.enable();
  });
  const older = document.getElementById("load-older");
  older?.addEventListener("click", () => room.loadOlder(older));
  const members = document.getElementById("members");
  const membersToggle = document.getElementById("members-toggle");
  if (members && membersToggle) {
    new Drawer({ toggle: membersToggle, panel: members, bodyClass: "members-open", query: "(max-width: 1199px)" });
  }
}

// Refused while its room was not on screen: nothing the person wrote is thrown away.
outbox.addEventListener("refused", (event) => {
  const { roomId, threadRoot, entry } = event.detail;
  if (!event.defaultPrevented) keepAsDraft(me, roomId, entry.body, threadRoot);
});

socket.connect();
