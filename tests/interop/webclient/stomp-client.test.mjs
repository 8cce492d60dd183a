// The web client's STOMP module (stompim/http/webclient/stomp.mjs) against a real stompim
// node, under Node's own WebSocket. Run by tests/interop/test_webclient_js.py, which starts
// the node, makes the users and passes them in the environment:
//   STOMPIM_WS_URL, STOMPIM_TOKEN_A / _B / _C, STOMPIM_USER_A / _B / _C (A and B are friends;
//   C is a stranger to both).
// Network faults come from a small TCP proxy in front of the node that can refuse new
// connections, cut the open ones, or swallow bytes in one direction.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";

import { StompClient, StompRequestError } from "../../../stompim/http/webclient/stomp.mjs";

const env = process.env;
const WS_URL = env.STOMPIM_WS_URL;
const TOKEN = { a: env.STOMPIM_TOKEN_A, b: env.STOMPIM_TOKEN_B, c: env.STOMPIM_TOKEN_C };
const USER = { a: Number(env.STOMPIM_USER_A), b: Number(env.STOMPIM_USER_B), c: Number(env.STOMPIM_USER_C) };
const clients = [];

after(async () => {
  await Promise.allSettled(clients.map((c) => c.deactivate({ timeout: 500 })));
});

/** Poll `condition`; on timeout the error names `what` and, if given, `details()`. */
async function waitFor(condition, what, timeout = 8000, details = null) {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${details ? `: ${details()}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A client of user `who`; resolves once connected. Records its callbacks. */
async function connect(who, options = {}) {
  const client = new StompClient({
    url: WS_URL,
    connectHeaders: { Authorization: `Bearer ${TOKEN[who]}` },
    heartbeat: { outgoing: 0, incoming: 0 },
    reconnect: { initialDelay: 50, maxDelay: 400 },
    debug: (text) => {
      const delay = /^reconnecting in (\d+) ms$/.exec(text);
      if (delay) client.log.delays.push(Number(delay[1]));
    },
    ...options,
  });
  client.log = { states: [], connects: [], disconnects: [], errors: [], delays: [] };
  client.onStateChange = (s) => client.log.states.push(s);
  client.onConnect = (frame, info) => client.log.connects.push({ frame, ...info });
  client.onDisconnect = (info) => client.log.disconnects.push(info);
  client.onStompError = (frame) => client.log.errors.push(frame);
  clients.push(client);
  client.activate();
  await waitFor(() => client.connected, `${who} to connect`);
  return client;
}

function chat(to, content) {
  return JSON.stringify({ toUserId: USER[to], type: "text", content });
}

class FaultyProxy {
  constructor(target) {
    this.target = target;
    this.refuse = false;
    this.upstream = true; // client -> node bytes flow
    this.downstream = true; // node -> client bytes flow
    this.pairs = new Set();
    this.server = net.createServer((client) => this.accept(client));
  }

  async listen() {
    await new Promise((r) => this.server.listen(0, "127.0.0.1", r));
    return this.server.address().port;
  }

  accept(client) {
    if (this.refuse) {
      client.destroy();
      return;
    }
    const node = net.connect(this.target, "127.0.0.1");
    const pair = [client, node];
    this.pairs.add(pair);
    client.on("data", (d) => this.upstream && node.write(d));
    node.on("data", (d) => this.downstream && client.write(d));
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      node.destroy();
    };
    for (const s of pair) {
      s.on("close", end);
      s.on("error", end);
    }
  }

  cut() {
    for (const pair of [...this.pairs]) for (const s of pair) s.destroy();
  }

  close() {
    this.cut();
    this.server.close();
  }
}

test("connects with STOMP 1.2 and the heart-beats asked for", async () => {
  const client = await connect("a", { heartbeat: { outgoing: 5000, incoming: 5000 } });
  const [{ frame, reconnected }] = client.log.connects;
  assert.equal(frame.headers.version, "1.2");
  assert.equal(client.version, "1.2");
  assert.equal(reconnected, false);
  assert.match(frame.headers["heart-beat"], /^\d+,\d+$/);
  assert.deepEqual(client.log.states, ["connecting", "open"]);
  await client.deactivate();
  assert.equal(client.state, "inactive");
});

test("subscribe, send, receive: headers escaped both ways, UTF-8 body, unsubscribe", async () => {
  const client = await connect("a");
  const topic = `/topic/webclient.test.${Date.now()}`;
  const got = [];
  const sub = client.subscribe(topic, (f) => got.push(f));
  const note = "colon: here\nand a newline \\ backslash";
  await client.sendWithReceipt(topic, "grüße ✓ {json}", { "x-note": note });
  await waitFor(() => got.length === 1, "the message");
  assert.equal(got[0].body, "grüße ✓ {json}");
  assert.equal(got[0].headers["x-note"], note);
  assert.equal(got[0].headers.destination, topic);
  sub.unsubscribe();
  const other = `${topic}.barrier`;
  const barrier = [];
  client.subscribe(other, (f) => barrier.push(f));
  await client.sendWithReceipt(topic, "after unsubscribe");
  await client.sendWithReceipt(other, "barrier");
  await waitFor(() => barrier.length === 1, "the barrier message");
  assert.equal(got.length, 1, "nothing after UNSUBSCRIBE");
  await client.deactivate();
});

test("chat receipts: stored ones in send order, refused ones answered too", async () => {
  const client = await connect("a");
  // A refusal is answered by a RECEIPT with x-error-code, or (nodes before that) only by a
  // MESSAGE on /user/queue/errors naming the receipt: cancelReceipt settles the promise then.
  client.subscribe("/user/queue/errors", (f) => {
    const refusal = f.json();
    client.cancelReceipt(refusal.receipt, "refused", refusal.message);
  });
  const sends = [];
  for (let i = 0; i < 20; i++) sends.push(client.sendWithReceipt("/app/chat/private", chat("b", `n${i}`)));
  const receipts = await Promise.all(sends);
  const seqs = receipts.map((r) => Number(r.headers.seq));
  assert.ok(receipts.every((r) => r.headers["message-id"] && !r.headers["x-error-code"]));
  assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
  assert.equal(new Set(seqs).size, 20);
  const answer = await client
    .sendWithReceipt("/app/chat/private", chat("c", "not a friend"), { receipt: "mine-1" }, { timeout: 5000 })
    .then((frame) => ({ code: frame.headers["x-error-code"], stored: frame.headers["message-id"] }))
    .catch((error) => ({ reason: error.reason, message: error.message }));
  if ("reason" in answer) assert.equal(answer.reason, "refused", JSON.stringify(answer));
  else assert.ok(answer.code && !answer.stored, `a refusal, not ${JSON.stringify(answer)}`);
  await assert.rejects(
    Promise.all([client.sendWithReceipt("/topic/x", "a", { receipt: "same" }), client.sendWithReceipt("/topic/x", "b", { receipt: "same" })]),
    (e) => e.reason === "duplicate",
  );
  assert.ok(client.connected, "a refusal keeps the connection");
  await client.deactivate();
});

test("requests while not connected are refused at once", async () => {
  const client = new StompClient({ url: WS_URL });
  await assert.rejects(client.sendWithReceipt("/topic/x", "x"), (e) => e instanceof StompRequestError && e.reason === "not-connected");
  assert.throws(() => client.send("/topic/x", "x"), StompRequestError);
});

test("a network drop: receipts rejected, back-off, resubscribe from x-since-seq, nothing lost or doubled", async () => {
  const port = Number(new URL(WS_URL).port);
  const proxy = new FaultyProxy(port);
  const proxyPort = await proxy.listen();
  try {
    const sender = await connect("b");
    let since = 0;
    let asked = 0;
    const seen = [];
    const client = await connect("a", { url: `ws://127.0.0.1:${proxyPort}/ws`, connectTimeout: 500 });
    client.subscribe(
      "/user/queue/chat",
      (f) => {
        if (f.headers["x-event"]) return;
        seen.push(f.json().content);
        since = Math.max(since, Number(f.headers.seq));
      },
      () => {
        asked += 1;
        return since ? { "x-since-seq": String(since) } : {};
      },
    );
    const tag = `drop-${Date.now()}`;
    await sender.sendWithReceipt("/app/chat/private", chat("a", `${tag} 1`));
    await sender.sendWithReceipt("/app/chat/private", chat("a", `${tag} 2`));
    await waitFor(() => seen.includes(`${tag} 2`), "the live messages");

    // A SEND whose bytes never reach the node, then the connection dies: rejected.
    proxy.upstream = false;
    const lost = client.sendWithReceipt("/app/chat/private", chat("b", "lost in the drop"));
    proxy.refuse = true;
    proxy.cut();
    await assert.rejects(lost, (e) => e.reason === "connection-lost");
    await waitFor(() => client.log.disconnects.length === 1, "onDisconnect");
    assert.equal(client.log.disconnects[0].wasConnected, true);
    assert.ok(!client.connected);
    await assert.rejects(client.sendWithReceipt("/topic/x", "x"), (e) => e.reason === "not-connected");

    const receipts = [];
    for (let i = 3; i <= 5; i++) {
      receipts.push((await sender.sendWithReceipt("/app/chat/private", chat("a", `${tag} ${i}`))).headers);
    }
    assert.ok(receipts.every((r) => r["message-id"]), JSON.stringify(receipts));
    await waitFor(() => client.log.delays.length >= 4, "retries");
    const [d1, d2, d3, d4] = client.log.delays;
    assert.ok(d1 < d2 && d2 < d3 && d3 < d4, `the back-off grows: ${client.log.delays}`);
    assert.ok(Math.max(...client.log.delays) <= 400 * 1.2, "and stays under maxDelay (+ jitter)");
    proxy.refuse = false;
    proxy.upstream = true;
    await waitFor(() => client.log.connects.length === 2, "the reconnect", 8000, () => client.log.states.join());
    assert.equal(client.log.connects[1].reconnected, true);
    const want = [1, 2, 3, 4, 5].map((i) => `${tag} ${i}`);
    const details = () =>
      JSON.stringify({
        seen, since, asked, receipts,
        states: client.log.states,
        disconnects: client.log.disconnects,
        errors: client.log.errors.map((f) => f.headers.message),
      });
    await waitFor(() => seen.filter((s) => s.startsWith(tag)).length >= 5, "the replay", 8000, details);
    await sender.sendWithReceipt("/app/chat/private", chat("a", `${tag} 6`));
    await waitFor(() => seen.includes(`${tag} 6`), "a live message after the replay");
    assert.deepEqual(seen.filter((s) => s.startsWith(tag)), [...want, `${tag} 6`]);
    assert.equal(asked, 2, "the headers function runs on every SUBSCRIBE");
  } finally {
    proxy.close();
  }
});

