/** Which database failures mean "try again later" rather than "this input is wrong". */
import { StoreUnavailableError } from "../chat/ports.ts";

/** The store's name for the port's failure kind: not reached, or not in time. */
export { StoreUnavailableError as UnavailableError };

const TRANSIENT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
  "57014", // query_canceled (statement_timeout)
  "40001", // serialization_failure
  "40P01", // deadlock_detected (after the writer's own retries)
]);

export function isTransient(err: unknown): boolean {
  if (err instanceof StoreUnavailableError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return false;
  return TRANSIENT_CODES.has(code) || code.startsWith("08"); // class 08: connection exception
}

/** A driver failure in the port's terms: transient ones become StoreUnavailableError. */
export function asStoreFailure(err: unknown): unknown {
  return isTransient(err) && !(err instanceof StoreUnavailableError) ? new StoreUnavailableError("database unavailable", err) : err;
}
