// STOMP.js (@stomp/stompjs v7) under Node, driven by a JSON scenario.
//
// Why a scenario runner and not one script per test: the Python tests own the
// server side (restart it, log the user out) and must act at exact points of
// the client's life.  The scenario is a list of steps; at a "checkpoint" step
// this script prints an event line and waits for a line on stdin before going
// on, so the test can do its part there.
//
// Input:  the scenario as JSON in argv[2], or in env STOMPIM_SCENARIO.
// Output: one JSON object per line on stdout: {"event": ...} lines while it
//         runs, and last {"event": "result", "ok": bool, ...}.  Exit code 0
//         when every step passed, 1 when one failed, 2 for a bad scenario.
// Every wait is bounded: each step by its own timeoutMs, the whole run by
// scenario.timeoutMs.
//
// Scenario: {url, connectHeaders?, heartbeatIncoming?, heartbeatOutgoing?,
//            reconnectDelay?, timeoutMs?, sockjs?, steps: [...]}.  With `sockjs`
//            ({transports?: [...]}) the client is sockjs-client 1.6 on the http(s)
//            `url` (transports forced as given), as `new SockJS(url)` in a Spring
//            front end; `transport` in the result names the one it used.  Steps ("op"):
//   connect                       activate; wait for CONNECTED (an ERROR fails)
//   subscribe {destination, id}   SUBSCRIBE with a receipt, wait for it; redone
//                                 (again with a receipt) after every reconnect
//   publish {destination, body | binaryBase64, headers?}
//   expect {count}                wait until `count` MESSAGEs arrived in total
//   sleep {ms}
//   checkpoint {name}             print {"event":"checkpoint"} and wait for stdin
//   awaitConnects {count}         wait until CONNECTED was seen `count` times and
//                                 the subscriptions are back (receipts)
//   awaitClose                    wait for a STOMP ERROR or the socket closing
//   assertConnected               fail unless the STOMP connection is up
//   disconnect                    deactivate (DISCONNECT, close)

import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';
import SockJS from 'sockjs-client';
import { createInterface } from 'node:readline';

const SUBPROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'];

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// Exit only once stdout has taken the last line: stdout to a pipe is written
// asynchronously, and process.exit() would cut a long result short.
function emitAndExit(obj, code) {
  process.stdout.write(JSON.stringify(obj) + '\n', () => process.exit(code));
}

function parseScenario() {
  const text = process.argv[2] ?? process.env.STOMPIM_SCENARIO;
  if (!text) throw new Error('no scenario: pass JSON in argv[2] or STOMPIM_SCENARIO');
  const scenario = JSON.parse(text);
  if (typeof scenario.url !== 'string' || !Array.isArray(scenario.steps)) {
    throw new Error('scenario needs "url" and "steps"');
  }
  return scenario;
}

// ---- state shared by the callbacks and the steps --------------------------

const state = {
  connects: 0,
  closes: 0,
  stompErrors: [],
  received: [],
  heartbeatsIn: 0,
  heartbeatsLost: 0,
  subscribedAfterConnect: 0, // connect number whose subscriptions are confirmed
  version: null,             // STOMP version of the last CONNECTED
  subprotocol: null,         // WebSocket subprotocol the server picked
  transport: null,           // SockJS transport in use (sockjs scenarios)
  debugTail: [],
};
const waiters = new Set();

function changed() {
  for (const check of [...waiters]) check();
}

