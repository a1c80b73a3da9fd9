/** Presence: join snapshot, first/last socket announcements, tabs, two instances, a killed instance. */
import { beforeAll, describe, expect, test } from "bun:test";
import { Client, SECRET, createPair, describeWithRedis, env, join, sessionUrl, settle, spawnServer, useServers } from "./helpers.ts";
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
    expect(await a.next("presence", 2)).toEqual({ type: "presence", user_id: pair.invitee.id, display_name: pair.invitee.name, online: true });
    await tab1.until((f) => f.filter((x) => x.type === "presence").length === 2, "snapshot");
    expect(presence(tab1)).toEqual([[pair.inviter.id, true], [pair.invitee.id, true]]);

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

describeWithRedis("across instances", () => {
  let a: App;
  let b: App;
  beforeAll(async () => {
    a = await servers.start({ redisUrl: env.redisUrl, presenceTtlMs: 1500 });
    b = await servers.start({ redisUrl: env.redisUrl, presenceTtlMs: 1500 });
  });

  test("arrivals and departures on another instance are announced once", async () => {
    const pair = await createPair();
    const onA = await join(a, pair.sessionId, pair.inviter.token);
    await onA.next("presence", 1);
    const tabOnB = await join(b, pair.sessionId, pair.invitee.token);
    expect(await onA.next("presence", 2)).toMatchObject({ user_id: pair.invitee.id, online: true });
    await tabOnB.until((f) => f.filter((x) => x.type === "presence").length === 2, "snapshot");
    expect(presence(tabOnB)).toEqual([[pair.inviter.id, true], [pair.invitee.id, true]]);

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
    const child = await spawnServer({ ...(process.env as Record<string, string>), NODE_ENV: "test", DATABASE_URL: env.databaseUrl, REDIS_URL: env.redisUrl!, JWT_SECRET: SECRET, PRESENCE_TTL_SECONDS: "1" });
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
