/** What test/setup.ts decided for this run (database, Redis, CI), the token secret, and the assertion connection. */
import { connect } from "../../src/store/connect.ts";

export const SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
export const env = globalThis.__chatTest;

/** A connection for assertions, shared by every file (test/setup.ts ends it). */
export const db = (globalThis.__chatTestDb ??= connect({
  url: env.databaseUrl,
  poolMax: 2,
  transactionPooler: Boolean(env.poolerListenUrl),
}));

/** PostgreSQL itself: in the pooler pass DATABASE_URL is PgBouncer, and what needs a session of its own (migrations' advisory lock) goes here. */
export const directDatabaseUrl: string = env.poolerListenUrl ?? env.databaseUrl;

/** The environment a server needs for the suite's database when DATABASE_URL is a transaction pooler. */
export const poolerEnvironment = (withUrl = false): Record<string, string> =>
  env.poolerListenUrl
    ? { ...(withUrl ? { DATABASE_URL: env.databaseUrl } : {}), DATABASE_POOLER: "transaction", DATABASE_LISTEN_URL: env.poolerListenUrl }
    : {};
declare global {
  var __chatTestDb: ReturnType<typeof connect> | undefined;
}
