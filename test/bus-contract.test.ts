/** The bus contract (test/support/bus-contract.ts) against Redis: one server, and a cluster of three masters. */
import { createLogger } from "../src/observability/log.ts";
import { connectRedis } from "../src/bus/redis-connect.ts";
import { RedisBus } from "../src/bus/redis-bus.ts";
import { describeEachRedis } from "./helpers.ts";
import { busContract } from "./support/bus-contract.ts";

describeEachRedis("bus contract", (redisUrl, kind) => {
  busContract(kind === "single" ? "one Redis" : "Redis Cluster", async () => {
    const log = createLogger("silent");
    const open = async () => {
      const bus = new RedisBus(await connectRedis({ url: redisUrl(), clusterNodes: null, tlsCaFile: null }, log), log);
      await bus.ready(10_000);
      return bus;
    };
    const [a, b] = await Promise.all([open(), open()]);
    return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
  });
});
