// The web client's session with a node: REST for lists and actions, one STOMP connection for
// everything live, and the rules that keep both in step across reconnects. No DOM: views
// listen for its events ("chats", "chat", "social", "notifications", "people",
// "connection", "toast"). People, friends, requests and notifications live in its
// `directory` (directory.mjs); chats in its `store` (chat-store.mjs).
//
// Start-up (start): load the lists over REST, then connect. Every SUBSCRIBE to a chat
// destination names the last message already held (`x-since-seq`): on /user/queue/chat the
// last place of my inbox seen live (its `seq` header; before any, none: from now), on
// /topic/chat/<gid> the group conversation's highest seq.
// After a network drop the broker replays what was stored meanwhile before live messages,
// and ChatStore keeps one copy of each by seq, so nothing is lost, doubled or out of order.
// Sends wait in the outbox (outbox.mjs) until their RECEIPT says "stored".

import { ChatStore, chatKey } from "./chat-store.mjs";
import { Directory } from "./directory.mjs";
import { Outbox } from "./outbox.mjs";
import { StompClient } from "./stomp.mjs";

const HISTORY_PAGE = 30;
const LIST_PAGE = 100;
const CONVERSATION_NOT_FOUND = 3005; // /api/conversation/lookup: no conversation yet

const WS_URL_KEY = "stompim.wsUrl";

/**
 * Where the STOMP WebSocket may be (README "Web client"): the configured public URL, else the
 * page's own host and port (STOMP on the REST port), then the STOMP listener's port. The one
 * that answered last time in this tab is tried first.
 */
function wsCandidates(config) {
  if (config.wsUrl) return [config.wsUrl];
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const samePort = config.stompPath ?? config.wsPath; // "" when the REST port serves no STOMP
  const urls = [
    sessionStorage.getItem(WS_URL_KEY),
    samePort ? `${scheme}//${location.host}${samePort}` : null,
    `${scheme}//${location.hostname}:${config.wsPort}${config.wsPath}`,
  ];
  const known = new Set(urls.slice(1).filter(Boolean));
  return [...new Set(urls.filter((url) => url && known.has(url)))];
}

