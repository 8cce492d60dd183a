// What the web client knows about its chats: pure state, no DOM and no network, so the rules
// that keep a chat correct are tested on their own (tests/interop/webclient/chat-store.test.mjs).
//
// A chat is keyed by its target: "p:<peer user id>" or "g:<group id>" (a chat with a friend
// exists before its first message, when it has no conversationId yet). Its stored messages
// are kept by `seq`, the conversation's own gap-free sequence, so a message seen twice (live,
// replayed after a reconnect, and in a history page) is kept once and always shown in seq
// order; messages still being sent are kept apart, by clientMsgId, and shown after them.
//
// Unread = lastSeq - readSeq, as the server counts it; my own messages move my readSeq, and
// the peer's messages move the peer's. Otherwise the peer's read marker (private chats) comes
// only from live read events: the REST API has no way to ask for it, so after a reload own
// messages show "sent" until the peer reads or writes again.

export const RECALLED = 1;

export function chatKey(type, targetId) {
  return `${type === "group" ? "g" : "p"}:${targetId}`;
}

export function newClientMsgId() {
  const random = globalThis.crypto?.randomUUID?.() ?? `${Math.random()}`.slice(2);
  return `web-${random}`;
}

export class ChatStore {
  constructor(meId) {
    this.me = meId;
    this.chats = new Map(); // key -> chat
    this.byConversation = new Map(); // conversationId -> key
  }

  keyOfMessage(msg) {
    if (msg.chatType === "group") return chatKey("group", msg.groupId);
    return chatKey("private", msg.fromUserId === this.me ? msg.toUserId : msg.fromUserId);
  }

  chat(key, { type, targetId } = {}) {
    let chat = this.chats.get(key);
    if (!chat) {
      chat = {
        key,
        type: type ?? (key.startsWith("g:") ? "group" : "private"),
        targetId: targetId ?? Number(key.slice(2)),
        conversationId: null,
        name: "",
        avatar: "",
        lastSeq: 0,
        readSeq: 0,
        peerReadSeq: 0,
        muted: false,
        updatedAt: 0,
        lastMessage: null,
        messages: new Map(), // seq -> message
        readCounts: new Map(), // seq -> members who read my group message (read_count events)
        pending: [], // {clientMsgId, content, state: "sending" | "failed", error, createdAt}
        historyLoaded: false, // the newest page was fetched once
        listed: false, // the server's conversation list shows it
      };
      this.chats.set(key, chat);
    }
    return chat;
  }

  chatOfConversation(conversationId) {
    const key = this.byConversation.get(conversationId);
    return key ? this.chats.get(key) : undefined;
  }

  setConversationId(chat, conversationId) {
    if (!conversationId || chat.conversationId === conversationId) return;
    chat.conversationId = conversationId;
    this.byConversation.set(conversationId, chat.key);
  }

  /** An item of GET /api/conversation/list (or /api/conversation/lookup). */
  applyConversation(item) {
    const chat = this.chat(chatKey(item.chatType, item.targetId), {
      type: item.chatType,
      targetId: item.targetId,
    });
    this.setConversationId(chat, item.conversationId);
    chat.name = item.name || chat.name;
    chat.avatar = item.avatar || "";
    chat.muted = Boolean(item.muted);
    chat.listed = true;
    chat.readSeq = Math.max(chat.readSeq, item.readSeq ?? 0);
    if (item.peerReadSeq) chat.peerReadSeq = Math.max(chat.peerReadSeq, item.peerReadSeq);
    if ((item.lastSeq ?? 0) >= chat.lastSeq) {
      chat.lastSeq = item.lastSeq ?? 0;
      chat.lastMessage = item.lastMessage ?? chat.lastMessage;
      chat.updatedAt = Math.max(chat.updatedAt, item.updatedAt ?? 0);
    }
    return chat;
  }

  /**
   * A stored message (MESSAGE body, history item, or own message confirmed by its RECEIPT).
   * Returns {chat, added}: `added` is false when this seq was known already.
   */
  applyMessage(msg) {
    const chat = this.chat(this.keyOfMessage(msg), {
      type: msg.chatType,
      targetId: msg.chatType === "group" ? msg.groupId : undefined,
    });
    this.setConversationId(chat, msg.conversationId);
    const known = chat.messages.get(msg.seq);
    const added = !known;
    // A recall is final: a late copy of the original must not bring the content back.
    chat.messages.set(msg.seq, known?.status === RECALLED ? { ...msg, ...recalledPart(known) } : msg);
    if (msg.clientMsgId && msg.fromUserId === this.me) {
      chat.pending = chat.pending.filter((p) => p.clientMsgId !== msg.clientMsgId);
    }
    if (msg.seq >= chat.lastSeq) {
      chat.lastSeq = msg.seq;
      chat.lastMessage = chat.messages.get(msg.seq);
      chat.updatedAt = Math.max(chat.updatedAt, msg.createdAt ?? 0);
    }
    // The server counts a sender's own messages as read by them, so a message of the peer
    // also says the peer has read everything before it (no read event is sent for that).
    if (msg.fromUserId === this.me) chat.readSeq = Math.max(chat.readSeq, msg.seq);
    else if (chat.type === "private") chat.peerReadSeq = Math.max(chat.peerReadSeq, msg.seq);
    return { chat, added };
  }

