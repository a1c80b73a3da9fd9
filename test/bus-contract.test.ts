/** The bus contract (test/support/bus-contract.ts) against Redis: one server, and a cluster of three masters. */
import { expect, test } from "bun:test";
import Redis from "ioredis";
import { createLogger } from "../src/observability/log.ts";
import { connectRedis } from "../src/bus/redis-connect.ts";
import { RedisBus } from "../src/bus/redis-bus.ts";
import { describeEachRedis } from "./helpers.ts";
import { busContract } from "./support/bus-contract.ts";

describeEachRedis("bus contract", (redisUrl, kind) => {
  const log = createLogger("silent");
  const open = async () => {
    const bus = new RedisBus(await connectRedis({ url: redisUrl(), clusterNodes: null, tlsCaFile: null }, log), log);
    await bus.ready(10_000);
    return bus;
  };
  busContract(kind === "single" ? "one Redis" : "Redis Cluster", async () => {
    const [a, b] = await Promise.all([open(), open()]);
    return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
  });

  if (kind === "single") {
    test("the sessions joined in one turn are subscribed with one command per 1,000, and left likewise", async () => {
      const bus = await open();
      const admin = new Redis(redisUrl());
      const calls = async (command: string) => {
        const line = (await admin.info("commandstats")).split("\n").find((l) => l.startsWith(`cmdstat_${command}:`));
        return Number(/calls=(\d+)/.exec(line ?? "")?.[1] ?? 0);
      };
      try {
        const sessions = Array.from({ length: 2500 }, () => crypto.randomUUID());
        const [subscribes, unsubscribes] = [await calls("ssubscribe"), await calls("sunsubscribe")];
        await Promise.all(sessions.map((s) => bus.join(s)));
        for (const s of sessions) bus.leave(s);
        await Bun.sleep(100);
        expect((await calls("ssubscribe")) - subscribes).toBe(3);
        expect((await calls("sunsubscribe")) - unsubscribes).toBe(3);
      } finally {
        admin.disconnect();
        await bus.close();
      }
    });
  }
});
