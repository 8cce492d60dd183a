// Browser half of the Chromium interop test: the STOMP.js UMD bundle
// (global StompJs) talks to the broker over the browser's own WebSocket.
//
// Parameters come in the URL fragment as JSON: {url, login, passcode,
// destination, token}.  The page connects, subscribes (with a receipt),
// publishes a text and a binary message to that destination, and once both
// come back writes "ok" into #status; any failure writes "fail: <why>".
// #detail always holds a JSON report that the test reads back.
(function () {
  'use strict';
  const statusEl = document.getElementById('status');
  const detailEl = document.getElementById('detail');
  const report = { version: null, received: [], errors: [], closes: 0 };
  let finished = false;

  function finish(status) {
    if (finished) return;
    finished = true;
    detailEl.textContent = JSON.stringify(report);
    statusEl.textContent = status;
  }

  let params;
  try {
    params = JSON.parse(decodeURIComponent(location.hash.slice(1)));
  } catch (err) {
    finish('fail: bad parameters in the URL fragment');
    return;
  }
  if (typeof StompJs === 'undefined') {
    finish('fail: the STOMP.js bundle did not load');
    return;
  }

  const binary = new Uint8Array([0x62, 0x00, 0x69, 0x00, 0xff, 0x6e]); // "b\0i\0\xffn"
  const client = new StompJs.Client({
    brokerURL: params.url,
    connectHeaders: { login: params.login, passcode: params.passcode },
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
  });

  function check() {
    if (report.received.length < 2) return;
    const [text, bin] = report.received;
    const wantBin = Array.from(binary).join(',');
    if (text.body !== 'hello from chromium ' + params.token) {
      finish('fail: text body ' + JSON.stringify(text.body));
    } else if (text.headers['x-token'] !== params.token) {
      finish('fail: x-token header ' + JSON.stringify(text.headers['x-token']));
    } else if (bin.bytes !== wantBin) {
      finish('fail: binary body ' + bin.bytes);
    } else {
      finish('ok');
    }
    client.deactivate();
  }

  client.onConnect = function () {
    report.version = client.connectedVersion;
    client.watchForReceipt('browser-sub', function () {
      client.publish({
        destination: params.destination,
        body: 'hello from chromium ' + params.token,
        headers: { 'x-token': params.token },
      });
      client.publish({ destination: params.destination, binaryBody: binary });
    });
    client.subscribe(params.destination, function (message) {
      report.received.push({
        headers: message.headers,
        body: message.body,
        bytes: Array.from(message.binaryBody).join(','),
      });
      check();
    }, { id: 'browser-1', receipt: 'browser-sub' });
  };
  client.onStompError = function (frame) {
    report.errors.push(frame.headers.message || '');
    finish('fail: ERROR ' + (frame.headers.message || ''));
  };
  client.onWebSocketClose = function () {
    report.closes += 1;
    finish('fail: socket closed before the messages came back');
  };
  setTimeout(function () { finish('fail: timeout'); client.deactivate(); }, params.timeoutMs || 10000);
  client.activate();
})();
