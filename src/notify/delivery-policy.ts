/**
 * What to do after a delivery attempt: the answer's status (or the failure to get one) decides
 * between done, retry later (with exponential backoff, or the service's Retry-After) and give up.
 */
export type Attempt =
  | { kind: "sent" }
  /** The push subscription no longer exists (404, 410) or belongs to another VAPID key (403): delete it. */
  | { kind: "gone"; error: string }
  /** `unreachable`: no answer at all (timeout, refused, reset), as opposed to an answer saying "later". */
  | { kind: "retry"; error: string; retryAfterMs?: number; unreachable?: true }
  /** Retrying cannot help (e.g. 400, 401, 403, 413): dead letter at once. */
  | { kind: "fail"; error: string };

export const BACKOFF_BASE_MS = 1000;
export const BACKOFF_MAX_MS = 5 * 60_000;

/**
 * Classifies an HTTP answer. `pushService`: 404/410 mean the subscription is gone (RFC 8030), and 403
 * that it was made for another VAPID key (after a rotation): it can never be delivered again either.
 */
export function classify(status: number, retryAfter: string | null, pushService: boolean): Attempt {
  if (status >= 200 && status < 300) return { kind: "sent" };
  const error = `HTTP ${status}`;
  if (pushService && (status === 403 || status === 404 || status === 410)) return { kind: "gone", error };
  if (status === 408 || status === 425 || status === 429 || status >= 500) {
    const after = retryAfterMs(retryAfter);
    return after === null ? { kind: "retry", error } : { kind: "retry", error, retryAfterMs: after };
  }
  return { kind: "fail", error };
}

/** `Retry-After` in seconds or as an HTTP date; null when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | null {
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** Exponential with full jitter in its upper half, capped; a service's Retry-After wins within the cap. */
export function backoffMs(attempt: number, retryAfter?: number, random = Math.random): number {
  if (retryAfter !== undefined) return Math.min(retryAfter, BACKOFF_MAX_MS);
  const ceiling = Math.min(BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 1), BACKOFF_MAX_MS);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
