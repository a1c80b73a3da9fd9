/**
 * SIGTERM on a real server process: new upgrades refused, in-flight writes finished, sockets closed
 * with 1001, clean exit within the deadline; and a rolling restart of one of two instances loses no
 * acknowledged message.
 */
import { beforeAll, expect, test } from "bun:test";
import {
  Client,
  SECRET,
  UNLIMITED,
  createPair,
  db,
  describeWithRedis,
  env,
  join,
  sessionUrl,
  settle,
  spawnServer,
  useServers,
  type Frame,
} from "./helpers.ts";
import type { App } from "../src/app.ts";

const servers = useServers();

/** A real server process with the suite's database and the per-socket rate limits lifted. */
const spawn = (extra: Record<string, string> = {}) =>
  spawnServer({
    ...(process.env as Record<string, string>),
    NODE_ENV: "test",
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: "",
    JWT_SECRET: SECRET,
    ...UNLIMITED,
    ...extra,
  });

test("SHUTDOWN_DELAY_SECONDS: /readyz answers 503 `draining` at once while the instance still serves; then sockets get 1001", async () => {
  const app = await servers.start({}, { SHUTDOWN_DELAY_SECONDS: "0.8" });
  const pair = await createPair();
  const c = await join(app, pair.sessionId, pair.inviter.token);
  await c.next("presence", 1);
  const before = await fetch(`${app.httpUrl}/readyz`);
  expect(before.status).toBe(200);
  const stopping = app.stop();
  const ready = await fetch(`${app.httpUrl}/readyz`);
  expect(ready.status).toBe(503);
  expect(await ready.json()).toMatchObject({ status: "draining", database: "up" });
  c.send({ type: "message", content: "still served" });
  expect(await c.next("message")).toMatchObject({ content: "still served" });
  const late = await join(app, pair.sessionId, pair.invitee.token); // a client the load balancer still sent: taken
  await late.next("presence", 1);
  expect((await c.closed).code).toBe(1001);
  expect((await late.closed).code).toBe(1001);
  await stopping;
});

test("SIGTERM with SHUTDOWN_DELAY_SECONDS: the exit deadline (SHUTDOWN_TIMEOUT_MS) counts after the delay, and the process exits 0", async () => {
  // A deadline shorter than the delay: counted from the signal it would end the process (exit 1) mid-delay.
  const child = await spawn({ SHUTDOWN_DELAY_SECONDS: "1", SHUTDOWN_TIMEOUT_MS: "800" });
  const signalled = performance.now();
  child.proc.kill("SIGTERM");
  await child.printed('"msg":"shutting down"');
  const ready = await fetch(`http://127.0.0.1:${child.port}/readyz`);
  expect(ready.status).toBe(503); // draining, while still up
  expect(await child.proc.exited).toBe(0);
  expect(performance.now() - signalled).toBeGreaterThanOrEqual(1000);
});

test("SIGTERM: sockets get 1001 with a reason to resume, acknowledged messages are stored, the process exits 0", async () => {
  const child = await spawn({ SHUTDOWN_TIMEOUT_MS: "5000" });
  const pair = await createPair();
  const a = await Client.open(sessionUrl(child.at, pair.sessionId, pair.inviter.token));
  const b = await Client.open(sessionUrl(child.at, pair.sessionId, pair.invitee.token));
  for (let i = 0; i < 200; i++) a.send({ type: "message", content: `m${i}`, client_id: crypto.randomUUID() });
  await a.next("message", 10);
  const started = Date.now();
  child.proc.kill("SIGTERM");
  expect(await a.closed).toEqual({ code: 1001, reason: "server shutting down, reconnect and resume" });
  expect((await b.closed).code).toBe(1001);
  expect(await child.proc.exited).toBe(0);
  expect(Date.now() - started).toBeLessThan(5000);
  // Every acknowledged message is in PostgreSQL; what the database has is gap-free.
  const acked = a.of("message").map((m) => m.message_id as string);
  const rows = await db`SELECT id, seq FROM messages WHERE session_id = ${pair.sessionId} ORDER BY seq`;
  const stored = new Set(rows.map((r) => r.id));
  for (const id of acked) expect(stored.has(id)).toBe(true);
  expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
  expect(child.output()).toContain('"msg":"stopped"');
  // Refused after shutdown began: nothing listens any more.
  expect(
    await fetch(`${child.at.httpUrl}/healthz`).then(
      () => "answered",
      () => "refused",
    ),
  ).toBe("refused");
}, 20_000);

