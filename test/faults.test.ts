/**
 * PostgreSQL unreachable or silent: sends fail fast and explicitly, sockets stay open, and service
 * resumes by itself when the database returns. Nothing is ever half-written.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPair, db, env, join, settle, useServers, type Pair, joinBoth } from "./helpers.ts";
import { TcpProxy } from "./tcp-proxy.ts";
import type { App } from "../src/app.ts";

const servers = useServers();
const target = new URL(env.databaseUrl);
const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
let app: App;

beforeAll(async () => {
  proxy.start();
  const viaProxy = new URL(env.databaseUrl);
  viaProxy.port = String(proxy.port);
  app = await servers.start({ databaseUrl: viaProxy.toString() }, { DB_WRITE_TIMEOUT_MS: "1000" });
});
afterAll(() => proxy.stop());

async function consistent(pair: Pair) {
  const [row] = await db`
    SELECT s.last_seq, s.last_message_at, max(m.seq)::int AS max_seq, count(m.id)::int AS n, max(m.created_at) AS newest
    FROM sessions s LEFT JOIN messages m ON m.session_id = s.id WHERE s.id = ${pair.sessionId} GROUP BY s.id`;
  expect(row!.last_seq).toBe(row!.max_seq ?? 0);
  expect(row!.n).toBe(row!.max_seq ?? 0);
  if (row!.n > 0) expect(row!.last_message_at.getTime()).toBe(row!.newest.getTime());
  return row!.n as number;
}

describe("PostgreSQL unreachable", () => {
  test("a send gets `unavailable` with its client_id, the socket stays open, and sends work again after", async () => {
    const pair = await createPair();
    const { a, b } = await joinBoth(app, pair);
    a.send({ type: "message", content: "before" });
    await b.next("message");

    proxy.set("down");
    const clientId = crypto.randomUUID();
    const sentAt = Date.now();
    a.send({ type: "message", content: "during", client_id: clientId });
    const error = await a.next("error", 0, 8000);
    expect(error).toMatchObject({ code: "unavailable", client_id: clientId });
    expect(Date.now() - sentAt).toBeLessThan(6500);
    const ready = await fetch(`${app.httpUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: "unavailable", database: "down" });
    a.send({ type: "typing", is_typing: true }); // what needs no database still works
    expect((await b.next("typing")).is_typing).toBe(true);

    proxy.set("up");
    // The client retries with backoff, as it should on `unavailable`, until its message is acknowledged.
    const backAt = Date.now();
    for (let attempt = 0; attempt < 10 && !a.of("message").some((m) => m.client_id === clientId); attempt++) {
      a.send({ type: "message", content: "during", client_id: clientId });
      await a.until(
        (f) => f.some((x) => x.client_id === clientId && x.type === "message") || f.filter((x) => x.type === "error").length > attempt + 1,
        "an answer",
        8000,
      );
      if (!a.of("message").some((m) => m.client_id === clientId)) await Bun.sleep(300);
    }
    expect(Date.now() - backAt).toBeLessThan(8000);
    expect(await b.next("message", 1, 8000)).toMatchObject({ content: "during", client_id: clientId, seq: 2 });
    await settle(200);
    expect(b.of("message")).toHaveLength(2);
    expect(await consistent(pair)).toBe(2);
    await Promise.all([a.close(), b.close()]);
  }, 30_000);

  test("a silent database (packets lost) gets `unavailable` within the write timeout, then recovers", async () => {
    const pair = await createPair();
    const a = await join(app, pair.sessionId, pair.inviter.token);
    proxy.set("blackhole");
    const sentAt = Date.now();
    a.send({ type: "message", content: "into the void", client_id: crypto.randomUUID() });
    expect((await a.next("error", 0, 8000)).code).toBe("unavailable");
    expect(Date.now() - sentAt).toBeLessThan(4000); // DB_WRITE_TIMEOUT_MS=1000, +1 s guard, + margin
    proxy.set("down"); // the stuck connections are cut, as a real network eventually does
    proxy.set("up");
    a.send({ type: "message", content: "back" });
    expect((await a.next("message", 0, 10_000)).content).toBe("back");
    await settle(200); // no event to wait for: whatever the cut write still does has time to land
    // The timed-out write was either committed or not, never half: seq, count and last_message_at agree.
    await consistent(pair);
    await a.close();
  }, 30_000);

  test("connecting while the database is down closes with 1013 (reconnect later), not a crash", async () => {
    const pair = await createPair();
    proxy.set("down");
    const { Client, sessionUrl } = await import("./helpers.ts");
    const c = new Client(sessionUrl(app, pair.sessionId, pair.inviter.token));
    expect((await c.closed).code).toBe(1013);
    proxy.set("up");
    const again = await join(app, pair.sessionId, pair.inviter.token);
    again.send({ type: "message", content: "fine now" });
    expect((await again.next("message", 0, 10_000)).content).toBe("fine now");
    await again.close();
  }, 30_000);
});
