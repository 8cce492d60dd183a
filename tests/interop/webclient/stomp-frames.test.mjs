// Pure tests of the web client's STOMP codec (stompim/http/webclient/stomp-frames.mjs):
// encoding, escaping, and the incremental parser fed every way a socket may cut the bytes.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  encodeFrame,
  escapeHeader,
  FrameParser,
  StompFrameError,
  unescapeHeader,
} from "../../../stompim/http/webclient/stomp-frames.mjs";

const enc = new TextEncoder();

function parseAll(chunks, parser = null) {
  const frames = [];
  let beats = 0;
  const p = parser ?? new FrameParser((f) => frames.push(f), () => beats++);
  if (parser) parser.onFrame = (f) => frames.push(f);
  for (const chunk of chunks) p.push(chunk);
  return { frames, beats, parser: p };
}

test("SEND is encoded with escaped headers and a byte content-length", () => {
  const text = encodeFrame("SEND", { destination: "/topic/a", "x-note": "a:b\nc\\d\re" }, "héllo ✓", "1.2");
  assert.equal(
    text,
    "SEND\ndestination:/topic/a\nx-note:a\\cb\\nc\\\\d\\re\ncontent-length:10\n\nhéllo ✓\0",
  );
});

test("CONNECT headers are never escaped; STOMP 1.1 leaves CR alone", () => {
  assert.equal(encodeFrame("CONNECT", { passcode: "a:b" }), "CONNECT\npasscode:a:b\n\n\0");
  assert.equal(escapeHeader("a\rb:c", "1.1"), "a\rb\\cc");
  assert.equal(escapeHeader("a:b", "1.0"), "a:b");
});

test("an empty body gets no content-length; a given one is kept", () => {
  assert.equal(encodeFrame("UNSUBSCRIBE", { id: "s1" }), "UNSUBSCRIBE\nid:s1\n\n\0");
  assert.equal(encodeFrame("SEND", { destination: "/q", "content-length": "2" }, "hi"), "SEND\ndestination:/q\ncontent-length:2\n\nhi\0");
});

test("binary bodies are encoded as bytes, NUL inside included", () => {
  const out = encodeFrame("SEND", { destination: "/q" }, new Uint8Array([1, 0, 2]));
  assert.ok(out instanceof Uint8Array);
  assert.deepEqual([...out.slice(-4)], [1, 0, 2, 0]);
  assert.match(new TextDecoder().decode(out), /content-length:3\n/);
});

test("unescaping inverts escaping; an undefined escape is an error", () => {
  for (const value of ["plain", "a:b", "line\nbreak", "back\\slash", "cr\rhere", "\\n literal"]) {
    assert.equal(unescapeHeader(escapeHeader(value, "1.2"), "1.2"), value);
  }
  assert.throws(() => unescapeHeader("bad\\t", "1.2"), StompFrameError);
  assert.throws(() => unescapeHeader("bad\\r", "1.1"), StompFrameError);
});

const MESSAGE =
  "MESSAGE\ndestination:/topic/a\nsubscription:s\\c1\nmessage-id:7\nx:first\nx:second\ncontent-length:5\n\nhe\0lo\0";

test("a whole frame: headers unescaped, the first repeat wins, the body by content-length", () => {
  const { frames } = parseAll([MESSAGE]);
  assert.equal(frames.length, 1);
  const [f] = frames;
  assert.equal(f.command, "MESSAGE");
  assert.equal(f.headers.subscription, "s:1");
  assert.equal(f.headers.x, "first");
  assert.deepEqual([...f.bytes], [...enc.encode("he\0lo")]);
});

test("the same bytes cut at every offset, and one byte at a time, give the same frame", () => {
  const bytes = enc.encode(`\n${MESSAGE}\r\n\nRECEIPT\nreceipt-id:r-1\n\n\0`);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const { frames, beats } = parseAll([bytes.slice(0, cut), bytes.slice(cut)]);
    assert.deepEqual(frames.map((f) => f.command), ["MESSAGE", "RECEIPT"], `cut at ${cut}`);
    assert.equal(frames[0].body, "he\0lo");
    assert.equal(frames[1].headers["receipt-id"], "r-1");
    assert.equal(beats, 3, `cut at ${cut}`);
  }
  const single = parseAll([...bytes].map((b) => new Uint8Array([b])));
  assert.deepEqual(single.frames.map((f) => f.command), ["MESSAGE", "RECEIPT"]);
});

test("frames without content-length end at the first NUL; CRLF lines are accepted", () => {
  const { frames } = parseAll(["ERROR\r\nmessage:bad\r\n\r\nsome text\0MESSAGE\nsubscription:a\n\n{}\0"]);
  assert.deepEqual(frames.map((f) => [f.command, f.body]), [["ERROR", "some text"], ["MESSAGE", "{}"]]);
  assert.equal(frames[0].headers.message, "bad");
  assert.equal(frames[1].json().constructor, Object);
});

test("CONNECTED sets the version; its own headers are read without unescaping", () => {
  const { frames, parser } = parseAll(["CONNECTED\nversion:1.1\nserver:a\\cb\n\n\0MESSAGE\nx:a\\nb\n\n\0"]);
  assert.equal(frames[0].headers.server, "a\\cb");
  assert.equal(parser.version, "1.1");
  assert.equal(frames[1].headers.x, "a\nb");
});

test("text, ArrayBuffer and typed views are all accepted; UTF-8 split inside a character", () => {
  const bytes = enc.encode("MESSAGE\nsubscription:a\n\nzürich ✓\0");
  const at = bytes.indexOf(0xc3) + 1; // between the two bytes of "ü"
  const { frames } = parseAll([bytes.slice(0, at).buffer, new DataView(bytes.buffer, at)]);
  assert.equal(frames[0].body, "zürich ✓");
});

test("malformed input is an error, incomplete input is not", () => {
  assert.throws(() => parseAll(["not a command\n\n\0"]), StompFrameError);
  assert.throws(() => parseAll(["MESSAGE\nno colon here\n\n\0"]), StompFrameError);
  assert.throws(() => parseAll(["MESSAGE\ncontent-length:2\n\nabc\0"]), StompFrameError);
  assert.throws(() => parseAll(["MESSAGE\ncontent-length:-1\n\n\0"]), StompFrameError);
  const { frames } = parseAll(["MESSAGE\nsubscription:a\n\nnot yet ended"]);
  assert.equal(frames.length, 0);
  const small = new FrameParser(() => {}, () => {}, { maxFrameBytes: 64 });
  assert.throws(() => small.push(`MESSAGE\n\n${"x".repeat(100)}`), StompFrameError);
});
