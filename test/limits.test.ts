/**
 * The server's limits, each against a real server started with that limit set small through the
 * environment: frame size, message and typing rates, connections per user, slow readers and
 * heartbeats. The helpers lift the rate limits by default, so the servers here set the ones they test.
 * Misbehaving clients (one that stops reading, one that never answers pings, one that announces a huge
 * frame) are hand-built WebSocket clients over raw TCP (RawSocket).
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { Client, createPair, db, join, RawSocket, sessionUrl, settle, useServers, waitFor, type Frame, joinBoth } from "./helpers.ts";
import type { App } from "../src/app.ts";

const servers = useServers();

/** The value of one series of the server's /metrics, e.g. `chat_open_sockets`; 0 when absent. */
async function metric(app: App, series: string): Promise<number> {
  const text = await (await fetch(`${app.httpUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

async function storedMessages(sessionId: string): Promise<number> {
  const [row] = await db`SELECT count(*)::int AS n FROM messages WHERE session_id = ${sessionId}`;
  return row!.n;
}

/** True when the server kept the socket (its presence snapshot arrived), false when it closed it. */
const admitted = (c: Client) => Promise.race([c.closed.then(() => false), c.next("presence").then(() => true)]);

const count = (frames: Frame[], type: string) => frames.filter((f) => f.type === type).length;

describe("frame size (MAX_FRAME_BYTES=2048)", () => {
  let app: App;
  beforeAll(async () => {
    app = await servers.start({}, { MAX_FRAME_BYTES: "2048" });
  });

  /** A message frame of exactly `bytes` bytes of UTF-8 whose content stays within 2000 code points. */
  function messageOfBytes(bytes: number): string {
    const body = bytes - Buffer.byteLength(JSON.stringify({ type: "message", content: "" }));
    const twoByte = Math.max(0, body - 2000); // "é" is 2 bytes, 1 code point
    const frame = JSON.stringify({ type: "message", content: "é".repeat(twoByte) + "x".repeat(body - 2 * twoByte) });
    expect(Buffer.byteLength(frame)).toBe(bytes);
    return frame;
  }

  test("a 4096-byte frame closes its socket with 1009; the other participant is still served", async () => {
    const pair = await createPair();
    const { a, b } = await joinBoth(app, pair);
    a.send("x".repeat(4096));
    // uWS closes it with its own reason, not the server's "frame too large".
    expect(await a.closed).toEqual({ code: 1009, reason: "Received too big message" });
    b.send({ type: "message", content: "still served" });
    expect((await b.next("message")).content).toBe("still served");
    expect(await storedMessages(pair.sessionId)).toBe(1);
    await b.close();
  }, 10_000);

  test("frames of 2000 bytes and of exactly 2048 bytes pass; 2049 bytes do not", async () => {
    const pair = await createPair();
    const a = await join(app, pair.sessionId, pair.inviter.token);
    a.send(messageOfBytes(2000));
    a.send(messageOfBytes(2048));
    await a.until((f) => count(f, "message") === 2, "2 messages");
    expect(await storedMessages(pair.sessionId)).toBe(2);
    a.send(messageOfBytes(2049));
    expect((await a.closed).code).toBe(1009);
    expect(await storedMessages(pair.sessionId)).toBe(2);
  }, 10_000);

  test("an oversized frame is refused from its header, before any of its payload arrives", async () => {
    const pair = await createPair();
    const raw = await RawSocket.open(sessionUrl(app, pair.sessionId, pair.inviter.token));
    // A masked text frame announcing 1 GiB (64-bit length), then its mask and 3 bytes: nothing more is sent.
    raw.socket.write(Buffer.from([0x81, 0xff, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4, 0x61, 0x62, 0x63]));
    await Promise.race([raw.ended, Bun.sleep(3000)]);
    expect(raw.closeFrame).toEqual({ code: 1009, reason: "Received too big message" });
    expect(raw.socket.destroyed).toBe(true);
    expect((await fetch(`${app.httpUrl}/healthz`)).status).toBe(200);
  }, 10_000);
});

describe("message rate (MESSAGE_RATE_PER_SECOND=2, MESSAGE_BURST=5, RATE_LIMIT_STRIKES=20)", () => {
  let app: App;
  beforeAll(async () => {
    app = await servers.start({}, { MESSAGE_RATE_PER_SECOND: "2", MESSAGE_BURST: "5", RATE_LIMIT_STRIKES: "20" });
  });

  test("a burst of 5 is stored; later frames get rate_limited with their client_id and store nothing; a second later sends pass", async () => {
    const pair = await createPair();
    const { a, b } = await joinBoth(app, pair);
    const ids = Array.from({ length: 8 }, () => crypto.randomUUID());
    for (const id of ids) a.send({ type: "message", content: `burst ${id}`, client_id: id });
    a.send({ type: "message", content: "no client_id 1" });
    a.send({ type: "message", content: "no client_id 2" });
    await a.until((f) => count(f, "message") === 5 && count(f, "error") === 5, "5 messages and 5 errors");
    expect(a.of("message").map((m) => m.client_id)).toEqual(ids.slice(0, 5));
    expect(a.of("message").map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(a.of("error")).toEqual([
      ...ids.slice(5).map((id) => ({ type: "error", code: "rate_limited", error: "too many frames, slow down", client_id: id })),
      { type: "error", code: "rate_limited", error: "too many frames, slow down" },
      { type: "error", code: "rate_limited", error: "too many frames, slow down" },
    ]);
    await b.until((f) => count(f, "message") === 5, "5 messages at the other participant");
    await settle(300);
    expect(count(b.frames, "message")).toBe(5);
    expect(await storedMessages(pair.sessionId)).toBe(5);

    await Bun.sleep(1100); // 2 tokens back at 2 per second
    a.send({ type: "message", content: "after a pause 1" });
    a.send({ type: "message", content: "after a pause 2" });
    await a.until((f) => count(f, "message") === 7, "7 messages");
    expect(count(a.frames, "error")).toBe(5);
    expect(await storedMessages(pair.sessionId)).toBe(7);
    await Promise.all([a.close(), b.close()]);
  }, 15_000);

  test("sustained abuse closes the socket with 1008 once the strikes are spent", async () => {
    const pair = await createPair();
    const b = await join(app, pair.sessionId, pair.invitee.token);
    const a = await join(app, pair.sessionId, pair.inviter.token);
    const closedBefore = await metric(app, 'chat_sockets_closed_total{code="1008"}');
    let open = true;
    void a.closed.then(() => (open = false));
    let sent = 0;
    const started = Date.now();
    // 20 frames every 50 ms: 400 per second against a rate of 2.
    while (open && Date.now() - started < 10_000) {
      for (let i = 0; i < 20; i++, sent++) a.send({ type: "message", content: `flood ${sent}` });
      await Bun.sleep(50);
    }
    expect(await a.closed).toEqual({ code: 1008, reason: "rate limit exceeded again and again" });
    expect(Date.now() - started).toBeLessThan(3000);
    // The 5 of the burst passed; then 20 strikes (plus the few refilled meanwhile) earned rate_limited.
    expect(count(a.frames, "message")).toBe(5);
    const limited = a.of("error").filter((e) => e.code === "rate_limited").length;
    expect(limited).toBeGreaterThanOrEqual(20);
    expect(limited).toBeLessThanOrEqual(26);
    expect(count(a.frames, "error")).toBe(limited);
    await settle(300);
    expect(await storedMessages(pair.sessionId)).toBe(5);
    expect(await metric(app, 'chat_sockets_closed_total{code="1008"}')).toBe(closedBefore + 1);
    // The other participant is untouched.
    b.send({ type: "message", content: "still here" });
    await b.until((f) => f.some((m) => m.content === "still here"), "b's own message");
    await b.close();
  }, 15_000);
});

describe("typing rate (TYPING_RATE_PER_SECOND=1, TYPING_BURST=3)", () => {
  test("excess typing frames get rate_limited; the other participant gets only the allowed ones; messages are unaffected", async () => {
    const app = await servers.start({}, { TYPING_RATE_PER_SECOND: "1", TYPING_BURST: "3" });
    const pair = await createPair();
    const { a, b } = await joinBoth(app, pair);
    for (let i = 0; i < 8; i++) a.send({ type: "typing", is_typing: i % 2 === 0 });
    await a.until((f) => count(f, "error") === 5, "5 errors");
    expect(a.of("error").every((e) => e.code === "rate_limited" && !("client_id" in e))).toBe(true);
    await b.until((f) => count(f, "typing") === 3, "3 typing frames");
    // Typing has its own bucket: a message still passes at once.
    a.send({ type: "message", content: "typing did not use my message tokens" });
    await b.next("message");
    await settle(300);
    expect(b.of("typing").map((t) => t.is_typing)).toEqual([true, false, true]);
    expect(count(a.frames, "error")).toBe(5);
    expect(count(a.frames, "typing")).toBe(0);
    await Promise.all([a.close(), b.close()]);
  }, 10_000);
});

describe("connections per user (MAX_CONNECTIONS_PER_USER=2)", () => {
  test("a third socket is accepted then closed with 4101; closing one makes room; another user is unaffected", async () => {
    const app = await servers.start({}, { MAX_CONNECTIONS_PER_USER: "2" });
    const pair = await createPair();
    const url = sessionUrl(app, pair.sessionId, pair.inviter.token);
    const first = new Client(url);
    const second = new Client(url);
    expect(await admitted(first)).toBe(true);
    expect(await admitted(second)).toBe(true);

    const third = new Client(url);
    await third.opened; // the upgrade succeeds: the refusal is a close code the client can read
    expect(await third.closed).toEqual({ code: 4101, reason: "too many connections for this user" });
    expect(await metric(app, 'chat_connections_refused_total{code="4101"}')).toBe(1);

    const otherUser = [
      new Client(sessionUrl(app, pair.sessionId, pair.invitee.token)),
      new Client(sessionUrl(app, pair.sessionId, pair.invitee.token)),
    ];
    expect(await Promise.all(otherUser.map(admitted))).toEqual([true, true]);

    await first.close();
    await waitFor("the server to count the closed socket out", async () => (await metric(app, "chat_open_sockets")) === 3);
    const fourth = new Client(url);
    expect(await admitted(fourth)).toBe(true);
    fourth.send({ type: "message", content: "made room" });
    expect((await fourth.next("message")).content).toBe("made room");
    expect(await metric(app, 'chat_connections_refused_total{code="4101"}')).toBe(1);
    await Promise.all([second, fourth, ...otherUser].map((c) => c.close()));
  }, 10_000);
});

describe("slow reader (WS_BACKPRESSURE_LIMIT_BYTES=65536)", () => {
  test("a participant that stops reading is cut off; the sender gets every message in order; memory stays bounded", async () => {
    const app = await servers.start({}, { WS_BACKPRESSURE_LIMIT_BYTES: "65536" });
    const pair = await createPair();
    const fast = await join(app, pair.sessionId, pair.inviter.token);
    const slow = await RawSocket.open(sessionUrl(app, pair.sessionId, pair.invitee.token));
    await waitFor("the slow socket's presence snapshot", () => slow.frames.length >= 2);
    slow.socket.pause(); // stops reading: the kernel buffers fill, then the server's
    expect(await metric(app, "chat_open_sockets")).toBe(2);
    Bun.gc(true);
    const rssBefore = process.memoryUsage().rss;

    // 3000 messages of 2000 emoji (8 kB each, 25 MB in all), at most 4 unacknowledged at a time: the
    // sender reads its echoes, so only the slow socket falls behind (a socket with more than 64 kB
    // queued is cut at once, however fast it reads).
    const total = 3000;
    const window = 4;
    const content = "🧗".repeat(2000);
    let slowGoneAfter: number | null = null;
    for (let sent = 0; sent < total; ) {
      for (let i = 0; i < window && sent < total; i++, sent++) fast.send({ type: "message", content });
      await fast.until((f) => count(f, "message") === sent, `echo of message ${sent}`, 10_000);
      if (slowGoneAfter === null && sent % 60 === 0 && (await metric(app, "chat_open_sockets")) === 1) slowGoneAfter = sent;
    }
    await waitFor("the slow socket to be closed", async () => (await metric(app, "chat_open_sockets")) === 1);
    Bun.gc(true);
    const rssGrowthMb = (process.memoryUsage().rss - rssBefore) / 1e6;

    expect(fast.of("message").map((m) => m.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(fast.ws.readyState).toBe(WebSocket.OPEN);
    expect(await storedMessages(pair.sessionId)).toBe(total);
    expect(rssGrowthMb).toBeLessThan(200);

    // What the slow client finds once it reads again: what the kernel held, then the end.
    slow.socket.resume();
    await Promise.race([slow.ended, Bun.sleep(5000)]);
    expect(slow.socket.destroyed).toBe(true);
    const received = slow.frames.filter((f) => f.opcode === 1).length;
    expect(received).toBeLessThan(total / 2); // the server dropped it instead of queueing the flood
    // Bun cuts a socket with more than the limit queued, on the next send, without a close frame
    // (it could not be read anyway): the client sees 1006 and resumes with `after`.
    console.log(
      `slow reader: cut after ${slowGoneAfter ?? "?"} messages; it had received ${received}; RSS growth ${rssGrowthMb.toFixed(0)} MB`,
    );
    expect(slow.closeFrame).toBeNull();
    await fast.close();
  }, 30_000);
});

describe("heartbeats (WS_IDLE_TIMEOUT_SECONDS=5)", () => {
  /*
   * Measured (Bun 1.4.5): uWS checks timeouts on a 4-second tick, so an idle timeout of T seconds
   * acts as T' = 4 * ceil(T / 4). The server pings a silent socket at the tick 4 s before T' and
   * drops it, without a close frame, on the next tick if no pong came: with T = 5 the ping comes
   * 0-4 s after the open and the cut 4-8 s after it. So a socket may be cut a little before T.
   */
  test("a socket that never answers pings is pinged, then cut within 2x the idle timeout; a normal idle client stays", async () => {
    const idleSeconds = 5;
    const app = await servers.start({}, { WS_IDLE_TIMEOUT_SECONDS: String(idleSeconds) });
    const pair = await createPair();
    const started = performance.now();
    const [mute, idle] = await Promise.all([
      RawSocket.open(sessionUrl(app, pair.sessionId, pair.invitee.token)),
      join(app, pair.sessionId, pair.inviter.token),
    ]);
    expect(await metric(app, "chat_open_sockets")).toBe(2);

    await Promise.race([mute.ended, Bun.sleep(3 * idleSeconds * 1000)]);
    const cutAfter = (performance.now() - started) / 1000;
    expect(mute.socket.destroyed).toBe(true);
    const ping = mute.frames.find((f) => f.opcode === 9);
    expect(ping).toBeDefined();
    const pingAfter = (ping!.at - started) / 1000;
    console.log(
      `heartbeats: the mute socket was pinged after ${pingAfter.toFixed(1)} s and cut after ${cutAfter.toFixed(1)} s (idle timeout ${idleSeconds} s)`,
    );
    expect(mute.closeFrame).toBeNull(); // dropped at the TCP level
    expect(cutAfter - pingAfter).toBeGreaterThan(3); // one 4-second tick between the ping and the cut
    expect(cutAfter - pingAfter).toBeLessThan(5.5);
    expect(cutAfter).toBeGreaterThan(3.5);
    expect(cutAfter).toBeLessThan(2 * idleSeconds);
    await waitFor("the mute socket to leave chat_open_sockets", async () => (await metric(app, "chat_open_sockets")) === 1, 2000);

    // The Bun client answered the same pings by itself: still open past twice the timeout, and working.
    await Bun.sleep(Math.max(0, 2 * idleSeconds * 1000 + 500 - (performance.now() - started)));
    expect(idle.ws.readyState).toBe(WebSocket.OPEN);
    idle.send({ type: "message", content: "still awake" });
    expect((await idle.next("message")).content).toBe("still awake");
    await idle.close();
  }, 20_000);
});
