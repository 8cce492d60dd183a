// Pure tests of the web client's chat state (stompim/http/webclient/chat-store.mjs): one copy
// of each message whatever way it arrives, seq order, receipts, read markers, recall, gaps.
import { test } from "node:test";
import assert from "node:assert/strict";

import { ChatStore, chatKey } from "../../../stompim/http/webclient/chat-store.mjs";

const ME = 1;
const PEER = 2;

function msg(seq, from = PEER, extra = {}) {
  return {
    id: 100 + seq,
    seq,
    conversationId: 9,
    chatType: "private",
    fromUserId: from,
    toUserId: from === ME ? PEER : ME,
    type: "text",
    content: `m${seq}`,
    extra: null,
    clientMsgId: null,
    createdAt: 1000 + seq,
    status: 0,
    ...extra,
  };
}

const contents = (store, chat) => store.timeline(chat).stored.map((m) => m.content);

test("live, replayed and paged copies of a message are kept once, in seq order", () => {
  const store = new ChatStore(ME);
  const { chat } = store.applyMessage(msg(3));
  store.applyMessage(msg(1));
  assert.equal(store.applyMessage(msg(3)).added, false);
  store.applyHistory(chat, [msg(1), msg(2), msg(3)], { newest: true });
  store.applyMessage(msg(2));
  assert.deepEqual(contents(store, chat), ["m1", "m2", "m3"]);
  assert.equal(chat.key, chatKey("private", PEER));
  assert.equal(store.chatOfConversation(9), chat);
});

test("unread is lastSeq - readSeq; my own message reads everything before it", () => {
  const store = new ChatStore(ME);
  const { chat } = store.applyMessage(msg(1));
  store.applyMessage(msg(2));
  assert.equal(store.unread(chat), 2);
  store.applyRead({ conversationId: 9, userId: ME, seq: 1 });
  assert.equal(store.unread(chat), 1);
  store.applyMessage(msg(3, ME));
  assert.equal(store.unread(chat), 0);
});

test("the peer's read marker: read events, and the peer's own messages", () => {
  const store = new ChatStore(ME);
  const { chat } = store.applyMessage(msg(1, ME));
  store.applyMessage(msg(2, ME));
  assert.equal(store.deliveryState(chat, chat.messages.get(2)), "sent");
  store.applyRead({ conversationId: 9, userId: PEER, seq: 1 });
  assert.deepEqual([1, 2].map((s) => store.deliveryState(chat, chat.messages.get(s))), ["read", "sent"]);
  store.applyMessage(msg(3, PEER));
  assert.equal(store.deliveryState(chat, chat.messages.get(2)), "read");
});

test("a send: pending, then stored by its RECEIPT or by its echo, whichever comes first", () => {
  const store = new ChatStore(ME);
  const chat = store.chat(chatKey("private", PEER));
  const a = store.addPending(chat, "first");
  const b = store.addPending(chat, "second");
  assert.notEqual(a.clientMsgId, b.clientMsgId);
  assert.deepEqual(store.timeline(chat).pending.map((p) => p.content), ["first", "second"]);
  // a: RECEIPT first, then the echo on my own queue
  store.confirmPending(chat, a, { messageId: "101", seq: "1", conversationId: "9" });
  store.applyMessage(msg(1, ME, { content: "first", clientMsgId: a.clientMsgId }));
  // b: echo first, then the RECEIPT
  store.applyMessage(msg(2, ME, { content: "second", clientMsgId: b.clientMsgId }));
  store.confirmPending(chat, b, { messageId: "102", seq: "2", conversationId: "9" });
  assert.deepEqual(contents(store, chat), ["first", "second"]);
  assert.equal(store.timeline(chat).pending.length, 0);
  assert.equal(chat.conversationId, 9);
});

test("a refused send stays, marked failed", () => {
  const store = new ChatStore(ME);
  const chat = store.chat(chatKey("private", PEER));
  const entry = store.addPending(chat, "nope");
  store.failPending(chat, entry, "not friends");
  assert.deepEqual(store.timeline(chat).pending.map((p) => [p.state, p.error]), [["failed", "not friends"]]);
});

test("a recall is final: a late copy of the message does not bring the text back", () => {
  const store = new ChatStore(ME);
  const { chat } = store.applyMessage(msg(1));
  store.applyRecall({ conversationId: 9, messageId: 101, seq: 1, operatorId: PEER });
  store.applyMessage(msg(1));
  const [m] = store.timeline(chat).stored;
  assert.equal(m.status, 1);
  assert.equal(m.content, "");
  assert.equal(chat.lastMessage.status, 1);
});

test("gaps: a hole between held messages, or held messages short of lastSeq", () => {
  const store = new ChatStore(ME);
  const chat = store.chat(chatKey("private", PEER));
  store.applyHistory(chat, [msg(4), msg(5)], { newest: true });
  assert.equal(store.firstGap(chat), null);
  store.applyMessage(msg(8));
  assert.equal(store.firstGap(chat), 5);
  store.applyHistory(chat, [msg(6), msg(7)]);
  assert.equal(store.firstGap(chat), null);
  chat.lastSeq = 10; // the conversation list knows of more
  assert.equal(store.firstGap(chat), 8);
  assert.equal(store.oldestSeq(chat), 4);
  assert.equal(store.hasOlder(chat), true);
});

test("a newest page that does not join what is held replaces it; seq 1 means nothing older", () => {
  const store = new ChatStore(ME);
  const { chat } = store.applyMessage(msg(2));
  store.applyHistory(chat, [msg(40), msg(41)], { newest: true });
  assert.deepEqual(contents(store, chat), ["m40", "m41"]);
  store.applyHistory(chat, [msg(1), msg(2)]);
  store.applyHistory(chat, [msg(3)]);
  assert.equal(store.hasOlder(chat), false);
});

test("the chat list: listed or active chats, newest first; group messages keyed by group", () => {
  const store = new ChatStore(ME);
  store.applyConversation({
    conversationId: 5, chatType: "group", targetId: 77, name: "G", lastSeq: 3, readSeq: 1,
    unreadCount: 2, updatedAt: 50, lastMessage: null, muted: false, avatar: "",
  });
  store.applyMessage(msg(1));
  store.chat(chatKey("private", 3)); // opened, never written to: not listed
  const { chat: group } = store.applyMessage({
    ...msg(4), conversationId: 5, chatType: "group", groupId: 77, toUserId: undefined, createdAt: 9999,
  });
  assert.equal(group.key, "g:77");
  assert.equal(store.unread(group), 3);
  assert.deepEqual(store.sortedChats().map((c) => c.key), ["g:77", "p:2"]);
});
