// The web client's session with a node: REST for lists and actions, one STOMP connection for
// everything live, and the rules that keep both in step across reconnects. No DOM: views
// listen for its events ("chats", "chat", "social", "notifications", "connection", "toast").
//
// Start-up (start): load the lists over REST, then connect. Every SUBSCRIBE to a chat
// destination names the last message already held (`x-since-seq`): on /user/queue/chat the
// highest private message id seen, on /topic/chat/<gid> the group conversation's highest seq.
// After a network drop the broker replays what was stored meanwhile before live messages,
// and ChatStore keeps one copy of each by seq, so nothing is lost, doubled or out of order.
// Sends wait in an outbox until their RECEIPT ("stored"); a send cut off by a drop is sent
// again after the reconnect with the same clientMsgId, which the server never stores twice.
// The outbox is kept in sessionStorage too, so a reload (or signing in again after the
// session ended) sends what was still waiting instead of losing it.

import { StompClient } from "./stomp.mjs";
import { ChatStore, chatKey } from "./chat-store.mjs";

const HISTORY_PAGE = 30;
const LIST_PAGE = 100;

function wsCandidates(config) {
  if (config.wsUrl) return [config.wsUrl];
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const urls = [
    `${scheme}//${location.host}${config.wsPath}`,
    `${scheme}//${location.hostname}:${config.wsPort}${config.wsPath}`,
  ];
  return [...new Set(urls)];
}

export class Messenger extends EventTarget {
  constructor(api, me, config) {
    super();
    this.api = api;
    this.me = me;
    this.config = config;
    this.store = new ChatStore(me.id);
    this.people = new Map(); // user id -> {id, username, nickname, avatar}
    this.peopleLoading = new Map();
    this.friends = [];
    this.requestsIn = [];
    this.requestsOut = [];
    this.groups = new Map(); // group id -> group JSON (with myRole)
    this.invitations = [];
    this.notifications = { list: [], total: 0, unread: 0, page: 0 };
    this.privateSince = 0; // highest private message id held (the seq header of /user/queue/chat)
    this.groupSince = new Map(); // group id -> highest seq held
    this.groupSubs = new Map(); // group id -> subscription
    this.outbox = []; // {chat, entry} waiting for a RECEIPT
    this.sends = 0;
    this.openKey = null;
    this.readInFlight = new Set();
    this.candidates = wsCandidates(config);
    this.candidate = 0;
    this.wasConnected = false;
    this.stomp = null;
    this.stale = false;
    this.remember(me);
    this.restoreOutbox();
  }

  get outboxKey() {
    return `stompim.outbox.${this.me.id}`;
  }

  saveOutbox() {
    const waiting = this.outbox.map(({ chat, entry }) => ({
      key: chat.key,
      clientMsgId: entry.clientMsgId,
      content: entry.content,
      createdAt: entry.createdAt,
    }));
    try {
      if (waiting.length) sessionStorage.setItem(this.outboxKey, JSON.stringify(waiting));
      else sessionStorage.removeItem(this.outboxKey);
    } catch {
      // storage full or disabled: the outbox still lives in memory
    }
  }

  restoreOutbox() {
    let waiting = [];
    try {
      waiting = JSON.parse(sessionStorage.getItem(this.outboxKey) ?? "[]");
    } catch {
      return;
    }
    for (const { key, clientMsgId, content, createdAt } of waiting) {
      const chat = this.store.chat(key);
      const entry = { clientMsgId, content, createdAt, state: "sending", error: "" };
      chat.pending.push(entry);
      this.outbox.push({ chat, entry });
    }
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
    const results = await Promise.allSettled([
      this.loadConversations(),
      this.loadGroups(),
      this.loadFriends(),
      this.loadRequests(),
      this.loadInvitations(),
      this.loadNotificationCount(),
    ]);
    const failed = results.find((r) => r.status === "rejected");
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
    client.subscribe("/user/queue/notification", (f) => this.onNotification(f.json()));
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
    // Always on a reconnect (0 = "everything", for a user who had no message yet).
    return this.privateSince > 0 || this.wasConnected ? { "x-since-seq": String(this.privateSince) } : {};
  }

