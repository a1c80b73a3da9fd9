/** Test groups that need something of the machine (Redis, a cluster, Chromium): never skipped in CI. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { OwnCluster, REDIS_CLI, REDIS_SERVER } from "../redis-servers.ts";
import { env } from "./env.ts";

/**
 * Runs the group only where what it needs is on this machine (Redis, Chromium). A bare machine skips
 * it and test/setup.ts lists it loudly at the end; with CI=true a missing one fails the run instead.
 */
export function describeWhen(available: boolean, name: string, howToEnable: string, body: () => void) {
  if (available) return describe(name, body);
  if (env.inCI) return describe(name, () => test(`${name}: required in CI`, () => expect(`missing: ${howToEnable}`).toBe("available")));
  env.skipped.push(`${name} (${howToEnable})`);
  return describe.skip(name, body); // justified: see above; never skipped in CI
}

export const describeWithRedis = (name: string, body: () => void) =>
  describeWhen(env.redisUrl !== null, name, "start Redis (`docker compose up -d redis` or `redis-server`) or set REDIS_URL", body);

/**
 * Runs `body` twice: against the suite's single Redis, and against a Redis Cluster (3 masters) that
 * the group starts on loopback for itself. `redisUrl()` is the one to give servers (for a cluster,
 * one node's URL: the rest is discovered).
 */
export function describeEachRedis(name: string, body: (redisUrl: () => string, kind: "single" | "cluster") => void) {
  describeWithRedis(`${name} (Redis)`, () => body(() => env.redisUrl!, "single"));
  describeWhen(
    REDIS_SERVER !== null && REDIS_CLI !== null,
    `${name} (Redis Cluster)`,
    "install redis-server and redis-cli (apt-get install -y redis-server)",
    () => {
      const cluster = new OwnCluster(3, 0);
      beforeAll(() => cluster.start(), 60_000);
      afterAll(() => cluster.remove());
      body(() => cluster.url, "cluster");
    },
  );
}
