/**
 * A Redis that stops answering without closing its connections (a partition, a hung server): the TCP
 * proxy in front of it holds every byte. Message writes must not notice, with offline notifications
 * on: the notifier's presence read must never sit inside the transaction that the writes wait on.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Client, createPair, db, describeWithRedis, env, join, useServers, type Pair } from "./helpers.ts";
import { TcpProxy } from "./tcp-proxy.ts";
import type { App } from "../src/app.ts";

const servers = useServers();
const GRACE_MS = 300;

describeWithRedis("a stalled Redis", () => {
  let proxy: TcpProxy;
  let app: App;
  let webhook: ReturnType<typeof Bun.serve>;
  const hooks: string[] = [];

  beforeAll(async () => {
    const target = new URL(env.redisUrl!);
    proxy = new TcpProxy(target.hostname, Number(target.port || 6379));
    proxy.start();
    webhook = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: async (req) => {
        hooks.push(await req.text());
        return new Response(null, { status: 204 });
      },
    });
    app = await servers.start(
      { redisUrl: `redis://127.0.0.1:${proxy.port}` },
      {
        NOTIFY_WEBHOOK_URL: `http://127.0.0.1:${webhook.port}/hook`,
        NOTIFY_WEBHOOK_SECRET: "webhook-secret-0123456789-abcdefghijklmnop",
        NOTIFY_GRACE_SECONDS: String(GRACE_MS / 1000),
      },
    );
  });

  afterAll(() => {
    proxy.set("up");
    webhook.stop(true);
    proxy.stop();
  });

  test("with notifications on, messages are stored and echoed at once while Redis holds every byte", async () => {
    // Rows that earlier servers of the suite left due would be decided first, and a decision stuck
    // on one of them would hold no session of this test: only this test's rows are due.
    await db`DELETE FROM chat_notify_queue`;
    const pairs: Pair[] = await Promise.all(Array.from({ length: 10 }, () => createPair()));
    const senders: Client[] = [];
    for (const pair of pairs) {
      const c = await join(app, pair.sessionId, pair.inviter.token);
      await c.next("presence", 1);
      senders.push(c);
    }
    // The first messages: their partners are away, so ten notifications fall due after the grace.
    await Promise.all(
      senders.map(async (c) => {
        c.send({ type: "message", content: "first", client_id: crypto.randomUUID() });
        await c.next("message", 0);
      }),
    );
    proxy.set("blackhole");
    await Bun.sleep(GRACE_MS + 700); // the notifier has claimed them and asks Redis, which never answers

    const times = await Promise.all(
      senders.map(async (c) => {
        const started = performance.now();
        c.send({ type: "message", content: "second", client_id: crypto.randomUUID() });
        await c.until((f) => f.some((x) => x.type === "error" || (x.type === "message" && x.content === "second")), "an answer", 8000);
        expect(c.of("error")).toEqual([]);
        return performance.now() - started;
      }),
    );
    expect(Math.max(...times)).toBeLessThan(1000);
    const stored = await db`SELECT 1 FROM messages WHERE content = 'second' AND session_id IN ${db(pairs.map((p) => p.sessionId))}`;
    expect(stored.length).toBe(10);
    for (const c of senders) c.close();
  }, 20_000);

  test("a socket that joins while Redis holds every byte is admitted and shown presence, within the command timeout", async () => {
    proxy.set("blackhole");
    const pair = await createPair();
    const started = performance.now();
    const c = await join(app, pair.sessionId, pair.invitee.token);
    await c.next("presence", 1, 10_000); // the snapshot: both participants, as the room knows them
    expect(performance.now() - started).toBeLessThan(8000); // the bus join's 2 s wait, then presence's 2 s command timeout (without it: never)
    expect(c.of("presence").find((p) => p.user_id === pair.invitee.id)).toMatchObject({ online: true });
    c.close();
  }, 20_000);
});
