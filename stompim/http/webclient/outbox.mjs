// The web client's outbox: messages written but not yet answered by their RECEIPT.
//
// Each waits here (and in sessionStorage, so a reload, or signing in again after the session
// ended, sends it instead of losing it) until the node answers its SEND: stored (RECEIPT
// with message-id, seq) or refused (a RECEIPT with x-error-code, or on older nodes the
// /user/queue/errors MESSAGE naming the receipt, which the Messenger turns into
// cancelReceipt). A send cut off by a drop is sent again after the reconnect (flush) with
// the same clientMsgId, which the server never stores twice. A refused one stays in its chat,
// marked failed, until the user retries or discards it.

export class Outbox {
  constructor(messenger) {
    this.m = messenger;
    this.entries = []; // {chat, entry}, oldest first
    this.sends = 0;
    this.restore();
  }

  get storageKey() {
    return `stompim.outbox.${this.m.me.id}`;
  }

  save() {
    const waiting = this.entries.map(({ chat, entry }) => ({
      key: chat.key,
      clientMsgId: entry.clientMsgId,
      content: entry.content,
      createdAt: entry.createdAt,
    }));
    try {
      if (waiting.length) sessionStorage.setItem(this.storageKey, JSON.stringify(waiting));
      else sessionStorage.removeItem(this.storageKey);
    } catch {
      // storage full or disabled: the entries still live in memory
    }
  }

  restore() {
    let waiting = [];
    try {
      waiting = JSON.parse(sessionStorage.getItem(this.storageKey) ?? "[]");
    } catch {
      return;
    }
    for (const { key, clientMsgId, content, createdAt } of waiting) {
      const chat = this.m.store.chat(key);
      const entry = { clientMsgId, content, createdAt, state: "sending", error: "" };
      chat.pending.push(entry);
      this.entries.push({ chat, entry });
    }
  }

  /** Send everything waiting, in the order written (on every connect). */
  flush() {
    for (const { chat, entry } of [...this.entries]) this.transmit(chat, entry);
  }

  add(chat, content) {
    const entry = this.m.store.addPending(chat, content);
    this.entries.push({ chat, entry });
    this.save();
    this.m.changed(chat);
    if (this.m.stomp?.connected) this.transmit(chat, entry);
  }

  retry(chat, entry) {
    entry.state = "sending";
    entry.error = "";
    if (!this.entries.some((o) => o.entry === entry)) this.entries.push({ chat, entry });
    this.save();
    this.m.changed(chat);
    if (this.m.stomp?.connected) this.transmit(chat, entry);
  }

  discard(chat, entry) {
    chat.pending = chat.pending.filter((p) => p !== entry);
    this.entries = this.entries.filter((o) => o.entry !== entry);
    this.save();
    this.m.changed(chat);
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
      receipt = await this.m.stomp.sendWithReceipt(destination, JSON.stringify(body), {
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
      if (error.reason === "timeout") this.m.stomp.dropConnection();
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
    this.entries = this.entries.filter((o) => o.entry !== entry);
    this.save();
    if (refusal) {
      this.m.store.failPending(chat, entry, refusal);
    } else {
      this.m.store.confirmPending(chat, entry, {
        messageId: headers["message-id"],
        seq: headers.seq,
        conversationId: headers["conversation-id"],
      });
      if (!chat.historyLoaded && chat.key === this.m.openKey) this.m.loadNewest(chat);
    }
    this.m.changed(chat);
  }
}
