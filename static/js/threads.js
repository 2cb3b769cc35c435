// The threads this person follows, on every page: their unread replies, the header's Threads
// badge (how many followed threads have unread replies), and the Threads page kept live.
//
// The server's word is each thread's state T (`threads.state` after every (re)connect, then
// `thread.followed` and `thread.read`, each to every socket of the person); between two, a reply
// by someone else in a followed, unmuted thread, newer than both the read pointer and the newest
// reply the last T covered, counts one more. Each T replaces what was counted, so every count
// comes back to the server's, and to exactly 0 once the thread is read. A thread open and
// visible in this tab (thread.js says which) is being read: its replies are not counted here,
// the panel sends `thread.read` for them at once. An unread reply deleted asks the server again
// (`threads.sync`).

const SNIPPET_CHARS = 140;
// Several deletes together make one threads.sync.
const RESYNC_DEBOUNCE_MS = 300;
const shortFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function threadKey(room, root) {
  return `${room}:${root}`;
}

function snippet(text) {
  const chars = Array.from((text || "").replace(/\s+/g, " ").trim());
  return chars.length > SNIPPET_CHARS ? `${chars.slice(0, SNIPPET_CHARS - 1).join("")}…` : chars.join("");
}

export class ThreadStore extends EventTarget {
  constructor({ socket, me, badge = null }) {
    super();
    this.socket = socket;
    this.me = me;
    this.badge = badge;
    this.threads = new Map(); // "room:root" → T, plus `newest`: the newest reply seq counted
    this.reading = null; // () => {room, root} of the thread this tab shows and reads, or null
    this.synced = false;
    this.resyncTimer = null;

    socket.addEventListener("open", () => socket.send({ type: "threads.sync" }));
    socket.on("threads.state", (frame) => this.replaceAll(frame.threads || []));
    socket.on("thread.followed", (frame) => frame.thread && this.update(frame.thread));
    socket.on("thread.read", (frame) => frame.thread && this.update(frame.thread));
    socket.on("message.new", (frame) => this.heard(frame.message));
    // A sync by change brings replies (and the roots' new summaries) as updates too.
    socket.on("message.updated", (frame) => this.heard(frame.message));
  }

  get(room, root) {
    return this.threads.get(threadKey(room, root)) || null;
  }

  /** Followed threads, newest activity first. */
  list() {
    return Array.from(this.threads.values())
      .filter((t) => t.following)
      .sort((a, b) => (Date.parse(b.last_reply_at || 0) || 0) - (Date.parse(a.last_reply_at || 0) || 0) || b.root - a.root);
  }

  unreadOf(thread) {
    return thread && thread.following && !thread.muted ? Math.max(0, thread.unread || 0) : 0;
  }

  /** How many followed threads have unread replies: the header's badge. */
  unreadThreads() {
    let count = 0;
    for (const thread of this.threads.values()) if (this.unreadOf(thread) > 0) count += 1;
    return count;
  }

  replaceAll(threads) {
    const before = this.threads;
    this.threads = new Map();
    for (const thread of threads) this.threads.set(threadKey(thread.room, thread.root), this.merge(before, thread));
    this.synced = true;
    this.changed(null);
  }

  update(thread) {
    const key = threadKey(thread.room, thread.root);
    this.threads.set(key, this.merge(this.threads, thread));
    this.changed(this.threads.get(key));
  }

  /**
   * The server's T, keeping what this tab knows that T may not say: the newest reply seq heard
   * (so a reply frame that T already counted is not counted again) and the root's excerpt.
   */
  merge(known, thread) {
    const old = known.get(threadKey(thread.room, thread.root));
    const newest = Math.max(Number(thread.last_reply_seq) || 0, old?.newest || 0);
    return { ...old, ...thread, newest, root_message: thread.root_message || old?.root_message || null };
  }

  isReading(room, root) {
    const open = this.reading?.();
    return Boolean(open && open.room === room && open.root === root);
  }

  heard(message) {
    if (!message) return;
    if (message.thread && !message.thread_root) {
      // A root's new summary: the thread's activity, for the order of the Threads view.
      const thread = this.get(message.room, message.seq);
      if (!thread) return;
      thread.reply_count = message.thread.reply_count;
      thread.last_reply_at = message.thread.last_reply_at;
      thread.root_message = message;
      this.changed(thread);
      return;
    }
    if (!message.thread_root) return;
    const thread = this.get(message.room, message.thread_root);
    if (!thread) return;
    if (message.deleted && message.seq > (thread.last_read_seq || 0) && message.author?.username !== this.me) {
      // An unread reply deleted is no longer unread; whether it was counted here or in the last
      // state is not known, so the server says (once for several deletes).
      clearTimeout(this.resyncTimer);
      this.resyncTimer = setTimeout(() => this.socket.send({ type: "threads.sync" }), RESYNC_DEBOUNCE_MS);
      return;
    }
    if (message.seq <= (thread.newest || 0)) return;
    thread.newest = message.seq;
    const counts =
      !message.deleted &&
      message.author?.username !== this.me &&
      message.seq > (thread.last_read_seq || 0) &&
      !this.isReading(message.room, message.thread_root);
    if (counts) thread.unread = (thread.unread || 0) + 1;
    this.changed(thread);
  }