  async connected(reconnected) {
    this.wasConnected = true;
    for (const { chat, entry } of [...this.outbox]) this.transmit(chat, entry);
    if (!reconnected && !this.stale) return;
    this.stale = false;
    // Pushes that fell into the gap are not replayed: ask again.
    await Promise.allSettled([
      this.loadConversations(),
      this.loadGroups(),
      this.loadRequests(),
      this.loadInvitations(),
      this.loadNotificationCount(),
      this.notifications.page ? this.loadNotifications() : null,
      this.loadFriends(),
    ]);
    if (this.openKey) this.fillGaps(this.store.chat(this.openKey));
  }

  // -- lists -----------------------------------------------------------------------------

  remember(user) {
    if (!user || !user.id) return;
    const known = this.people.get(user.id) ?? {};
    this.people.set(user.id, { ...known, ...user });
  }

  displayName(userId) {
    if (userId === this.me.id) return this.me.nickname || this.me.username;
    const friend = this.friends.find((f) => f.friendId === userId);
    if (friend) return friend.remark || friend.nickname || friend.username;
    const person = this.people.get(userId);
    if (person) return person.nickname || person.username || `user ${userId}`;
    this.lookUp(userId);
    return `user ${userId}`;
  }

  lookUp(userId) {
    if (this.peopleLoading.has(userId)) return;
    const loading = this.api
      .get(`/api/user/info/${userId}`)
      .then((user) => {
        this.remember(user);
        this.emit("chats");
        this.emit("chat", { key: this.openKey });
      })
      .catch(() => {});
    this.peopleLoading.set(userId, loading);
  }