  /**
   * A page of GET /api/message/history (ascending). `newest`: the page without beforeSeq;
   * when it does not join the messages held already, those are dropped (scroll-back fetches
   * them again), so what is held stays one unbroken run of seqs down from the newest.
   */
  applyHistory(chat, list, { newest = false } = {}) {
    if (newest) {
      const first = list.length ? list[0].seq : chat.lastSeq + 1;
      const held = [...chat.messages.keys()];
      if (held.length && first > Math.max(...held) + 1) chat.messages.clear();
      chat.historyLoaded = true;
    }
    for (const msg of list) this.applyMessage(msg);
    return chat;
  }

  /** Whether scroll-back can show more: seqs start at 1 and have no holes. */
  hasOlder(chat) {
    if (!chat.historyLoaded) return chat.lastSeq > 0;
    const oldest = this.oldestSeq(chat);
    return oldest !== null && oldest > 1;
  }

  /** The seq after which messages are missing (held runs broken), or null when none are. */
  firstGap(chat) {
    const seqs = [...chat.messages.keys()].sort((a, b) => a - b);
    for (let i = 1; i < seqs.length; i++) {
      if (seqs[i] !== seqs[i - 1] + 1) return seqs[i - 1];
    }
    if (chat.historyLoaded && seqs.length && seqs[seqs.length - 1] < chat.lastSeq) {
      return seqs[seqs.length - 1];
    }
    return null;
  }

  oldestSeq(chat) {
    let oldest = Infinity;
    for (const seq of chat.messages.keys()) oldest = Math.min(oldest, seq);
    return oldest === Infinity ? null : oldest;
  }

  /** A read event ({conversationId, userId, seq}) on my private queue. */
  applyRead(event) {
    const chat = this.chatOfConversation(event.conversationId);
    if (!chat) return null;
    if (event.userId === this.me) chat.readSeq = Math.max(chat.readSeq, event.seq);
    else chat.peerReadSeq = Math.max(chat.peerReadSeq, event.seq);
    return chat;
  }

  /** A recall event ({conversationId, messageId, seq, operatorId}) or a recalled message. */
  applyRecall(event) {
    const chat = this.chatOfConversation(event.conversationId);
    if (!chat) return null;
    const recalled = { status: RECALLED, content: "", extra: null, recalledBy: event.operatorId };
    const msg = chat.messages.get(event.seq);
    if (msg) chat.messages.set(event.seq, { ...msg, ...recalled });
    if (chat.lastMessage && chat.lastMessage.id === event.messageId) {
      chat.lastMessage = { ...chat.lastMessage, ...recalled };
    }
    return chat;
  }

  /** A read count of my group message ({conversationId, seq, readCount, memberCount}). */
  applyReadCount(event) {
    const chat = this.chatOfConversation(event.conversationId);
    if (!chat) return null;
    chat.readCounts.set(event.seq, event.readCount);
    return chat;
  }

  /** My READ marker moved (POST /api/message/read answered). */
  markRead(chat, seq) {
    chat.readSeq = Math.max(chat.readSeq, seq);
  }

  unread(chat) {
    return Math.max(0, chat.lastSeq - chat.readSeq);
  }

  addPending(chat, content, now = Date.now()) {
    const entry = { clientMsgId: newClientMsgId(), content, state: "sending", error: "", createdAt: now };
    chat.pending.push(entry);
    return entry;
  }

  /** The RECEIPT of a stored send: the pending entry becomes a stored message. */
  confirmPending(chat, entry, receipt) {
    const seq = Number(receipt.seq);
    const conversationId = Number(receipt.conversationId);
    const stored = chat.messages.get(seq);
    if (!stored) {
      const target = chat.type === "group" ? { groupId: chat.targetId } : { toUserId: chat.targetId };
      this.applyMessage({
        id: Number(receipt.messageId),
        seq,
        conversationId,
        chatType: chat.type,
        fromUserId: this.me,
        ...target,
        type: "text",
        content: entry.content,
        extra: null,
        clientMsgId: entry.clientMsgId,
        createdAt: entry.createdAt,
        status: 0,
      });
    } else {
      chat.pending = chat.pending.filter((p) => p !== entry);
    }
  }

  failPending(chat, entry, error) {
    entry.state = "failed";
    entry.error = error;
  }

  /** Stored messages in seq order, then the pending ones in the order they were written. */
  timeline(chat) {
    const stored = [...chat.messages.values()].sort((a, b) => a.seq - b.seq);
    return { stored, pending: chat.pending };
  }

  /** "read" | "sent" for one of my stored messages. */
  deliveryState(chat, msg) {
    return chat.type === "private" && msg.seq <= chat.peerReadSeq ? "read" : "sent";
  }

  /** Chats for the list: with a message or listed by the server, newest activity first. */
  sortedChats() {
    return [...this.chats.values()]
      .filter((c) => c.listed || c.lastSeq > 0 || c.pending.length)
      .sort((a, b) => b.updatedAt - a.updatedAt || b.lastSeq - a.lastSeq);
  }
}

function recalledPart(msg) {
  return { status: RECALLED, content: "", extra: null, recalledBy: msg.recalledBy };
}
