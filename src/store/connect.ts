/** A postgres.js pool as this service uses it: bounded connects, quick reconnects, bigint as numbers. */
import postgres, { type Sql } from "postgres";
import type { DatabaseAddress } from "./embedded-postgres.ts";

export type PostgresOptions = DatabaseAddress & {
  poolMax: number;
  statementTimeoutMs?: number;
  /** For a LISTEN connection: its notifications, and its loss (postgres.js reconnects for the next query, without the LISTEN). */
  onnotify?: (channel: string, payload: string) => void;
  onclose?: () => void;
};

export function connect({ url, socketPath, poolMax, statementTimeoutMs, onnotify, onclose }: PostgresOptions): Sql {
  return postgres(url, {
    ...(onnotify ? { onnotify, idle_timeout: 0, max_lifetime: null } : {}),
    ...(onclose ? { onclose } : {}),
    ...(socketPath ? { path: socketPath } : {}),
    max: poolMax,
    onnotice: () => {},
    connect_timeout: 5,
    // Seconds before reconnecting; postgres.js' default grows to 20 s, too long to notice a database that is back.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
    ...(statementTimeoutMs ? { connection: { statement_timeout: statementTimeoutMs } } : {}),
    // seq and counts are bigint: numbers well below 2^53, so plain numbers are safe.
    types: { bigint: { to: 20, from: [20], parse: (x: string) => Number(x), serialize: (x: number) => String(x) } },
  });
}