export class Messenger extends EventTarget {
  constructor(api, me, config) {
    super();
    this.api = api;
    this.me = me;
    this.config = config;
    this.store = new ChatStore(me.id);
    this.directory = new Directory(api, me, (type, detail) => this.emit(type, detail));
    this.groups = new Map(); // group id -> group JSON (with myRole)
    this.listCursor = null; // nextCursor of the conversation list, while it has more
    this.privateSince = 0; // last place of my inbox seen (the seq header of /user/queue/chat)
    this.groupSince = new Map(); // group id -> highest seq held
    this.groupSubs = new Map(); // group id -> subscription
    this.outbox = new Outbox(this);
    this.openKey = null;
    this.readInFlight = new Set();
    this.candidates = wsCandidates(config);
    this.candidate = 0;
    this.wasConnected = false;
    this.stomp = null;
    this.stale = false;
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  toast(text, kind = "info") {
    this.emit("toast", { text, kind });
  }

  // -- start and stop --------------------------------------------------------------------

  /** Loads the lists and connects; throws the first list that failed (the connection is
   * made anyway, and the lists are loaded again once it is up). */
  async start() {
    const [lists, people] = await Promise.all([
      Promise.allSettled([this.loadConversations(), this.loadGroups()]),
      this.directory.reload(),
    ]);
    const failed = [...lists, ...people].find((r) => r.status === "rejected");
    this.stale = Boolean(failed);
    this.connect();
    if (failed) throw failed.reason;
  }

  connect() {
    const client = new StompClient({
      url: () => this.candidates[this.candidate % this.candidates.length],
      connectHeaders: () => ({ Authorization: `Bearer ${this.api.token}` }),
      heartbeat: { outgoing: 10000, incoming: 10000 },
      reconnect: { initialDelay: 500, maxDelay: 10000 },
      beforeConnect: () => (this.wasConnected ? this.loadGroups() : undefined),
      debug: (text) => console.debug(`stomp: ${text}`),
    });
    client.onStateChange = (state) => this.emit("connection", { state });
    client.onConnect = (frame, { reconnected }) => this.connected(reconnected);
    client.onDisconnect = ({ wasConnected }) => {
      // A URL that never got as far as CONNECTED: try the next one.
      if (!wasConnected && !this.wasConnected) this.candidate += 1;
    };
    client.onStompError = (frame) => {
      console.warn("STOMP ERROR", frame.headers.message, frame.body);
    };
    client.subscribe("/user/queue/chat", (f) => this.onPrivate(f), () => this.privateSinceHeader());
    client.subscribe("/user/queue/notification", (f) => {
      // presence events (x-event: presence) are not notification-center entries
      if (!f.headers["x-event"]) this.onNotification(f.json());
    });
    client.subscribe("/user/queue/errors", (f) => this.onRefusal(f.json()));
    this.stomp = client;
    this.syncGroupSubscriptions();
    client.activate();
    this.groupTimer = setInterval(() => this.watchGroups(), 60000);
  }

  async stop() {
    clearInterval(this.groupTimer);
    if (this.stomp) await this.stomp.deactivate();
    this.stomp = null;
  }

  /**
   * Membership that arrives without a notification (a friend adding me to a new group) is
   * found by asking again: when the window comes back into view, and once a minute.
   */
  watchGroups() {
    const now = Date.now();
    if (now - (this.groupsCheckedAt ?? 0) < 15000 || !this.stomp?.connected) return;
    this.groupsCheckedAt = now;
    const known = new Set(this.groups.keys());
    this.loadGroups()
      .then(() => {
        if ([...this.groups.keys()].some((gid) => !known.has(gid))) return this.loadConversations();
        return undefined;
      })
      .catch(() => {});
  }

  privateSinceHeader() {
    // Resume from the last place of the inbox seen live. Before any was seen, subscribe
    // from now: a reconnect reloads the conversation list, which shows what came meanwhile.
    return this.privateSince > 0 ? { "x-since-seq": String(this.privateSince) } : {};
  }

  async connected(reconnected) {
    this.wasConnected = true;
    sessionStorage.setItem(WS_URL_KEY, this.candidates[this.candidate % this.candidates.length]);
    this.outbox.flush();
    if (!reconnected && !this.stale) return;
    this.stale = false;
    // Pushes that fell into the gap are not replayed: ask again.
    await Promise.allSettled([this.loadConversations(), this.loadGroups(), this.directory.reload()]);
    if (this.openKey) this.fillGaps(this.store.chat(this.openKey));
  }

  // -- lists -----------------------------------------------------------------------------

  displayName(userId) {
    return this.directory.displayName(userId);
  }

  /** The first page of the conversation list (or, with `cursor`, the next one). */
  async loadConversations(cursor = null) {
    const page = await this.api.get("/api/conversation/list", { limit: LIST_PAGE, cursor });
    this.listCursor = page.hasMore ? page.nextCursor : null;
    for (const item of page.list) {
      const chat = this.store.applyConversation(item);
      if (item.chatType === "group") {
        this.groupSince.set(item.targetId, Math.max(this.groupSince.get(item.targetId) ?? 0, item.lastSeq));
      }
      if (chat.key === this.openKey) this.fillGaps(chat);
    }
    this.emit("chats");
  }

  async loadGroups() {
    const groups = await this.api.get("/api/group/my");
    this.groups = new Map(groups.map((g) => [g.id, g]));
    for (const group of groups) {
      const chat = this.store.chat(chatKey("group", group.id));
      chat.name = group.name;
    }
    this.syncGroupSubscriptions();
    this.emit("social");
    this.emit("chats");
    this.emit("chat", { key: this.openKey }); // its header: name, members, still a member?
  }

  /** One subscription per group I am in: new groups added, groups I left dropped. */
  syncGroupSubscriptions() {
    if (!this.stomp) return;
    for (const [gid, sub] of this.groupSubs) {
      if (!this.groups.has(gid)) {
        sub.unsubscribe();
        this.groupSubs.delete(gid);
      }
    }
    for (const gid of this.groups.keys()) {
      if (this.groupSubs.has(gid)) continue;
      const sub = this.stomp.subscribe(
        `/topic/chat/${gid}`,
        (frame) => this.onGroup(gid, frame),
        () => (this.groupSince.has(gid) ? { "x-since-seq": String(this.groupSince.get(gid)) } : {}),
      );
      this.groupSubs.set(gid, sub);
    }
  }

  // -- live events -----------------------------------------------------------------------

  onPrivate(frame) {
    const event = frame.headers["x-event"];
    const body = frame.json();
    if (event === "read") {
      const chat = this.store.applyRead(body);
      if (chat) this.changed(chat);
      return;
    }
    if (event === "recall") {
      const chat = this.store.applyRecall(body);
      if (chat) this.changed(chat);
      return;
    }
    if (event === "read_count") {
      const chat = this.store.applyReadCount(body);
      if (chat) this.changed(chat);
      return;
    }
    if (event) return; // typing, delivered, draft, pin, ...: not messages
    const id = Number(frame.headers.seq);
    if (Number.isFinite(id)) this.privateSince = Math.max(this.privateSince, id);
    this.received(body);
  }

  onGroup(gid, frame) {
    const body = frame.json();
    if (frame.headers["x-event"] === "recall") {
      const chat = this.store.applyRecall(body);
      if (chat) this.changed(chat);
      return;
    }
    if (frame.headers["x-event"]) return; // typing, ...: not messages
    const seq = Number(frame.headers.seq);
    if (Number.isFinite(seq)) this.groupSince.set(gid, Math.max(this.groupSince.get(gid) ?? 0, seq));
    this.received(body);
    // A group event (a join, a rename, a role...): the group's name, roles and members changed.
    if (body.type === "system") this.loadGroups().catch(() => {});
  }

  received(msg) {
    const known = this.store.chats.has(this.store.keyOfMessage(msg));
    const { chat, added } = this.store.applyMessage(msg);
    if (!known || !chat.listed) {
      chat.listed = true;
      if (!chat.name) {
        chat.name = chat.type === "group"
          ? this.groups.get(chat.targetId)?.name ?? `group ${chat.targetId}`
          : this.displayName(chat.targetId);
      }
    }
    if (chat.key === this.openKey && !chat.historyLoaded) this.loadNewest(chat);
    else if (added && chat.key === this.openKey) this.fillGaps(chat);
    this.changed(chat);
  }

  /** A notification push: counted, shown, and what it is about is loaded again. */
  onNotification(n) {
    const dir = this.directory;
    dir.addNotification(n);
    this.toast(n.message);
    const type = n.type;
    if (type === "FRIEND_REQUEST" || type === "FRIEND_REJECTED") dir.loadRequests().catch(() => {});
    if (type === "FRIEND_ACCEPTED") {
      dir.loadRequests().catch(() => {});
      dir.loadFriends().catch(() => {});
    }
    if (type === "GROUP_INVITATION") dir.loadInvitations().catch(() => {});
    if (type.startsWith("GROUP_") || type.startsWith("INVITATION_")) {
      this.loadGroups().catch(() => {});
    }
  }

  /**
   * A refused SEND, on /user/queue/errors. Ours carry their receipt id: that settles the
   * waiting send (a node that also answers the RECEIPT with x-error-code settled it first,
   * and this is a no-op). Anything else is shown.
   */
  onRefusal(error) {
    if (error.receipt && this.stomp) {
      this.stomp.cancelReceipt(error.receipt, "refused", error.message || `error ${error.code}`);
    } else {
      this.toast(error.message || "refused", "error");
    }
  }

  changed(chat) {
    this.emit("chats");
    if (chat.key === this.openKey) {
      this.emit("chat", { key: chat.key });
      this.markReadIfSeen(chat);
    }
  }

  // -- one chat --------------------------------------------------------------------------

  async open(key) {
    this.openKey = key;
    const chat = key ? this.store.chat(key) : null;
    if (chat && !chat.name && chat.type === "private") chat.name = this.displayName(chat.targetId);
    if (chat && chat.type === "group" && !chat.name) chat.name = this.groups.get(chat.targetId)?.name ?? "";
    this.emit("chat", { key, opened: true });
    if (!chat) return;
    if (!chat.conversationId) await this.findConversation(chat);
    if (chat.conversationId && !chat.historyLoaded) this.loadNewest(chat);
    else this.markReadIfSeen(chat);
  }

  /**
   * A chat opened from Contacts or Groups whose conversation is not known: new since the list
   * was loaded (a group just joined), or beyond its first page. Asked by
   * /api/conversation/lookup; code 3005 means there is none yet (no message between us).
   */
  async findConversation(chat) {
    try {
      const item = await this.api.get("/api/conversation/lookup", {
        chatType: chat.type,
        targetId: chat.targetId,
      });
      this.store.applyConversation(item);
      if (chat.type === "group") {
        this.groupSince.set(chat.targetId, Math.max(this.groupSince.get(chat.targetId) ?? 0, item.lastSeq));
      }
    } catch (error) {
      if (error.code !== CONVERSATION_NOT_FOUND) console.warn("looking for the conversation failed", error);
    }
  }

  /** The newest page of an opened chat (once; what arrives later is added live). */
  async loadNewest(chat) {
    if (chat.loadingNewest || !chat.conversationId) return;
    chat.loadingNewest = true;
    try {
      const list = await this.api.get("/api/message/history", {
        conversationId: chat.conversationId,
        limit: HISTORY_PAGE,
      });
      this.store.applyHistory(chat, list, { newest: true });
      this.noteSeen(chat, list);
    } catch (error) {
      this.toast(`history: ${error.message}`, "error");
      return;
    } finally {
      chat.loadingNewest = false;
    }
    this.emit("chat", { key: chat.key, scroll: "bottom" });
    this.fillGaps(chat);
    this.markReadIfSeen(chat);
  }

  /** Scroll-back: the page before the oldest message held (keyset by seq). */
  async loadOlder(chat) {
    const oldest = this.store.oldestSeq(chat);
    if (!chat.conversationId || oldest === null || oldest <= 1 || chat.loadingOlder) return;
    chat.loadingOlder = true;
    try {
      const list = await this.api.get("/api/message/history", {
        conversationId: chat.conversationId,
        beforeSeq: oldest,
        limit: HISTORY_PAGE,
      });
      this.store.applyHistory(chat, list);
      this.noteSeen(chat, list);
      this.emit("chat", { key: chat.key, scroll: "keep" });
    } catch (error) {
      this.toast(`history: ${error.message}`, "error");
    } finally {
      chat.loadingOlder = false;
    }
  }

  /** Fetch what is missing between held messages (afterSeq pages), a bounded number of times. */
  async fillGaps(chat) {
    if (chat.filling || !chat.conversationId || !chat.historyLoaded) return;
    chat.filling = true;
    try {
      for (let round = 0; round < 20; round++) {
        const after = this.store.firstGap(chat);
        if (after === null) break;
        const list = await this.api.get("/api/message/history", {
          conversationId: chat.conversationId,
          afterSeq: after,
          limit: 100,
        });
        if (!list.length) break;
        this.store.applyHistory(chat, list);
        this.noteSeen(chat, list);
      }
    } catch (error) {
      console.warn("filling a gap failed", error);
    } finally {
      chat.filling = false;
    }
    this.emit("chat", { key: chat.key });
    this.markReadIfSeen(chat);
  }

  /**
   * A group's resume point may move past messages fetched over REST: they are of that one
   * conversation, and fillGaps fetches any hole below them. The private queue's point never
   * does: it spans every private conversation, so only what arrived on the queue moves it.
   */
  noteSeen(chat, list) {
    if (chat.type !== "group") return;
    for (const msg of list) {
      this.groupSince.set(chat.targetId, Math.max(this.groupSince.get(chat.targetId) ?? 0, msg.seq));
    }
  }

  /** Move my read marker when the open chat is in front of the user. */
  async markReadIfSeen(chat) {
    if (chat.key !== this.openKey || !chat.conversationId) return;
    if (typeof document !== "undefined" && (document.hidden || !document.hasFocus())) return;
    if (this.store.unread(chat) === 0 || this.readInFlight.has(chat.key)) return;
    this.readInFlight.add(chat.key);
    const seq = chat.lastSeq;
    try {
      const result = await this.api.post("/api/message/read", {
        conversationId: chat.conversationId,
        seq,
      });
      this.store.markRead(chat, result.readSeq);
      this.emit("chats");
    } catch (error) {
      console.warn("marking read failed", error);
    } finally {
      this.readInFlight.delete(chat.key);
    }
    if (this.store.unread(chat) > 0 && chat.lastSeq > seq) this.markReadIfSeen(chat);
  }

  async recall(chat, msg) {
    try {
      const stored = await this.api.post(`/api/message/${msg.id}/recall`);
      this.store.applyRecall({
        conversationId: stored.conversationId,
        messageId: stored.id,
        seq: stored.seq,
        operatorId: this.me.id,
      });
      this.changed(chat);
    } catch (error) {
      this.toast(error.message, "error");
    }
  }

  canRecall(chat, msg) {
    if (msg.status === 1) return false;
    if (chat.type === "group" && (this.groups.get(chat.targetId)?.myRole ?? 0) >= 1) return true;
    if (msg.fromUserId !== this.me.id) return false;
    return Date.now() - msg.createdAt < this.config.recallWindowSeconds * 1000;
  }
}
