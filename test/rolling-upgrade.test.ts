/**
 * A rolling upgrade: instances of two versions share one Redis. Each instance here has its own
 * REDIS_KEY_PREFIX, so nothing crosses between them except through a relay in the middle that reads
 * and writes the other version's bytes: the 0.2 release's codec (test/support/wire-0.2.ts), or a
 * newer wire that adds header fields and a kind this version does not know.
 */
import { expect, spyOn, test } from "bun:test";
import Redis from "ioredis";
import type { App } from "../src/app.ts";
import { WIRE_VERSION, decode, encodeBatch } from "../src/bus/envelope-codec.ts";
import { RedisNames } from "../src/bus/redis-names.ts";
import { Client, createPair, describeWithRedis, env, type Frame, sessionUrl, useServers } from "./helpers.ts";
import * as v02 from "./support/wire-0.2.ts";

const servers = useServers();
const BURST = 30;

type Translate = (sessionId: string, payload: string) => string[];

/** The 0.2 release in the middle: what it cannot read it drops, what it reads it sends on in its own bytes. */
function through02(dropped: string[]): Translate {
  return (sessionId, payload) => {
    const decoded = v02.decode({ sessionId }, payload);
    if (!decoded) {
      dropped.push(payload.split(" ")[1]!);
      return [];
    }
    const { envelopes } = decoded;
    if (envelopes.length > 1 && envelopes.every(v02.batchable)) return [v02.encodeBatch("relay", envelopes)];
    return envelopes.map((e) => v02.encode("relay", e));
  };
}

/** A newer version in the middle: a higher wire version, a header field and a kind of its own in every batch. */
const throughNext: Translate = (sessionId, payload) => {
  const decoded = decode({ sessionId }, payload);
  if (!decoded) return [];
  const batch = encodeBatch("relay", decoded.envelopes);
  const [head, ...members] = batch.split("\n");
  const [origin, , count, sentAt] = head!.split(" ");
  const future = ["z 1", '{"from":"the future"}'];
  return [[`${origin} b ${Number(count) + 1} ${sentAt} ${WIRE_VERSION + 1} x-new-field`, ...future, ...members].join("\n")];
};

/** Relays one session's envelopes both ways between two deployments' channels (never its own). */
async function relay(sessionId: string, prefixes: [string, string], translate: Translate) {
  const sub = new Redis(env.redisUrl!);
  const pub = new Redis(env.redisUrl!);
  const [a, b] = prefixes.map((p) => new RedisNames(p).channelOf(sessionId)) as [string, string];
  sub.on("smessage", (channel: string, payload: string) => {
    if (payload.startsWith("relay ")) return;
    for (const out of translate(sessionId, payload)) void pub.spublish(channel === a ? b : a, out);
  });
  await sub.ssubscribe(a, b);
  return () => {
    sub.disconnect();
    pub.disconnect();
  };
}

async function twoVersions(translate: Translate) {
  const run = crypto.randomUUID().slice(0, 8);
  const prefixes: [string, string] = [`up-a-${run}`, `up-b-${run}`];
  const start = (prefix: string) => servers.start({ redisUrl: env.redisUrl, logLevel: "info" }, { REDIS_KEY_PREFIX: prefix });
  const [a, b] = await Promise.all(prefixes.map(start));
  const pair = await createPair();
  const stop = await relay(pair.sessionId, prefixes, translate);
  const alice = await Client.open(sessionUrl(a as App, pair.sessionId, pair.inviter.token));
  const bob = await Client.open(sessionUrl(b as App, pair.sessionId, pair.invitee.token));
  for (const c of [alice, bob]) await c.next("presence");
  return { alice, bob, close: () => [alice.close(), bob.close(), stop()] };
}

/** Both climbers send a burst at once (group commit makes batches); each sees all of it once, in seq order. */
async function exchange(alice: Client, bob: Client) {
  for (let i = 0; i < BURST; i++) {
    alice.send({ type: "message", content: `a${i}` });
    bob.send({ type: "message", content: `b${i}` });
  }
  for (const c of [alice, bob]) await c.until((f) => messages(f).length === 2 * BURST, "both bursts", 10_000);
  const seqs = (c: Client) => messages(c.frames).map((m) => m.seq);
  const expected = Array.from({ length: 2 * BURST }, (_, i) => i + 1);
  expect(seqs(alice)).toEqual(expected);
  expect(seqs(bob)).toEqual(expected);
  expect(messages(bob.frames).map((m) => m.content)).toEqual(messages(alice.frames).map((m) => m.content));
}

const messages = (frames: Frame[]) => frames.filter((f) => f.type === "message");

describeWithRedis("instances of two versions side by side", () => {
  test("this version and 0.2 read each other's messages, batches and typing; 0.2 drops only what it does not know", async () => {
    const dropped: string[] = [];
    const { alice, bob, close } = await twoVersions(through02(dropped));
    try {
      await exchange(alice, bob);
      bob.send({ type: "typing", is_typing: true });
      expect((await alice.next("typing")).is_typing).toBe(true);
      // A change is new since 0.2: it travels alone, so 0.2 drops it and nothing with it.
      alice.send({ type: "react", seq: 2, emoji: "👍", on: true });
      await alice.next("message_changed");
      alice.send({ type: "message", content: "after the change" });
      await bob.until((f) => messages(f).some((m) => m.content === "after the change"), "the message after the change");
      expect(dropped).toContain("c");
      expect(dropped.filter((kind) => kind !== "c")).toEqual([]);
      expect(bob.of("message_changed")).toEqual([]);
    } finally {
      await Promise.all(close());
    }
  });

  test("a newer version's header fields and unknown kinds are skipped, the rest of its batches delivered, and said once", async () => {
    const lines: string[] = [];
    const spy = spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const { alice, bob, close } = await twoVersions(throughNext);
    try {
      await exchange(alice, bob);
      alice.send({ type: "react", seq: 1, emoji: "🧗", on: true });
      expect((await bob.next("message_changed")).seq).toBe(1);
    } finally {
      spy.mockRestore();
      await Promise.all(close());
    }
    const skipped = lines.filter((l) => l.includes("skipping envelopes of a kind this version does not know")).map((l) => JSON.parse(l));
    expect(skipped).toHaveLength(2); // once on each instance
    expect(skipped[0]).toMatchObject({ kind: "z", wire: WIRE_VERSION + 1 });
  });
});