  changed(thread) {
    this.renderBadge();
    this.dispatchEvent(new CustomEvent("change", { detail: { thread } }));
  }

  renderBadge() {
    if (!this.badge) return;
    const count = this.unreadThreads();
    this.badge.textContent = String(count);
    this.badge.setAttribute("aria-label", `${count} thread${count === 1 ? "" : "s"} with unread replies`);
    this.badge.hidden = count === 0;
  }
}

/**
 * The Threads page (server-rendered, templates/messaging/threads.html), kept live: the list is
 * rebuilt from the store in its order, each entry's unread count with it; a thread followed
 * while the page is open is fetched (`?format=json`) for its room and excerpt.
 */
export class ThreadsPage {
  constructor({ store, list, jsonUrl, empty = null }) {
    this.store = store;
    this.list = list;
    this.jsonUrl = jsonUrl;
    this.empty = empty;
    this.rooms = new Map(); // room id → { slug, name }
    this.fetching = null;
    this.asked = new Set(); // threads the page's JSON was asked for, so a missing one is asked once
    // Rooms by id: from the sidebar's links, and the entries the server rendered.
    for (const link of document.querySelectorAll("a[data-room-id]")) {
      const slug = /^\/rooms\/([^/]+)\/$/.exec(new URL(link.href, window.location.href).pathname)?.[1];
      if (slug) {
        this.rooms.set(Number(link.dataset.roomId), {
          slug: decodeURIComponent(slug),
          name: link.querySelector(".room-name")?.textContent || "",
        });
      }
    }
    for (const entry of list.querySelectorAll("[data-room][data-root]")) {
      if (entry.dataset.roomSlug) {
        this.rooms.set(Number(entry.dataset.room), { slug: entry.dataset.roomSlug, name: entry.dataset.roomName || "" });
      }
    }
    store.addEventListener("change", () => this.render());
    this.refresh();
  }

  async refresh() {
    if (this.fetching) return this.fetching;
    this.fetching = (async () => {
      try {
        const response = await fetch(this.jsonUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (!response.ok) return;
        const { threads } = await response.json();
        for (const thread of threads || []) {
          if (thread.room_slug) this.rooms.set(thread.room, { slug: thread.room_slug, name: thread.room_name || "" });
          const known = this.store.get(thread.room, thread.root);
          // The store's own counts are newer than the page's answer if it has any.
          if (known) known.root_message = thread.root_message || known.root_message;
          else if (!this.store.synced) this.store.update(thread);
        }
      } catch {
        return;
      } finally {
        this.fetching = null;
      }
      this.render();
    })();
    return this.fetching;
  }

  render() {
    const threads = this.store.list();
    if (!this.store.synced && !threads.length) return; // the server's list stands until then
    const missing = threads.filter((t) => !t.root_message || !this.rooms.has(t.room));
    if (missing.some((t) => !this.asked.has(threadKey(t.room, t.root)))) {
      for (const t of missing) this.asked.add(threadKey(t.room, t.root));
      this.refresh();
    }
    const entries = threads.filter((t) => this.rooms.has(t.room)).map((t) => this.entry(t));
    this.list.replaceChildren(...entries);
    if (this.empty) this.empty.hidden = entries.length > 0;
  }

  entry(thread) {
    const room = this.rooms.get(thread.room);
    const root = thread.root_message;
    const unread = this.store.unreadOf(thread);
    const item = document.createElement("li");
    item.className = unread ? "thread-entry unread" : "thread-entry";
    item.dataset.room = thread.room;
    item.dataset.root = thread.root;
    item.dataset.roomSlug = room.slug;
    item.dataset.roomName = room.name;
    const link = document.createElement("a");
    link.className = "thread-entry-link";
    link.href = `/rooms/${encodeURIComponent(room.slug)}/?thread=${thread.root}`;
    const head = document.createElement("span");
    head.className = "thread-entry-head";
    const where = document.createElement("span");
    where.className = "thread-entry-room";
    where.textContent = room.name || room.slug;
    head.append(where);
    if (root) {
      const author = document.createElement("strong");
      author.className = "thread-entry-author";
      author.textContent = root.author?.display_name || root.author?.username || "";
      head.append(" · ", author);
    }
    const excerpt = document.createElement("span");
    excerpt.className = "thread-entry-body";
    excerpt.textContent = root?.deleted ? "Message deleted" : snippet(root?.body);
    const meta = document.createElement("span");
    meta.className = "thread-entry-meta";
    const replies = thread.reply_count || 0;
    meta.append(`${replies} ${replies === 1 ? "reply" : "replies"}`);
    if (thread.last_reply_at) {
      const time = document.createElement("time");
      time.dateTime = thread.last_reply_at;
      const at = new Date(thread.last_reply_at);
      time.textContent = Number.isNaN(at.getTime()) ? "" : shortFormat.format(at);
      meta.append(" · last ", time);
    }
    if (thread.muted) meta.append(" · muted");
    link.append(head, excerpt, meta);
    const badge = document.createElement("span");
    badge.className = "unread-count thread-unread";
    badge.textContent = String(unread);
    badge.setAttribute("aria-label", `${unread} unread`);
    badge.hidden = unread === 0;
    item.append(link, badge);
    return item;
  }
}
