/** REDIS_KEY_PREFIX: two deployments on one Redis do not hear each other; each keeps its keys under its own prefix. */
import { expect, test } from "bun:test";
import Redis from "ioredis";
import { Client, createPair, describeWithRedis, env, sessionUrl, settle, useServers } from "./helpers.ts";

const servers = useServers();

describeWithRedis("two deployments on one Redis", () => {
  test("messages and presence stay within a deployment's prefix", async () => {
    const a1 = await servers.start({ redisUrl: env.redisUrl }, { REDIS_KEY_PREFIX: "deploy-a" });
    const a2 = await servers.start({ redisUrl: env.redisUrl }, { REDIS_KEY_PREFIX: "deploy-a" });
    const b = await servers.start({ redisUrl: env.redisUrl }, { REDIS_KEY_PREFIX: "deploy-b" });
    const pair = await createPair();
    const alice = await Client.open(sessionUrl(a1, pair.sessionId, pair.inviter.token));
    const bobA = await Client.open(sessionUrl(a2, pair.sessionId, pair.invitee.token));
    const bobB = await Client.open(sessionUrl(b, pair.sessionId, pair.invitee.token));
    for (const c of [alice, bobA, bobB]) await c.next("presence");
    alice.send({ type: "message", content: "for deployment a" });
    expect((await bobA.next("message")).content).toBe("for deployment a");
    await settle(300); // nothing may cross to the other deployment, which no condition can say
    expect(bobB.of("message")).toHaveLength(0);
    const redis = new Redis(env.redisUrl!);
    try {
      expect(await redis.exists(`deploy-a:presence:{${pair.sessionId}}`)).toBe(1);
      expect(await redis.exists(`chat:presence:{${pair.sessionId}}`)).toBe(0);
    } finally {
      redis.disconnect();
      for (const c of [alice, bobA, bobB]) c.close();
    }
  });
});
