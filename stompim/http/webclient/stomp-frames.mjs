// STOMP frames: the encoder and an incremental parser, with no I/O (bytes in, frames out).
//
// Used by stomp.mjs (the client); exported on their own so tests and other pages can
// frame and parse without a socket. STOMP 1.1/1.2 header escaping (1.2 also escapes CR);
// CONNECT and CONNECTED headers are never escaped (STOMP 1.2, "Value Encoding").
//
//   const parser = new FrameParser((frame) => ..., () => /* heart-beat */ {});
//   parser.push(bytesOrText);        // any split: a frame may span pushes, a push many frames
//   const text = encodeFrame("SEND", { destination: "/topic/x" }, "hi", "1.2");

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8");

const LF = 10;
const CR = 13;
const NUL = 0;

/** Frames whose headers are sent and read without escaping. */
const UNESCAPED = new Set(["CONNECT", "STOMP", "CONNECTED"]);

export class StompFrameError extends Error {}

/** One STOMP frame: `command`, `headers` (first repeat wins), `bytes` (the body). */
export class Frame {
  constructor(command, headers = {}, bytes = new Uint8Array(0)) {
    this.command = command;
    this.headers = headers;
    this.bytes = bytes;
  }

  /** The body decoded as UTF-8 text. */
  get body() {
    return decoder.decode(this.bytes);
  }

  /** The body parsed as JSON (throws on bad JSON). */
  json() {
    return JSON.parse(this.body);
  }
}

export function escapeHeader(value, version) {
  if (version === "1.0") return value;
  let out = value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/:/g, "\\c");
  if (version !== "1.1") out = out.replace(/\r/g, "\\r");
  return out;
}

export function unescapeHeader(value, version) {
  if (version === "1.0" || !value.includes("\\")) return value;
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch !== "\\") {
      out += ch;
      continue;
    }
    const next = value[++i];
    if (next === "\\") out += "\\";
    else if (next === "n") out += "\n";
    else if (next === "c") out += ":";
    else if (next === "r" && version !== "1.1") out += "\r";
    else throw new StompFrameError(`undefined escape \\${next ?? ""} in header ${value}`);
  }
  return out;
}

/**
 * The frame as a string (text body) or Uint8Array (binary body), ready for WebSocket.send.
 * A non-empty body gets a `content-length` (in bytes) unless one is given.
 */
export function encodeFrame(command, headers = {}, body = "", version = "1.2") {
  const escape = UNESCAPED.has(command) ? (v) => v : (v) => escapeHeader(v, version);
  const binary = body instanceof Uint8Array;
  const length = binary ? body.length : encoder.encode(body).length;
  let head = `${command}\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || value === null) continue;
    head += `${escape(String(name))}:${escape(String(value))}\n`;
  }
  if (length > 0 && !("content-length" in headers)) head += `content-length:${length}\n`;
  head += "\n";
  if (!binary) return `${head}${body}\0`;
  const headBytes = encoder.encode(head);
  const out = new Uint8Array(headBytes.length + body.length + 1);
  out.set(headBytes, 0);
  out.set(body, headBytes.length);
  return out;
}

function toBytes(data) {
  if (typeof data === "string") return encoder.encode(data);
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError("FrameParser.push takes a string, ArrayBuffer or Uint8Array");
}

/**
 * Incremental parser. `push(data)` calls `onFrame(frame)` for every complete frame and
 * `onHeartbeat()` for every EOL between frames; incomplete input waits for the next push.
 * A malformed frame throws StompFrameError (the connection should then be dropped).
 * `maxFrameBytes` bounds what one frame may buffer.
 */
export class FrameParser {
  constructor(onFrame, onHeartbeat = () => {}, { maxFrameBytes = 16 * 1024 * 1024 } = {}) {
    this.onFrame = onFrame;
    this.onHeartbeat = onHeartbeat;
    this.maxFrameBytes = maxFrameBytes;
    this.version = "1.2";
    this.buffer = new Uint8Array(0);
    this.scanned = 0; // bytes of the current frame already searched for its delimiter
  }

  push(data) {
    const bytes = toBytes(data);
    if (this.buffer.length === 0) {
      this.buffer = bytes.slice();
    } else {
      const joined = new Uint8Array(this.buffer.length + bytes.length);
      joined.set(this.buffer, 0);
      joined.set(bytes, this.buffer.length);
      this.buffer = joined;
    }
    let start = 0;
    for (;;) {
      start = this.skipHeartbeats(start);
      const used = this.parseOne(start);
      if (used === 0) break;
      start += used;
      this.scanned = 0;
    }
    this.buffer = this.buffer.subarray(start);
    if (this.buffer.length > this.maxFrameBytes) {
      throw new StompFrameError(`frame larger than ${this.maxFrameBytes} bytes`);
    }
  }

  skipHeartbeats(start) {
    const buf = this.buffer;
    for (;;) {
      if (buf[start] === LF) {
        start += 1;
      } else if (buf[start] === CR && buf[start + 1] === LF) {
        start += 2;
      } else {
        return start;
      }
      this.onHeartbeat();
    }
  }

  /** Parses the frame at `start`; returns the bytes it took, or 0 when incomplete. */
  parseOne(start) {
    const buf = this.buffer;
    if (start >= buf.length) return 0;
    // The header block ends at the first empty line (LF LF, or LF CR LF).
    let end = -1;
    for (let i = Math.max(start, start + this.scanned - 2); i < buf.length; i++) {
      if (buf[i] !== LF) continue;
      if (buf[i + 1] === LF) {
        end = i + 2;
        break;
      }
      if (buf[i + 1] === CR && buf[i + 2] === LF) {
        end = i + 3;
        break;
      }
      if (i + 2 >= buf.length) break; // the next bytes decide; look again on the next push
    }
    if (end < 0) {
      this.scanned = buf.length - start;
      return 0;
    }
    const lines = decoder.decode(buf.subarray(start, end)).split("\n");
    const strip = (line) => (line.endsWith("\r") ? line.slice(0, -1) : line);
    const command = strip(lines[0]);
    if (!/^[A-Z]+$/.test(command)) throw new StompFrameError(`bad command line ${command}`);
    const version = command === "CONNECTED" ? null : this.version;
    const headers = {};
    for (const raw of lines.slice(1)) {
      const line = strip(raw);
      if (line === "") continue;
      const colon = line.indexOf(":");
      if (colon <= 0) throw new StompFrameError(`bad header line ${line}`);
      const name = version ? unescapeHeader(line.slice(0, colon), version) : line.slice(0, colon);
      const value = version ? unescapeHeader(line.slice(colon + 1), version) : line.slice(colon + 1);
      if (!(name in headers)) headers[name] = value;
    }
    let bodyEnd;
    if ("content-length" in headers) {
      const length = Number(headers["content-length"]);
      if (!Number.isInteger(length) || length < 0) {
        throw new StompFrameError(`bad content-length ${headers["content-length"]}`);
      }
      bodyEnd = end + length;
      if (bodyEnd >= buf.length) return 0;
      if (buf[bodyEnd] !== NUL) throw new StompFrameError("frame body not followed by NUL");
    } else {
      bodyEnd = buf.indexOf(NUL, end);
      if (bodyEnd < 0) return 0;
    }
    if (command === "CONNECTED") this.version = headers.version || "1.0";
    this.onFrame(new Frame(command, headers, buf.slice(end, bodyEnd)));
    return bodyEnd + 1 - start;
  }
}