function waitFor(predicate, ms, what) {
  return new Promise((resolve, reject) => {
    if (predicate()) return resolve();
    const check = () => {
      if (predicate()) {
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      }
    };
    const timer = setTimeout(() => {
      waiters.delete(check);
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    waiters.add(check);
  });
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const lines = [];
let stdinEnded = false;
const stdin = createInterface({ input: process.stdin });
stdin.on('line', (line) => { lines.push(line); changed(); });
stdin.on('close', () => { stdinEnded = true; changed(); });

// ---- the client -----------------------------------------------------------

function buildClient(scenario) {
  const subscriptions = [];   // {destination, id, headers}
  let receiptSeq = 0;

  const client = new Client({
    webSocketFactory: scenario.sockjs
      ? () => new SockJS(scenario.url, null, scenario.sockjs)
      : () => new WebSocket(scenario.url, SUBPROTOCOLS),
    connectHeaders: scenario.connectHeaders ?? {},
    heartbeatIncoming: scenario.heartbeatIncoming ?? 0,
    heartbeatOutgoing: scenario.heartbeatOutgoing ?? 0,
    reconnectDelay: scenario.reconnectDelay ?? 0,
    debug: (msg) => {
      state.debugTail.push(msg.slice(0, 300));
      if (state.debugTail.length > 40) state.debugTail.shift();
    },
  });

  const onMessage = (message) => {
    const bytes = Buffer.from(message.binaryBody);
    state.received.push({
      destination: message.headers.destination,
      subscription: message.headers.subscription,
      headers: message.headers,
      body: message.body,   // STOMP.js keeps every received body as bytes; .body decodes UTF-8
      binaryBase64: bytes.toString('base64'),
    });
    changed();
  };

  const subscribeOne = (sub) => new Promise((resolve) => {
    const receipt = `sub-${++receiptSeq}`;
    client.watchForReceipt(receipt, () => resolve());
    client.subscribe(sub.destination, onMessage, { id: sub.id, receipt, ...sub.headers });
  });

  client.onConnect = async () => {
    const n = ++state.connects;
    state.version = client.connectedVersion ?? null;
    state.subprotocol = client.webSocket?.protocol ?? null;
    state.transport = client.webSocket?.transport ?? null;
    emit({ event: 'connected', n });
    changed();
    await Promise.all(subscriptions.map(subscribeOne));
    state.subscribedAfterConnect = n;
    changed();
  };
  client.onStompError = (frame) => {
    state.stompErrors.push({ message: frame.headers.message ?? '', body: frame.body });
    emit({ event: 'stomp-error', message: frame.headers.message ?? '' });
    changed();
  };
  client.onWebSocketClose = (evt) => {
    state.closes += 1;
    emit({ event: 'closed', code: evt?.code ?? null, n: state.closes });
    changed();
  };
  client.onHeartbeatReceived = () => { state.heartbeatsIn += 1; changed(); };
  client.onHeartbeatLost = () => { state.heartbeatsLost += 1; changed(); };

  const addSubscription = async (step) => {
    const sub = { destination: step.destination, id: step.id ?? `sub-${subscriptions.length}`,
      headers: step.headers ?? {} };
    subscriptions.push(sub);
    await subscribeOne(sub);
  };
  return { client, addSubscription };
}

async function runStep(step, ctx) {
  const { client } = ctx;
  const ms = step.timeoutMs ?? 5000;
  switch (step.op) {
    case 'connect': {
      const before = state.connects;
      client.activate();
      await waitFor(() => state.connects > before || state.stompErrors.length > 0, ms, 'CONNECTED');
      if (state.stompErrors.length > 0) {
        throw new Error(`CONNECT refused: ${state.stompErrors[0].message}`);
      }
      // Wait for the (empty) subscription list to be confirmed as well.
      await waitFor(() => state.subscribedAfterConnect === state.connects, ms, 'subscriptions');
      return;
    }
    case 'subscribe':
      await withTimeout(ctx.addSubscription(step), ms, `receipt for SUBSCRIBE ${step.destination}`);
      return;
    case 'publish': {
      const params = { destination: step.destination, headers: step.headers ?? {} };
      if (step.binaryBase64 !== undefined) {
        params.binaryBody = new Uint8Array(Buffer.from(step.binaryBase64, 'base64'));
        params.headers = { 'content-type': 'application/octet-stream', ...params.headers };
      } else {
        params.body = step.body ?? '';
      }
      client.publish(params);
      return;
    }
    case 'expect':
      await waitFor(() => state.received.length >= step.count, ms, `${step.count} message(s)`);
      return;
    case 'sleep':
      await new Promise((resolve) => setTimeout(resolve, step.ms));
      return;
    case 'checkpoint': {
      const seen = lines.length;
      emit({ event: 'checkpoint', name: step.name });
      await waitFor(() => lines.length > seen || stdinEnded, step.timeoutMs ?? 20000,
        `go-ahead after checkpoint ${step.name}`);
      if (lines.length <= seen) throw new Error(`stdin closed at checkpoint ${step.name}`);
      return;
    }
    case 'awaitConnects':
      await waitFor(() => state.connects >= step.count
        && state.subscribedAfterConnect === state.connects, ms, `${step.count} CONNECTED`);
      return;
    case 'awaitClose': {
      const closes = state.closes;
      const errors = state.stompErrors.length;
      await waitFor(() => state.closes > closes || state.stompErrors.length > errors
        || !client.connected, ms, 'ERROR or close');
      return;
    }
    case 'assertConnected':
      if (!client.connected) throw new Error('STOMP connection is not up');
      return;
    case 'disconnect':
      await withTimeout(client.deactivate(), ms, 'deactivate');
      return;
    default:
      throw new Error(`unknown step op ${JSON.stringify(step.op)}`);
  }
}

// `closes` counts socket closes while the steps ran, not the final teardown's.
function result(ok, error, stepIndex, closes) {
  return {
    event: 'result', ok, error: error ?? null, failedStep: stepIndex ?? null,
    connects: state.connects, closes: closes ?? state.closes, stompErrors: state.stompErrors,
    version: state.version, subprotocol: state.subprotocol, transport: state.transport,
    received: state.received, heartbeatsIn: state.heartbeatsIn,
    heartbeatsLost: state.heartbeatsLost, debugTail: ok ? [] : state.debugTail,
  };
}

async function main() {
  let scenario;
  try {
    scenario = parseScenario();
  } catch (err) {
    emitAndExit(result(false, `bad scenario: ${err.message}`), 2);
    return;
  }
  const overall = setTimeout(() => {
    emitAndExit(result(false, `scenario exceeded ${scenario.timeoutMs ?? 30000} ms`), 1);
  }, scenario.timeoutMs ?? 30000);

  const ctx = buildClient(scenario);
  let failure = null;
  let failedAt = null;
  for (const [i, step] of scenario.steps.entries()) {
    try {
      await runStep(step, ctx);
      emit({ event: 'step', index: i, op: step.op });
    } catch (err) {
      failure = err.message;
      failedAt = i;
      break;
    }
  }
  // Leave no reconnect timer or socket behind, then report.
  const closesDuringSteps = state.closes;
  ctx.client.reconnectDelay = 0;
  await withTimeout(ctx.client.deactivate(), 2000, 'deactivate').catch(() => {});
  clearTimeout(overall);
  stdin.close();
  emitAndExit(result(failure === null, failure, failedAt, closesDuringSteps), failure === null ? 0 : 1);
}

main();
