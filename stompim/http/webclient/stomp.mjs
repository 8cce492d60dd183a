// A small STOMP 1.2 client over the native WebSocket, for stompim's web client and any other
// page (browsers; Node >= 22, or Node 20 with --experimental-websocket). No dependencies.
//
//   import { StompClient } from "/web/stomp.mjs";
//
//   const client = new StompClient({
//     url: "ws://127.0.0.1:8081/ws",          // or a function (may be async), called per attempt
//     connectHeaders: () => ({ Authorization: `Bearer ${token}` }),   // object or function
//     heartbeat: { outgoing: 10000, incoming: 10000 },                // ms; 0 = none
//     reconnect: { initialDelay: 500, maxDelay: 15000 },              // exponential, jittered
//     beforeConnect: async () => {},   // runs before every attempt; throwing fails the attempt
//   });
//   client.onConnect = (connectedFrame, { reconnected }) => {};
//   client.onDisconnect = ({ code, reason, wasConnected }) => {};
//   client.onStompError = (errorFrame) => {};      // the server closes after an ERROR
//   client.onStateChange = (state) => {};          // "inactive" | "connecting" | "open" | "waiting"
//   client.activate();
//
//   // Subscriptions outlive connections: they are sent again after every reconnect, and a
//   // function for the headers is called each time (fresh x-since-seq, say).
//   const sub = client.subscribe("/user/queue/chat", (frame) => frame.json(), () => headers);
//   sub.unsubscribe();
//
//   client.send("/topic/news", "text", { "content-type": "text/plain" });   // fire and forget
//   const receipt = await client.sendWithReceipt("/app/chat/private", JSON.stringify(msg));
//   // resolves with the RECEIPT frame; rejects with a StompRequestError whose `reason` is
//   // "not-connected", "connection-lost", "error-frame" (an ERROR named it), "timeout",
//   // "duplicate" (that receipt id is awaited already) or what cancelReceipt gave.
//
//   client.reconnectNow();    // skip the back-off wait (e.g. on the browser's "online" event)
//   client.dropConnection();  // close the socket as a network failure would (then reconnect)
//   await client.deactivate();   // DISCONNECT (with a receipt), close, and stop reconnecting
//
// Heart-beats (STOMP 1.2 "Heart-beating"): we send an EOL every max(outgoing, server's wish)
// ms, and treat a server silent for twice max(incoming, server's offer) as gone: the socket is
// dropped and the client reconnects. An attempt that has no CONNECTED within `connectTimeout`
// ms (default 10000, handshake included) likewise.
//
// A server that answers a refused SEND elsewhere than on its receipt (stompim before refusal
// RECEIPTs: a MESSAGE on /user/queue/errors naming the `receipt`) lets the page settle the
// waiting promise itself: client.cancelReceipt(receiptId, "refused", message). Give the SEND
// your own `receipt` header to know its id; otherwise the client makes one.

import { encodeFrame, FrameParser, StompFrameError } from "./stomp-frames.mjs";

export { Frame, FrameParser, encodeFrame, StompFrameError } from "./stomp-frames.mjs";

export const SUBPROTOCOLS = ["v12.stomp", "v11.stomp", "v10.stomp"];

export class StompRequestError extends Error {
  constructor(reason, message, frame = null) {
    super(message);
    this.reason = reason;
    this.frame = frame;
  }
}

async function resolve(value) {
  return typeof value === "function" ? await value() : value;
}

export class StompClient {
  constructor(options = {}) {
    this.url = options.url;
    this.connectHeaders = options.connectHeaders ?? {};
    this.heartbeat = { outgoing: 10000, incoming: 10000, ...options.heartbeat };
    this.reconnect = { initialDelay: 500, maxDelay: 15000, ...options.reconnect };
    this.connectTimeout = options.connectTimeout ?? 10000;
    this.receiptTimeout = options.receiptTimeout ?? 30000;
    this.beforeConnect = options.beforeConnect ?? null;
    this.WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this.debug = options.debug ?? (() => {});

    this.onConnect = () => {};
    this.onDisconnect = () => {};
    this.onStompError = () => {};
    this.onStateChange = () => {};

    this.state = "inactive";
    this.version = null;
    this.active = false;
    this.ws = null;
    this.everConnected = false;
    this.attempt = 0;
    this.counter = 0;
    this.connectSeq = 0;
    this.subscriptions = new Map(); // id -> { destination, callback, headers }
    this.pending = new Map(); // receipt-id -> { resolve, reject, timer }
    this.timers = { retry: null, connect: null, send: null, watch: null };
    this.lastReceived = 0;
  }

