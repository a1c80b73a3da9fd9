/** A postgres.js pool as this service uses it: bounded connects, quick reconnects, bigint as numbers. */
import { readFileSync } from "node:fs";
import postgres, { type Sql } from "postgres";
import type { Config } from "../config/config.ts";
import type { DatabaseAddress } from "./embedded-postgres.ts";

export type PostgresOptions = DatabaseAddress & {
  poolMax: number;
  statementTimeoutMs?: number;
  /** For a LISTEN connection: its notifications, and its loss (postgres.js reconnects for the next query, without the LISTEN). */
  onnotify?: (channel: string, payload: string) => void;
  onclose?: () => void;
};

type DatabaseConfig = Pick<Config, "databaseUrl" | "databaseListenUrl" | "databasePooler" | "databaseTlsCaFile">;

/**
 * DATABASE_URL's address (the pool's); where the access feed LISTENs (DATABASE_LISTEN_URL, else the
 * same); and where migrations run: behind a transaction pooler, which cannot carry their session's
 * advisory lock, the direct LISTEN address too.
 */
export function databaseAddresses(
  config: DatabaseConfig & { databaseUrl: string },
): Record<"pool" | "listen" | "migrations", DatabaseAddress> {
  const caPem = config.databaseTlsCaFile ? readFileSync(config.databaseTlsCaFile, "utf8") : undefined;
  const tls = caPem ? { caPem } : {};
  const pooled = config.databasePooler === "transaction";
  const listen = { url: config.databaseListenUrl ?? config.databaseUrl, ...tls };
  const pool = { url: config.databaseUrl, transactionPooler: pooled, ...tls };
  return { pool, listen, migrations: pooled ? listen : { url: config.databaseUrl, ...tls } };
}

export function connect({
  url,
  socketPath,
  transactionPooler,
  caPem,
  poolMax,
  statementTimeoutMs,
  onnotify,
  onclose,
}: PostgresOptions): Sql {
  return postgres(url, {
    ...(onnotify ? { onnotify, idle_timeout: 0, max_lifetime: null } : {}),
    ...(onclose ? { onclose } : {}),
    ...(socketPath ? { path: socketPath } : {}),
    // Verifies the chain to this CA and the host name (sslmode=verify-full, which the configuration requires).
    ...(caPem ? { ssl: { ca: caPem, rejectUnauthorized: true } } : {}),
    max: poolMax,
    onnotice: () => {},
    connect_timeout: 5,
    // Seconds before reconnecting; postgres.js' default grows to 20 s, too long to notice a database that is back.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
    // A transaction pooler hands each transaction to any server connection: a statement prepared on one
    // is unknown on the next, and it refuses startup parameters such as statement_timeout (set it on the role).
    // Nor does it follow a query sent before the previous one's answer (pipelined): on that answer it
    // frees the server and drops the next reply, and the connection waits forever. One query at a time
    // per connection (max_pipeline 0 needs patches/postgres@3.4.9.patch, else sql.begin refuses to run).
    ...(transactionPooler ? { prepare: false, max_pipeline: 0 } : {}),
    ...(statementTimeoutMs && !transactionPooler ? { connection: { statement_timeout: statementTimeoutMs } } : {}),
    // seq and counts are bigint: numbers well below 2^53, so plain numbers are safe.
    types: { bigint: { to: 20, from: [20], parse: (x: string) => Number(x), serialize: (x: number) => String(x) } },
  });
}
