/** Two real instances sharing PostgreSQL and Redis behave as one. */
import { beforeAll, expect, test } from "bun:test";
import { createPair, db, describeEachRedis, join, settle, useServers, waitFor, type Client } from "./helpers.ts";
import type { App } from "../src/app.ts";
import { decode } from "../src/bus/envelope-codec.ts";

const servers = useServers();

function seqsOf(c: Client): number[] {
  return c.of("message").map((m) => m.seq as number);
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describeEachRedis("two instances through Redis", (redisUrl) => {
  let a: App;
  let b: App;
  beforeAll(async () => {
    a = await servers.start({ redisUrl: redisUrl() });
    b = await servers.start({ redisUrl: redisUrl() });
  });

  test("messages and typing cross both ways; the sender's echo comes once", async () => {
    const pair = await createPair();
    const onA = await join(a, pair.sessionId, pair.inviter.token);
    const onB = await join(b, pair.sessionId, pair.invitee.token);
    onA.send({ type: "message", content: "from A" });
    expect((await onB.next("message")).content).toBe("from A");
    onB.send({ type: "message", content: "from B" });
    expect((await onA.next("message", 1)).content).toBe("from B");
    onA.send({ type: "typing", is_typing: true });
    onB.send({ type: "typing", is_typing: false });
    expect(await onB.next("typing")).toMatchObject({ sender_id: pair.inviter.id, is_typing: true });
    expect(await onA.next("typing")).toMatchObject({ sender_id: pair.invitee.id, is_typing: false });
    await settle(300);
    for (const c of [onA, onB]) {
      expect(c.of("message").map((m) => m.content)).toEqual(["from A", "from B"]);
      expect(c.of("typing")).toHaveLength(1);
    }
    await Promise.all([onA.close(), onB.close()]);
  });

  test("a burst of 500 messages from each side arrives once each, in the same seq order, everywhere", async () => {
    const pair = await createPair();
    const onA = await join(a, pair.sessionId, pair.inviter.token);
    const onB = await join(b, pair.sessionId, pair.invitee.token);
    const payloads: string[] = [];
    const listener = await shardListener(redisUrl(), `chat:{${pair.sessionId}}`, (p) => payloads.push(p));
    for (let i = 0; i < 500; i++) {
      onA.send({ type: "message", content: `a${i}` });
      onB.send({ type: "message", content: `b${i}` });
    }
    for (const c of [onA, onB]) await c.until((f) => f.filter((x) => x.type === "message").length >= 1000, "1000 messages", 20_000);
    await settle(300);
    for (const c of [onA, onB]) {
      expect(seqsOf(c)).toEqual(range(1000));
      const contents = c.of("message").map((m) => m.content as string);
      expect(contents.filter((x) => x.startsWith("a"))).toEqual(range(500).map((i) => `a${i - 1}`));
      expect(contents.filter((x) => x.startsWith("b"))).toEqual(range(500).map((i) => `b${i - 1}`));
    }
    expect(onA.of("message")).toEqual(onB.of("message"));
    const [row] = await db`SELECT count(*)::int AS n, count(DISTINCT seq)::int AS seqs FROM messages WHERE session_id = ${pair.sessionId}`;
    expect(row).toEqual({ n: 1000, seqs: 1000 });
    // On the wire: each committed batch's messages of the session travel in one Redis message.
    listener.close();
    const envelopes = payloads.flatMap((p) => decode({ sessionId: pair.sessionId }, p)?.envelopes ?? []);
    const seqs = envelopes.flatMap((e) => (e.kind === "message" ? [e.seq] : []));
    expect(seqs.toSorted((x, y) => x - y)).toEqual(range(1000));
    expect(payloads.length).toBeLessThan(1000);
    await Promise.all([onA.close(), onB.close()]);
  }, 30_000);

  test("one participant on both instances gets every message once on each socket; typing skips all of the sender's sockets", async () => {
    const pair = await createPair();
    const laptopOnA = await join(a, pair.sessionId, pair.invitee.token);
    const phoneOnB = await join(b, pair.sessionId, pair.invitee.token);
    const other = await join(a, pair.sessionId, pair.inviter.token);
    const otherOnB = await join(b, pair.sessionId, pair.inviter.token);
    for (let i = 0; i < 20; i++) (i % 2 ? other : phoneOnB).send({ type: "message", content: `m${i}` });
    phoneOnB.send({ type: "typing", is_typing: true });
    for (const c of [laptopOnA, phoneOnB, other, otherOnB])
      await c.until((f) => f.filter((x) => x.type === "message").length >= 20, "20 messages");
    await other.next("typing");
    await otherOnB.next("typing");
    await settle(300);
    for (const c of [laptopOnA, phoneOnB, other, otherOnB]) expect(seqsOf(c)).toEqual(range(20));
    expect(laptopOnA.of("typing")).toHaveLength(0);
    expect(phoneOnB.of("typing")).toHaveLength(0);
    expect(other.of("typing")).toHaveLength(1);
    expect(otherOnB.of("typing")).toHaveLength(1);
    await Promise.all([laptopOnA, phoneOnB, other, otherOnB].map((c) => c.close()));
  });

  test("a retry on another instance is answered there with the original, to the retrying socket only", async () => {
    const pair = await createPair();
    const senderOnA = await join(a, pair.sessionId, pair.inviter.token);
    const otherOnA = await join(a, pair.sessionId, pair.invitee.token);
    const senderOnB = await join(b, pair.sessionId, pair.inviter.token);
    const clientId = crypto.randomUUID();
    senderOnA.send({ type: "message", content: "sent on A", client_id: clientId });
    const original = await senderOnB.next("message");
    senderOnB.send({ type: "message", content: "sent on A", client_id: clientId });
    expect(await senderOnB.next("message", 1)).toEqual(original);
    senderOnB.send({ type: "message", content: "sent on A", client_id: clientId });
    expect(await senderOnB.next("message", 2)).toEqual(original);
    await settle(300);
    expect(senderOnA.of("message")).toEqual([original]);
    expect(otherOnA.of("message")).toEqual([original]);
    const [row] = await db`SELECT count(*)::int AS n FROM messages WHERE client_id = ${clientId}`;
    expect(row!.n).toBe(1);
    await Promise.all([senderOnA, otherOnA, senderOnB].map((c) => c.close()));
  });

  test("an instance subscribes to a session's channel only while it has sockets in it", async () => {
    const pair = await createPair();
    const channel = `chat:{${pair.sessionId}}`;
    const count = () => shardSubscribers(redisUrl(), channel);
    expect(await count()).toBe(0);
    const c1 = await join(a, pair.sessionId, pair.inviter.token);
    const c2 = await join(a, pair.sessionId, pair.invitee.token);
    await waitFor("one instance subscribed", async () => (await count()) === 1, 3000);
    const c3 = await join(b, pair.sessionId, pair.invitee.token);
    await waitFor("both instances subscribed", async () => (await count()) === 2, 3000);
    await c1.close();
    await settle(100); // A still has c2: it must not unsubscribe
    expect(await count()).toBe(2);
    await Promise.all([c2.close(), c3.close()]);
    await waitFor("no instance subscribed", async () => (await count()) === 0, 3000);
  });
});

/** Every payload published to a session's channel (SSUBSCRIBE, on a cluster at the shard that owns it). */
async function shardListener(url: string, channel: string, onPayload: (payload: string) => void): Promise<{ close(): void }> {
  const { default: Redis, Cluster } = await import("ioredis");
  const probe = new Redis(url);
  const clustered = /cluster_enabled:1/.test(await probe.info("cluster"));
  probe.disconnect();
  const client = clustered ? new Cluster([url], { shardedSubscribers: true }) : new Redis(url);
  client.on("smessage", (_channel: string, payload: string) => onPayload(payload));
  await client.ssubscribe(channel);
  return { close: () => client.disconnect() };
}

/** PUBSUB SHARDNUMSUB of a channel, summed over the masters (on a cluster only its shard's owner has any). */
async function shardSubscribers(url: string, channel: string): Promise<number> {
  const { default: Redis, Cluster } = await import("ioredis");
  const probe = new Redis(url);
  const clustered = /cluster_enabled:1/.test(await probe.info("cluster"));
  probe.disconnect();
  const client = clustered ? new Cluster([url]) : new Redis(url);
  try {
    while (client.status !== "ready") await Bun.sleep(10);
    const nodes = client instanceof Cluster ? client.nodes("master") : [client];
    const counts = await Promise.all(nodes.map(async (n) => ((await n.call("PUBSUB", "SHARDNUMSUB", channel)) as [string, number])[1]));
    return counts.reduce((sum, n) => sum + n, 0);
  } finally {
    client.disconnect();
  }
}