  get connected() {
    return this.state === "open";
  }

  activate() {
    if (this.active) return;
    this.active = true;
    this.attempt = 0;
    this.connect();
  }

  async deactivate({ timeout = 2000 } = {}) {
    this.active = false;
    this.connectSeq += 1; // an attempt still resolving its URL or headers gives up
    clearTimeout(this.timers.retry);
    if (this.connected) {
      try {
        await this.request("DISCONNECT", {}, "", timeout);
      } catch {
        // gone already, or no receipt in time: closing is all that is left
      }
    }
    this.lost(1000, "client deactivated");
    this.setState("inactive");
  }

  reconnectNow() {
    if (!this.active || this.state !== "waiting") return;
    clearTimeout(this.timers.retry);
    this.connect();
  }

  dropConnection() {
    if (this.ws) this.lost(4000, "dropped by the client");
  }

  subscribe(destination, callback, headers = {}) {
    const id = `sub-${++this.counter}`;
    const sub = { id, destination, callback, headers };
    this.subscriptions.set(id, sub);
    if (this.connected) this.sendSubscribe(sub);
    return {
      id,
      destination,
      unsubscribe: () => {
        if (!this.subscriptions.delete(id)) return;
        if (this.connected) this.transmit("UNSUBSCRIBE", { id });
      },
    };
  }

  send(destination, body = "", headers = {}) {
    if (!this.connected) throw new StompRequestError("not-connected", "not connected");
    this.transmit("SEND", { ...headers, destination }, body);
  }

  sendWithReceipt(destination, body = "", headers = {}, { timeout } = {}) {
    return this.request("SEND", { ...headers, destination }, body, timeout ?? this.receiptTimeout);
  }

  /** Reject a waiting receipt promise now (StompRequestError with this `reason`). */
  cancelReceipt(receiptId, reason = "cancelled", message = reason) {
    this.settle(receiptId, (p) => p.reject(new StompRequestError(reason, message)));
  }

  // -- internals -------------------------------------------------------------------------

