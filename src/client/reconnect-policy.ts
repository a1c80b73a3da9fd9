/** What to do after a close code, and how long to wait: the close-code table of docs/protocol.md, as code. */
import { CloseCode } from "../protocol/codes.ts";

export type BackoffOptions = {
  /** Delay before the first retry (ms); doubled (by `factor`) per failed attempt. Default 500. */
  initialMs?: number;
  /** Cap of the delay (ms). Default 30 000. */
  maxMs?: number;
  factor?: number;
};

export type ReconnectPlan =
  | { reconnect: false }
  | {
      reconnect: true;
      /** 4003: get a fresh token before reconnecting. */
      refreshToken: boolean;
      /** 1001: another instance takes over, go at once (still jittered, so a restart is not a stampede). */
      immediate: boolean;
      /** Floor of the delay: 1008 (abuse), 4101 (too many connections) and 4102 (too many attempts) must not retry quickly. */
      minDelayMs: number;
    };

const retry = (over: Partial<Extract<ReconnectPlan, { reconnect: true }>> = {}): ReconnectPlan => ({
  reconnect: true,
  refreshToken: false,
  immediate: false,
  minDelayMs: 0,
  ...over,
});

export function planAfterClose(code: number): ReconnectPlan {
  if (code === CloseCode.InvalidToken) return retry({ refreshToken: true, immediate: true });
  // 4000–4099: the request or the credentials are wrong; the same ones fail again.
  if (code >= 4000 && code <= 4099) return { reconnect: false };
  if (code === CloseCode.GoingAway) return retry({ immediate: true });
  if (code === CloseCode.PolicyViolation) return retry({ minDelayMs: 5_000 });
  if (code === CloseCode.TooManyConnections) return retry({ minDelayMs: 10_000 });
  if (code === CloseCode.TooManyAttempts) return retry({ minDelayMs: 5_000 });
  // 1006 (no close frame: network, proxy, hard backpressure cut), 1009, 1011, 1013, 4100, 41xx…
  return retry();
}

/** Exponential backoff with "equal jitter": between half and all of the exponential step. */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random = Math.random): number {
  const { initialMs = 500, maxMs = 30_000, factor = 2 } = options;
  const step = Math.min(maxMs, initialMs * factor ** Math.max(0, attempt));
  return Math.round(step / 2 + random() * (step / 2));
}

/** A delay for `plan` after `attempt` consecutive failures. */
export function reconnectDelay(plan: Extract<ReconnectPlan, { reconnect: true }>, attempt: number, options?: BackoffOptions): number {
  if (plan.immediate && attempt === 0) return Math.round(Math.random() * 250);
  return Math.max(plan.minDelayMs, backoffDelay(attempt, options));
}