test("a silent server is noticed by heart-beats; the client reconnects", async () => {
  const port = Number(new URL(WS_URL).port);
  const proxy = new FaultyProxy(port);
  const proxyPort = await proxy.listen();
  try {
    const client = await connect("a", {
      url: `ws://127.0.0.1:${proxyPort}/ws`,
      connectTimeout: 500,
      heartbeat: { outgoing: 300, incoming: 300 },
    });
    const [sx] = client.log.connects[0].frame.headers["heart-beat"].split(",").map(Number);
    assert.ok(sx > 0, "the node sends heart-beats");
    proxy.downstream = false; // the node's bytes no longer arrive
    const started = Date.now();
    await waitFor(() => client.log.disconnects.length === 1, "the silence to be noticed", 10000);
    assert.ok(Date.now() - started >= Math.max(300, sx), "not before the interval");
    proxy.downstream = true;
    await waitFor(() => client.log.connects.length === 2, "the reconnect");
  } finally {
    proxy.close();
  }
});

test("deactivate: DISCONNECT answered, then no reconnect", async () => {
  const client = await connect("a");
  await client.deactivate();
  assert.equal(client.state, "inactive");
  assert.deepEqual(client.log.disconnects.map((d) => d.wasConnected), [true]);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(client.log.connects.length, 1);
  assert.equal(client.state, "inactive");
});