  async loadConversations() {
    const page = await this.api.get("/api/conversation/list", { limit: LIST_PAGE });
    for (const item of page.list) {
      const chat = this.store.applyConversation(item);
      const last = item.lastMessage;
      if (item.chatType === "group") {
        this.groupSince.set(item.targetId, Math.max(this.groupSince.get(item.targetId) ?? 0, item.lastSeq));
      }
      if (last) this.privateSince = Math.max(this.privateSince, last.id);
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

  async loadFriends() {
    this.friends = await this.api.get("/api/friend/list");
    for (const f of this.friends) {
      this.remember({ id: f.friendId, username: f.username, nickname: f.nickname, avatar: f.avatar });
      const chat = this.store.chats.get(chatKey("private", f.friendId));
      if (chat && !chat.name) chat.name = f.remark || f.nickname || f.username;
    }
    this.emit("social");
  }

  async loadRequests() {
    const [incoming, outgoing] = await Promise.all([
      this.api.get("/api/friend/request/received"),
      this.api.get("/api/friend/request/sent"),
    ]);
    this.requestsIn = incoming;
    this.requestsOut = outgoing;
    for (const r of incoming) this.remember(r.fromUser);
    for (const r of outgoing) this.remember(r.toUser);
    this.emit("social");
  }

  async loadInvitations() {
    this.invitations = await this.api.get("/api/group/invitation");
    this.emit("social");
  }

  async loadNotificationCount() {
    this.notifications.unread = await this.api.get("/api/notification/unread-count");
    this.emit("notifications");
  }

  async loadNotifications(more = false) {
    const page = more ? this.notifications.page + 1 : 1;
    const data = await this.api.get("/api/notification", { page, size: 20 });
    const list = more ? [...this.notifications.list, ...data.list] : data.list;
    const seen = new Set();
    this.notifications.list = list.filter((n) => !seen.has(n.id) && seen.add(n.id));
    this.notifications.total = data.total;
    this.notifications.page = page;
    this.emit("notifications");
  }

  async markNotificationRead(n) {
    if (n.read) return;
    await this.api.put("/api/notification/read", { ids: [n.id] });
    n.read = true;
    this.notifications.unread = Math.max(0, this.notifications.unread - 1);
    this.emit("notifications");
  }

  async markNotificationsRead() {
    await this.api.put("/api/notification/read-all");
    for (const n of this.notifications.list) n.read = true;
    this.notifications.unread = 0;
    this.emit("notifications");
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
    const seq = Number(frame.headers.seq);
    if (Number.isFinite(seq)) this.groupSince.set(gid, Math.max(this.groupSince.get(gid) ?? 0, seq));
    this.received(body);
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
    if (added && chat.key === this.openKey) this.fillGaps(chat);
    this.changed(chat);
  }

  onNotification(n) {
    this.notifications.unread += n.read ? 0 : 1;
    if (this.notifications.page) {
      this.notifications.list = [n, ...this.notifications.list.filter((x) => x.id !== n.id)];
      this.notifications.total += 1;
    }
    this.emit("notifications");
    this.toast(n.message);
    const type = n.type;
    if (type === "FRIEND_REQUEST" || type === "FRIEND_REJECTED") this.loadRequests().catch(() => {});
    if (type === "FRIEND_ACCEPTED") {
      this.loadRequests().catch(() => {});
      this.loadFriends().catch(() => {});
    }
    if (type === "GROUP_INVITATION") this.loadInvitations().catch(() => {});
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

  open(key) {
    this.openKey = key;
    const chat = key ? this.store.chat(key) : null;
    if (chat && !chat.name && chat.type === "private") chat.name = this.displayName(chat.targetId);
    if (chat && chat.type === "group" && !chat.name) chat.name = this.groups.get(chat.targetId)?.name ?? "";
    this.emit("chat", { key, opened: true });
    if (!chat) return;
    if (chat.conversationId && !chat.historyLoaded) this.loadNewest(chat);
    else this.markReadIfSeen(chat);
  }

  async loadNewest(chat) {
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

  send(chat, content) {
    const entry = this.store.addPending(chat, content);
    this.outbox.push({ chat, entry });
    this.saveOutbox();
    this.changed(chat);
    if (this.stomp?.connected) this.transmit(chat, entry);
  }

  retry(chat, entry) {
    entry.state = "sending";
    entry.error = "";
    if (!this.outbox.some((o) => o.entry === entry)) this.outbox.push({ chat, entry });
    this.saveOutbox();
    this.changed(chat);
    if (this.stomp?.connected) this.transmit(chat, entry);
  }

  discard(chat, entry) {
    chat.pending = chat.pending.filter((p) => p !== entry);
    this.outbox = this.outbox.filter((o) => o.entry !== entry);
    this.saveOutbox();
    this.changed(chat);
  }

  async transmit(chat, entry) {
    if (entry.inFlight) return;
    entry.inFlight = true;
    const body = { type: "text", content: entry.content, clientMsgId: entry.clientMsgId };
    const destination = chat.type === "group" ? "/app/chat/group" : "/app/chat/private";
    if (chat.type === "group") body.groupId = chat.targetId;
    else body.toUserId = chat.targetId;
    let receipt;
    try {
      receipt = await this.stomp.sendWithReceipt(destination, JSON.stringify(body), {
        "x-client-msg-id": entry.clientMsgId,
        "content-type": "application/json",
        receipt: `send-${++this.sends}-${entry.clientMsgId}`,
      });
    } catch (error) {
      entry.inFlight = false;
      if (error.reason === "refused") {
        this.settled(chat, entry, null, error.message);
        return;
      }
      // Lost with the connection: sent again, with the same clientMsgId, once reconnected.
      if (error.reason === "timeout") this.stomp.dropConnection();
      return;
    }
    entry.inFlight = false;
    const headers = receipt.headers;
    const refusal = headers["x-error-code"]
      ? headers["x-error-message"] || `error ${headers["x-error-code"]}`
      : null;
    this.settled(chat, entry, headers, refusal);
  }

  /** A send answered: stored (RECEIPT headers) or refused (the reason). */
  settled(chat, entry, headers, refusal) {
    this.outbox = this.outbox.filter((o) => o.entry !== entry);
    this.saveOutbox();
    if (refusal) {
      this.store.failPending(chat, entry, refusal);
    } else {
      this.store.confirmPending(chat, entry, {
        messageId: headers["message-id"],
        seq: headers.seq,
        conversationId: headers["conversation-id"],
      });
      if (!chat.historyLoaded && chat.key === this.openKey) this.loadNewest(chat);
    }
    this.changed(chat);
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
