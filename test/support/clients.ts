/** Real WebSocket clients (a recording one, a misbehaving one written over TCP) and raw HTTP. */
import type { App } from "../../src/app.ts";
import type { Pair } from "./data.ts";

export const sessionUrl = (app: App, sessionId: string, token?: string, extra = "") =>
  `${app.wsUrl}/ws/sessions/${sessionId}/${token === undefined ? "" : `?token=${encodeURIComponent(token)}`}${extra}`;

export type Frame = { type: string; [key: string]: unknown };

/** A real WebSocket client that records every frame it receives. */
export class Client {
  readonly frames: Frame[] = [];
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: (() => void)[] = [];

  constructor(url: string, options?: { headers?: Record<string, string> }) {
    this.ws = new WebSocket(url, options as never);
    this.opened = new Promise((resolve, reject) => {
      this.ws.addEventListener("open", () => resolve(), { once: true });
      this.ws.addEventListener("error", () => reject(new Error("websocket error before open")), { once: true });
    });
    this.closed = new Promise((resolve) =>
      this.ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason }), { once: true }),
    );
    this.ws.addEventListener("message", (e) => {
      this.frames.push(JSON.parse(String(e.data)));
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed.then(() => {
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async open(url: string, options?: { headers?: Record<string, string> }): Promise<Client> {
    const c = new Client(url, options);
    await c.opened;
    return c;
  }

  send(frame: unknown) {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  of(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }

  /** Waits until `predicate` holds over the recorded frames. */
  async until(predicate: (frames: Frame[]) => boolean, what = "frames", timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.frames)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.frames.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The first frame of `type` received after the `skip` first ones. */
  async next(type: string, index = 0, timeoutMs = 5000): Promise<Frame> {
    await this.until((f) => f.filter((x) => x.type === type).length > index, `${type} #${index}`, timeoutMs);
    return this.of(type)[index]!;
  }

  close() {
    this.ws.close();
    return this.closed;
  }
}

/** Opens a socket (resolves on `open`: the server may still be joining it; await its presence snapshot to be sure). */
export async function join(app: App, sessionId: string, token: string): Promise<Client> {
  const c = await Client.open(sessionUrl(app, sessionId, token));
  return c;
}

/** Both participants of a pair in their room: `a` the inviter, `b` the invitee. */
export async function joinBoth(app: App, pair: Pair): Promise<{ a: Client; b: Client }> {
  const a = await join(app, pair.sessionId, pair.inviter.token);
  const b = await join(app, pair.sessionId, pair.invitee.token);
  return { a, b };
}

/** Resolves after the current burst of network events settled: for asserting that nothing more arrives (to wait for something that must happen, use waitFor). */
export const settle = (ms = 150) => Bun.sleep(ms);

/**
 * A WebSocket client written by hand over TCP (node:net), for clients that misbehave on purpose: it
 * completes the handshake, then does only what the test says. It never answers pings, can stop
 * reading (`socket.pause()`), and can send frames a real client refuses to build. Frames the server
 * sends are recorded: opcode (8 is close, 9 is ping), payload, and `at` (performance.now()).
 */
export class RawSocket {
  readonly frames: { opcode: number; payload: Buffer; at: number }[] = [];
  /** Resolves when the TCP connection is gone, whoever ended it. */
  readonly ended: Promise<void>;
  private buffer = Buffer.alloc(0);
  private upgraded = false;

  private constructor(readonly socket: import("node:net").Socket) {
    this.ended = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.on("error", () => {});
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
  }

  /** Connects and sends the upgrade request; with `handshake` false, returns without waiting for the 101. */
  static async open(wsUrl: string, { handshake = true, timeoutMs = 5000 } = {}): Promise<RawSocket> {
    const { connect } = await import("node:net");
    const url = new URL(wsUrl);
    const raw = new RawSocket(connect({ host: url.hostname, port: Number(url.port) }));
    const key = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64");
    raw.socket.write(
      `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    const deadline = Date.now() + timeoutMs;
    while (handshake && !raw.upgraded) {
      if (Date.now() > deadline || raw.socket.destroyed) {
        raw.socket.destroy();
        throw new Error(`no 101 from the server; got ${JSON.stringify(raw.buffer.toString("latin1").slice(0, 200))}`);
      }
      await Bun.sleep(5);
    }
    return raw;
  }

  /** Sends one frame, masked as a client must unless `mask` is false. */
  send(opcode: number, payload: Uint8Array, { fin = true, mask = true } = {}): void {
    const n = payload.length;
    const length =
      n < 126 ? [n] : n < 65536 ? [126, n >> 8, n & 255] : [127, 0, 0, 0, 0, n >>> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255];
    length[0]! |= mask ? 0x80 : 0;
    const key = mask ? crypto.getRandomValues(new Uint8Array(4)) : new Uint8Array(0);
    const body = mask ? payload.map((b, i) => b ^ key[i % 4]!) : payload;
    this.socket.write(Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, ...length]), key, body]));
  }

  /** The server's close frame, if one arrived. */
  get closeFrame(): { code: number; reason: string } | null {
    const f = this.frames.find((x) => x.opcode === 8);
    return f ? { code: f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005, reason: f.payload.subarray(2).toString("utf8") } : null;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private receive(chunk: Buffer) {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    if (!this.upgraded) {
      const end = this.buffer.indexOf("\r\n\r\n");
      if (end < 0 || !this.buffer.toString("latin1", 0, end).startsWith("HTTP/1.1 101")) return;
      this.upgraded = true;
      this.buffer = this.buffer.subarray(end + 4);
    }
    while (this.buffer.length >= 2) {
      const short = this.buffer[1]! & 0x7f;
      const offset = short === 126 ? 4 : short === 127 ? 10 : 2;
      if (this.buffer.length < offset) return;
      const length = short === 126 ? this.buffer.readUInt16BE(2) : short === 127 ? Number(this.buffer.readBigUInt64BE(2)) : short;
      if (this.buffer.length < offset + length) return;
      this.frames.push({
        opcode: this.buffer[0]! & 0x0f,
        payload: Buffer.from(this.buffer.subarray(offset, offset + length)),
        at: performance.now(),
      });
      this.buffer = this.buffer.subarray(offset + length);
    }
  }
}

/** Sends `request` as written (headers a fetch() would not let through) and resolves with the whole answer. */
export async function rawHttp(port: number, request: string): Promise<string> {
  const { connect } = await import("node:net");
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port }, () => socket.write(request));
    let answer = "";
    socket.on("data", (chunk) => (answer += chunk.toString("latin1")));
    socket.on("end", () => resolve(answer));
    socket.on("error", reject);
    socket.setTimeout(5000, () => socket.destroy(new Error(`no answer; got ${JSON.stringify(answer.slice(0, 200))}`)));
  });
}
