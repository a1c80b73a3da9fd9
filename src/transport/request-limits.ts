/**
 * What one IP address and one user may ask of this instance, besides the per-socket frame limits:
 * HTTP API requests and upgrades per IP (before any authentication, so floods cost no JWT check or
 * query), API requests and connection attempts per user, API requests in flight per user, and
 * message frames of all of a user's sockets together.
 */
import type { Limits } from "../config/config.ts";
import { clientIp, ipLimitKey } from "./client-ip.ts";
import type { TrustedProxies } from "../config/trusted-proxies.ts";
import { KeyedBuckets } from "./rate-limit.ts";
import { Counts } from "../lib/counts.ts";

/** Reports one user may file a minute on one instance. */
export const REPORTS_PER_MINUTE = 10;

export class RequestLimits {
  private readonly perIp: KeyedBuckets;
  private readonly apiPerUser: KeyedBuckets;
  private readonly connectsPerUser: KeyedBuckets;
  private readonly messagesPerUser: KeyedBuckets;
  /** Reports per user: REPORTS_PER_MINUTE, refilled evenly. */
  private readonly reportsPerUser = new KeyedBuckets(REPORTS_PER_MINUTE / 60, REPORTS_PER_MINUTE);
  private readonly inFlight = new Counts();

  constructor(
    private readonly limits: Limits,
    private readonly trustedProxies: TrustedProxies | null,
  ) {
    this.perIp = new KeyedBuckets(limits.ipRatePerSecond, limits.ipBurst);
    this.apiPerUser = new KeyedBuckets(limits.apiRatePerSecond, limits.apiBurst);
    this.connectsPerUser = new KeyedBuckets(limits.connectRatePerSecond, limits.connectBurst);
    this.messagesPerUser = new KeyedBuckets(limits.userMessageRatePerSecond, limits.userMessageBurst);
  }

  ipOf(peer: string, forwardedFor: string | null): string {
    return clientIp(peer, forwardedFor, this.trustedProxies);
  }

  /** Each of these: 0 when allowed, else the seconds until it would be. */
  ip(ip: string): number {
    return this.perIp.take(ipLimitKey(ip));
  }

  api(userId: string): number {
    return this.apiPerUser.take(userId);
  }

  report(userId: string): number {
    return this.reportsPerUser.take(userId);
  }

  connect(userId: string): number {
    return this.connectsPerUser.take(userId);
  }

  message(userId: string): boolean {
    return this.messagesPerUser.take(userId) === 0;
  }

  /** Runs `work` in one of the user's API slots; null (nothing run) when all are taken. */
  async inSlot<T>(userId: string, work: () => Promise<T>): Promise<T | null> {
    if (this.inFlight.get(userId) >= this.limits.apiConcurrencyPerUser) return null;
    this.inFlight.increment(userId);
    try {
      return await work();
    } finally {
      this.inFlight.decrement(userId);
    }
  }
}

/** 429 with Retry-After in whole seconds (at least 1). */
export function tooManyRequests(retryAfterSeconds: number, error = "too many requests, retry later"): Response {
  return Response.json(
    { error },
    { status: 429, headers: { "retry-after": String(Math.max(1, Math.ceil(retryAfterSeconds))), "cache-control": "no-store" } },
  );
}