  request(command, headers, body, timeout) {
    if (!this.connected) {
      return Promise.reject(new StompRequestError("not-connected", "not connected"));
    }
    const id = headers.receipt ?? `r-${++this.counter}`;
    if (this.pending.has(id)) {
      return Promise.reject(new StompRequestError("duplicate", `receipt ${id} is already awaited`));
    }
    return new Promise((resolvePromise, rejectPromise) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        rejectPromise(new StompRequestError("timeout", `no receipt within ${timeout} ms`));
      }, timeout);
      this.pending.set(id, { resolve: resolvePromise, reject: rejectPromise, timer });
      this.transmit(command, { ...headers, receipt: id }, body);
    });
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.onStateChange(state);
  }

  async connect() {
    const seq = ++this.connectSeq;
    this.setState("connecting");
    let url;
    let headers;
    try {
      if (this.beforeConnect) await this.beforeConnect();
      url = await resolve(this.url);
      headers = (await resolve(this.connectHeaders)) ?? {};
    } catch (error) {
      this.debug(`not connecting: ${error?.message ?? error}`);
      if (this.active && seq === this.connectSeq) this.scheduleRetry();
      return;
    }
    if (!this.active || seq !== this.connectSeq) return;
    let ws;
    try {
      ws = new this.WebSocket(url, SUBPROTOCOLS);
    } catch (error) {
      this.debug(`cannot open ${url}: ${error?.message ?? error}`);
      this.scheduleRetry();
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    // Covers the WebSocket handshake too: a connection attempt that hangs (a black-holed
    // network, or a socket closed mid-handshake that some runtimes never report) is retried.
    this.timers.connect = setTimeout(() => this.lost(4001, "no CONNECTED in time"), this.connectTimeout);
    const parser = new FrameParser(
      (frame) => this.onFrame(frame),
      () => {},
    );
    ws.onopen = () => {
      this.lastReceived = Date.now();
      const host = globalThis.location?.hostname ?? "/";
      const { outgoing, incoming } = this.heartbeat;
      this.transmit(
        "CONNECT",
        { "accept-version": "1.2,1.1", host, "heart-beat": `${outgoing},${incoming}`, ...headers },
        "",
        "1.2",
      );
    };
    ws.onmessage = (event) => {
      this.lastReceived = Date.now();
      try {
        parser.push(event.data);
      } catch (error) {
        if (!(error instanceof StompFrameError)) throw error;
        this.debug(`bad frame from the server: ${error.message}`);
        this.lost(4002, error.message);
      }
    };
    ws.onclose = (event) => {
      if (this.ws === ws) this.lost(event.code, event.reason);
    };
    ws.onerror = () => {}; // always followed by close
  }

  onFrame(frame) {
    switch (frame.command) {
      case "CONNECTED":
        this.opened(frame);
        break;
      case "MESSAGE": {
        const sub = this.subscriptions.get(frame.headers.subscription);
        if (!sub) return; // unsubscribed while it was on its way
        try {
          sub.callback(frame);
        } catch (error) {
          console.error("stomp subscription callback failed", error);
        }
        break;
      }
      case "RECEIPT":
        this.settle(frame.headers["receipt-id"], (p) => p.resolve(frame));
        break;
      case "ERROR":
        this.settle(frame.headers["receipt-id"], (p) =>
          p.reject(new StompRequestError("error-frame", frame.headers.message ?? "ERROR", frame)),
        );
        this.onStompError(frame);
        break;
      default:
        this.debug(`unexpected ${frame.command} frame`);
    }
  }

  settle(id, action) {
    const entry = id === undefined ? undefined : this.pending.get(id);
    if (!entry) return;
    this.pending.delete(id);
    clearTimeout(entry.timer);
    action(entry);
  }

  opened(frame) {
    clearTimeout(this.timers.connect);
    this.version = frame.headers.version ?? "1.0";
    const [sx, sy] = (frame.headers["heart-beat"] ?? "0,0").split(",").map((n) => Number(n) || 0);
    const { outgoing, incoming } = this.heartbeat;
    if (outgoing > 0 && sy > 0) {
      const every = Math.max(outgoing, sy);
      this.timers.send = setInterval(() => this.ws?.readyState === 1 && this.ws.send("\n"), every);
    }
    if (incoming > 0 && sx > 0) {
      const limit = 2 * Math.max(incoming, sx);
      this.timers.watch = setInterval(() => {
        if (Date.now() - this.lastReceived > limit) this.lost(4003, "server silent");
      }, Math.max(incoming, sx) / 2);
    }
    const reconnected = this.everConnected;
    this.everConnected = true;
    this.attempt = 0;
    this.setState("open");
    for (const sub of this.subscriptions.values()) this.sendSubscribe(sub);
    this.onConnect(frame, { reconnected });
  }

  sendSubscribe(sub) {
    let extra = {};
    try {
      extra = (typeof sub.headers === "function" ? sub.headers() : sub.headers) ?? {};
    } catch (error) {
      console.error("stomp subscription headers failed", error);
    }
    this.transmit("SUBSCRIBE", { ...extra, id: sub.id, destination: sub.destination, ack: "auto" });
  }

  transmit(command, headers, body = "", version = this.version ?? "1.2") {
    try {
      this.ws.send(encodeFrame(command, headers, body, version));
    } catch (error) {
      // The socket closed under us; its close event (or lost()) does the rest.
      this.debug(`cannot send ${command}: ${error?.message ?? error}`);
    }
  }

  /** The socket is gone (or given up on): clean up, tell the app, and plan the next try. */
  lost(code, reason) {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    this.closeSocket(code, reason, ws);
    const wasConnected = this.state === "open";
    for (const key of ["connect", "send", "watch"]) {
      clearTimeout(this.timers[key]);
      clearInterval(this.timers[key]);
    }
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const entry of pending) {
      clearTimeout(entry.timer);
      entry.reject(new StompRequestError("connection-lost", "connection lost before the receipt"));
    }
    this.version = null;
    if (this.active) this.scheduleRetry();
    else this.setState("inactive");
    this.onDisconnect({ code, reason, wasConnected });
  }

  closeSocket(code, reason, ws = this.ws) {
    if (!ws) return;
    if (ws === this.ws) this.ws = null;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      // Browsers only accept 1000 or 3000-4999 from scripts.
      ws.close(code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000, reason?.slice(0, 100));
    } catch {
      // already closing
    }
  }

  scheduleRetry() {
    this.setState("waiting");
    const { initialDelay, maxDelay } = this.reconnect;
    const base = Math.min(maxDelay, initialDelay * 2 ** this.attempt);
    this.attempt += 1;
    const delay = Math.round(base * (0.8 + 0.4 * Math.random()));
    this.debug(`reconnecting in ${delay} ms`);
    clearTimeout(this.timers.retry);
    this.timers.retry = setTimeout(() => {
      if (this.active && this.state === "waiting") this.connect();
    }, delay);
  }
}
