/**
 * Preloaded once per `bun test` run (bunfig.toml). Decides what the suite runs against:
 *  - PostgreSQL: DATABASE_URL when set, else one embedded PGlite shared by every test file.
 *  - Redis: REDIS_URL when set, else redis://127.0.0.1:6379 if it answers. Without Redis the
 *    multi-instance tests cannot run: outside CI they are skipped and listed loudly at the end;
 *    with CI=true the run fails instead.
 */
import { afterAll } from "bun:test";
import Redis from "ioredis";
import { startEmbeddedPostgres } from "../src/store/embedded-postgres.ts";
import { connect } from "../src/store/connect.ts";
import { migrate } from "../src/store/migrations.ts";

const env = process.env;
const inCI = env.CI === "true" || env.CI === "1";
/** `bun run test:unit`: the pure core only, with fakes; no database or Redis to prepare. */
const unitOnly = env.CHAT_TEST_UNIT === "1";

async function redisReachable(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  probe.on("error", () => {});
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

// Over loopback TCP (test only): server processes the suite spawns reach it by URL.
const embedded = env.DATABASE_URL || unitOnly ? null : await startEmbeddedPostgres("memory://", { maxConnections: 64, tcp: true });
const databaseUrl = env.DATABASE_URL ?? embedded?.address.url ?? "";
// DATABASE_POOLER=transaction: DATABASE_URL is PgBouncer in transaction mode, DATABASE_LISTEN_URL the direct address.
const pooler = env.DATABASE_URL && env.DATABASE_POOLER === "transaction" ? { listenUrl: env.DATABASE_LISTEN_URL ?? "" } : null;
if (pooler && !pooler.listenUrl) throw new Error("DATABASE_POOLER=transaction needs DATABASE_LISTEN_URL (the direct address)");
if (!unitOnly) {
  const sql = connect({ url: pooler?.listenUrl || databaseUrl, poolMax: 1 });
  await migrate(sql);
  await sql.end();
}

const redisUrl = env.REDIS_URL ?? "redis://127.0.0.1:6379";
const redisUp = !unitOnly && (await redisReachable(redisUrl));
if (!redisUp && inCI && !unitOnly) throw new Error(`CI: Redis is not reachable at ${redisUrl}; the multi-instance tests must run in CI`);

const skipped: string[] = [];

globalThis.__chatTest = {
  inCI,
  databaseUrl,
  databaseKind: embedded
    ? "embedded PGlite"
    : pooler
      ? "PostgreSQL through a transaction pooler (DATABASE_URL)"
      : "PostgreSQL (DATABASE_URL)",
  poolerListenUrl: pooler?.listenUrl ?? null,
  redisUrl: redisUp ? redisUrl : null,
  skipped,
};

if (!unitOnly) console.log(`[test setup] database: ${globalThis.__chatTest.databaseKind}; redis: ${redisUp ? redisUrl : "not reachable"}`);

afterAll(async () => {
  if (skipped.length > 0) {
    const bar = "!".repeat(78);
    console.error(`\n${bar}\n  ${skipped.length} test group(s) NOT RUN on this machine (CI runs them all):`);
    for (const name of skipped) console.error(`    - ${name}`);
    console.error(`  Provide what each needs, then run \`bun run test\` again.\n${bar}\n`);
  }
  await globalThis.__chatTestDb?.end({ timeout: 2 });
  await embedded?.stop();
});

declare global {
  var __chatTest: {
    inCI: boolean;
    databaseUrl: string;
    databaseKind: string;
    /** Set when DATABASE_URL is a transaction pooler: the direct address. */
    poolerListenUrl: string | null;
    redisUrl: string | null;
    skipped: string[];
  };
}
