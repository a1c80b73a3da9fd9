/**
 * Presence: join snapshot, first/last socket announcements, tabs, two instances, a killed instance,
 * and seeded rounds of tabs opening, churning and closing at once across instances.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { Client, SECRET, createPair, describeEachRedis, env, join, sessionUrl, settle, spawnServer, useServers } from "./helpers.ts";
import type { App } from "../src/app.ts";

const servers = useServers();

const presence = (c: Client) => c.of("presence").map((p) => [p.user_id, p.online]);

describe("one instance", () => {
  let app: App;
  beforeAll(async () => {
    app = await servers.start();
  });

  test("a joining socket gets the room's presence; the others hear first arrival and last departure only", async () => {
    const pair = await createPair();
    const a = await join(app, pair.sessionId, pair.inviter.token);
    await a.until((f) => f.filter((x) => x.type === "presence").length === 2, "snapshot");
    expect(a.of("presence")).toEqual([
      { type: "presence", user_id: pair.inviter.id, display_name: pair.inviter.name, online: true },
      { type: "presence", user_id: pair.invitee.id, display_name: pair.invitee.name, online: false },
    ]);

    const tab1 = await join(app, pair.sessionId, pair.invitee.token);
    expect(await a.next("presence", 2)).toEqual({
      type: "presence",
      user_id: pair.invitee.id,
      display_name: pair.invitee.name,
      online: true,
    });
    await tab1.until((f) => f.filter((x) => x.type === "presence").length === 2, "snapshot");
    expect(presence(tab1)).toEqual([
      [pair.inviter.id, true],
      [pair.invitee.id, true],
    ]);

    const tab2 = await join(app, pair.sessionId, pair.invitee.token);
    await tab2.next("presence", 1);
    await tab2.close();
    await settle(200);
    expect(a.of("presence")).toHaveLength(3); // a second tab opening or closing says nothing

    await tab1.close();
    expect(await a.next("presence", 3)).toMatchObject({ user_id: pair.invitee.id, online: false });
    expect(tab1.of("presence").filter((p) => p.user_id === pair.invitee.id && p.online === false)).toHaveLength(0);
  });
});

describeEachRedis("across instances", (redisUrl) => {
  let a: App;
  let b: App;
  beforeAll(async () => {
    a = await servers.start({ redisUrl: redisUrl(), presenceTtlMs: 1500 });
    b = await servers.start({ redisUrl: redisUrl(), presenceTtlMs: 1500 });
  });

  test("arrivals and departures on another instance are announced once", async () => {
    const pair = await createPair();
    const onA = await join(a, pair.sessionId, pair.inviter.token);
    await onA.next("presence", 1);
    const tabOnB = await join(b, pair.sessionId, pair.invitee.token);
    expect(await onA.next("presence", 2)).toMatchObject({ user_id: pair.invitee.id, online: true });
    await tabOnB.until((f) => f.filter((x) => x.type === "presence").length === 2, "snapshot");
    expect(presence(tabOnB)).toEqual([
      [pair.inviter.id, true],
      [pair.invitee.id, true],
    ]);

    const tabOnA = await join(a, pair.sessionId, pair.invitee.token); // same user, other instance
    await tabOnA.next("presence", 1);
    await tabOnB.close();
    await settle(300);
    expect(onA.of("presence")).toHaveLength(3); // still online through tabOnA
    await tabOnA.close();
    expect(await onA.next("presence", 3)).toMatchObject({ user_id: pair.invitee.id, online: false });
    await settle(2500); // heartbeats and reaping announce nothing more
    expect(onA.of("presence")).toHaveLength(4);
  }, 15_000);

  test("the users of an instance that dies go offline within the presence TTL", async () => {
    const pair = await createPair();
    const onA = await join(a, pair.sessionId, pair.inviter.token);
    await onA.next("presence", 1);
    const child = await spawnServer({
      ...(process.env as Record<string, string>),
      NODE_ENV: "test",
      DATABASE_URL: env.databaseUrl,
      REDIS_URL: redisUrl(),
      JWT_SECRET: SECRET,
      PRESENCE_TTL_SECONDS: "1",
    });
    const onChild = await Client.open(sessionUrl(child.at, pair.sessionId, pair.invitee.token));
    expect(await onA.next("presence", 2)).toMatchObject({ user_id: pair.invitee.id, online: true });
    child.proc.kill("SIGKILL");
    await child.proc.exited;
    const killedAt = Date.now();
    expect(await onA.next("presence", 3, 5000)).toMatchObject({ user_id: pair.invitee.id, online: false });
    // TTL 1 s on the dead instance; instance A (TTL 1.5 s) reaps every 0.5 s.
    expect(Date.now() - killedAt).toBeLessThan(3000);
    await onChild.closed;
  }, 20_000);
});

/** mulberry32: a tiny seeded generator, so that a failing round can be replayed from its seed. */
function seeded(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Offline is announced within this bound of the last socket closing (docs/protocol.md, Presence). */
const OFFLINE_BOUND_MS = 2000;

/** Everything a round does, drawn up front so the seed alone decides it (awaits do not reorder draws). */
function planRound(random: () => number, instances: number) {
  const tabs = 2 + Math.floor(random() * 3);
  const pick = () => Math.floor(random() * instances);
  const tab = () => ({ on: pick(), openAfterMs: Math.floor(random() * 6) });
  const watchers = Math.floor(random() * 3);
  return {
    /** Where the other participant watches from: one instance (so the other has no room of its own left at the end), or every one. */
    observersOn: instances === 1 || watchers === 2 ? [...Array(instances).keys()] : [watchers],
    tabs: Array.from({ length: tabs }, tab),
    /** Per tab: close it and open another (after a few ms), or keep it. */
    churn: Array.from({ length: tabs }, () => (random() < 0.5 ? { afterMs: Math.floor(random() * 8), reopen: tab() } : null)),
    closeAfterMs: Array.from({ length: tabs }, () => Math.floor(random() * 3)),
  };
}

/**
 * One user's tabs open, churn and all close nearly at once, spread over `apps`; observers (the other
 * participant, joined first) must end on the truth each time, having seen alternating announcements
 * only, and exactly one offline after the last close.
 */
async function churnRound(apps: App[], plan: ReturnType<typeof planRound>, seed: number) {
  const pair = await createPair();
  const observers = await Promise.all(plan.observersOn.map((i) => join(apps[i]!, pair.sessionId, pair.inviter.token)));
  for (const o of observers) await o.until((f) => f.filter((x) => x.type === "presence").length === 2, "snapshot");
  const heard = (o: Client) =>
    o
      .of("presence")
      .filter((p) => p.user_id === pair.invitee.id)
      .map((p) => p.online);
  const open = async ({ on, openAfterMs }: { on: number; openAfterMs: number }) => {
    await Bun.sleep(openAfterMs);
    return Client.open(sessionUrl(apps[on]!, pair.sessionId, pair.invitee.token));
  };
  const where = `seed ${seed}: ${JSON.stringify(plan)}`;

  let tabs = await Promise.all(plan.tabs.map(open));
  tabs = await Promise.all(
    tabs.map(async (tab, i) => {
      const churn = plan.churn[i];
      if (!churn) return tab;
      await Bun.sleep(churn.afterMs);
      tab.ws.close();
      return open(churn.reopen);
    }),
  );
  for (const o of observers) await o.until(() => heard(o).at(-1) === true, `online (${where})`, OFFLINE_BOUND_MS);
  await settle(150); // the churn's announcements still in flight arrive before counting
  const before = observers.map((o) => heard(o).length);
  for (const o of observers) expect(heard(o).at(-1)).toBe(true);

  await Promise.all(
    tabs.map(async (tab, i) => {
      await Bun.sleep(plan.closeAfterMs[i]!);
      await tab.close();
    }),
  );
  for (const o of observers)
    await o.until(() => heard(o).at(-1) === false, `offline within ${OFFLINE_BOUND_MS} ms (${where})`, OFFLINE_BOUND_MS);
  await settle(300);
  observers.forEach((o, i) => {
    const seen = heard(o);
    expect({ where, seen }).toEqual({ where, seen: seen.map((_, k) => k % 2 === 1) }); // snapshot offline, then on/off alternating
    expect(seen.slice(before[i]!)).toEqual([false]); // one announcement after the last close, and it is the truth
  });
  await Promise.all(observers.map((o) => o.close()));
}

const ROUNDS = 12;

describe("one user's tabs opening, churning and closing at once (seeded)", () => {
  test("one instance: every round ends with one offline announcement, after alternating ones", async () => {
    const app = await servers.start();
    for (let round = 0; round < ROUNDS / 2; round++) await churnRound([app], planRound(seeded(round), 1), round);
  }, 60_000);
});

describeEachRedis("one user's tabs across two instances, opening, churning and closing at once (seeded)", (redisUrl) => {
  test("every round ends with one offline announcement on both instances, after alternating ones", async () => {
    const apps = [await servers.start({ redisUrl: redisUrl() }), await servers.start({ redisUrl: redisUrl() })];
    for (let round = 0; round < ROUNDS; round++) await churnRound(apps, planRound(seeded(1000 + round), 2), 1000 + round);
  }, 90_000);
});