describeWithRedis("rolling restart", () => {
  let stable: App;
  beforeAll(async () => {
    stable = await servers.start({ redisUrl: env.redisUrl });
  });

  test("restarting one of two instances loses and duplicates nothing that was acknowledged", async () => {
    const restarting = await spawn({ REDIS_URL: env.redisUrl! });
    const pair = await createPair();
    const receiver = await join(stable, pair.sessionId, pair.invitee.token);
    let sender = await Client.open(sessionUrl(restarting.at, pair.sessionId, pair.inviter.token));
    const pending = new Map<string, string>(); // client_id -> content, until acknowledged
    const acked = new Set<string>();
    let lastSeq = 0;
    const track = (c: Client) =>
      c.ws.addEventListener("message", (e) => {
        const f = JSON.parse(String(e.data)) as Frame;
        if (f.type !== "message") return;
        lastSeq = Math.max(lastSeq, f.seq as number);
        if (f.client_id && pending.delete(f.client_id as string)) acked.add(f.client_id as string);
      });
    track(sender);

    let n = 0;
    const send = (c: Client) => {
      const id = crypto.randomUUID();
      pending.set(id, `msg ${n++}`);
      c.send({ type: "message", content: pending.get(id), client_id: id });
    };
    for (let i = 0; i < 100; i++) send(sender);
    await sender.next("message", 20);
    restarting.proc.kill("SIGTERM");
    for (let i = 0; i < 50; i++) send(sender); // some of these race the shutdown
    expect((await sender.closed).code).toBe(1001);
    expect(await restarting.proc.exited).toBe(0);

    // The client reconnects to the other instance, resumes after what it saw, and retries the rest.
    sender = new Client(sessionUrl(stable, pair.sessionId, pair.inviter.token, `&after=${lastSeq}`));
    track(sender);
    await sender.opened;
    await sender.next("resumed");
    for (const [id, content] of pending) sender.send({ type: "message", content, client_id: id });
    for (let i = 0; i < 50; i++) send(sender);
    await sender.until(() => pending.size === 0, "every message acknowledged", 10_000);
    expect(acked.size).toBe(200);

    await receiver.until((f) => f.filter((x) => x.type === "message").length >= 200, "200 messages on the receiver", 10_000);
    await settle(300);
    const seqs = receiver.of("message").map((m) => m.seq);
    expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    const [row] =
      await db`SELECT count(*)::int AS n, count(DISTINCT client_id)::int AS ids FROM messages WHERE session_id = ${pair.sessionId}`;
    expect(row).toEqual({ n: 200, ids: 200 });
  }, 30_000);
});

describeWithRedis("presence through a deploy (SHUTDOWN_PRESENCE_GRACE_SECONDS)", () => {
  let stable: App;
  beforeAll(async () => {
    stable = await servers.start({ redisUrl: env.redisUrl });
  });
  const GRACE_MS = 1000;

  /** The inviter on an instance about to stop, the invitee on the stable one, each seeing the other online. */
  async function across() {
    const leaving = await servers.start({ redisUrl: env.redisUrl, shutdownPresenceGraceMs: GRACE_MS });
    const pair = await createPair();
    const watcher = await join(stable, pair.sessionId, pair.invitee.token);
    await watcher.next("presence", 0);
    const moving = await join(leaving, pair.sessionId, pair.inviter.token);
    await watcher.until((f) => f.some((x) => x.type === "presence" && x.user_id === pair.inviter.id && x.online), "the inviter online");
    const seen = watcher.frames.length;
    /** The inviter announced offline since they were seen online. */
    const offline = (f: Frame[]) => f.slice(seen).some((x) => x.type === "presence" && x.user_id === pair.inviter.id && !x.online);
    return { leaving, pair, watcher, moving, offline };
  }

  test("a participant the 1001 sends to the other instance within the grace is never shown offline in between", async () => {
    const { leaving, pair, watcher, moving, offline } = await across();
    const stopped = leaving.stop();
    expect((await moving.closed).code).toBe(1001);
    const back = await join(stable, pair.sessionId, pair.inviter.token); // as the client package does after 0–250 ms
    await back.next("presence", 0);
    await stopped; // the stopping instance's departures are done
    await settle(300);
    expect(offline(watcher.frames)).toBe(false);
    back.close();
    await watcher.until(offline, "the inviter offline once their last socket closed", 2000);
  });

  test("one who does not come back is shown offline within the grace + 2 s of the 1001, not before the grace", async () => {
    const { leaving, watcher, moving, offline } = await across();
    void leaving.stop();
    await moving.closed;
    const told = performance.now();
    await watcher.until(offline, "the inviter offline", GRACE_MS + 2000);
    expect(performance.now() - told).toBeGreaterThanOrEqual(GRACE_MS - 50);
  });
});
