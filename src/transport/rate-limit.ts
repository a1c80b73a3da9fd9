/**
 * Token buckets: a burst, then a steady rate. Each socket has one for messages and one for typing,
 * and a third that counts rejections: a client that keeps exceeding its rate empties it and is
 * closed with 1008, while an occasional burst only earns `rate_limited` error frames. Keyed buckets
 * limit what a user (all their sockets, their HTTP requests, their connection attempts) or an IP
 * address may do on this instance.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt = performance.now();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Seconds until the next token (for Retry-After). */
  secondsUntilToken(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : (1 - this.tokens) / this.ratePerSecond;
  }

  private refill() {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.ratePerSecond);
    this.updatedAt = now;
  }
}

/** Keys whose bucket is full again are forgotten a few at a time, on the calls of other keys. */
const FORGET_PER_CALL = 2;

/**
 * One token bucket per key (a user, an IP address), kept as a single number: the generic cell rate
 * algorithm's "theoretical arrival time" (when the bucket would be full again), which behaves exactly
 * as a bucket of `burst` tokens refilled at `ratePerSecond`. A key whose time has passed is a full
 * bucket and is forgotten: keys are kept in the order of their last use, and each call drops the
 * oldest ones that are full again, so memory follows the keys active within their refill time (one
 * map entry each). Past `maxKeys` the oldest key is dropped even if its bucket is not full.
 */
export class KeyedBuckets {
  /** Key → the time (performance.now() ms) at which its bucket is full again, least recently used first. */
  private readonly fullAt = new Map<string, number>();
  private readonly intervalMs: number;
  private readonly toleranceMs: number;

  constructor(
    ratePerSecond: number,
    burst: number,
    private readonly maxKeys = 100_000,
  ) {
    this.intervalMs = 1000 / ratePerSecond;
    this.toleranceMs = (burst - 1) * this.intervalMs;
  }

  /** 0 when the key may go on, else the seconds until it may. */
  take(key: string): number {
    const now = performance.now();
    const start = Math.max(this.fullAt.get(key) ?? now, now);
    const waitMs = start - this.toleranceMs - now;
    if (waitMs > 0) return Math.max(waitMs / 1000, 0.001);
    this.fullAt.delete(key); // re-inserted last: the map stays in order of use
    this.fullAt.set(key, start + this.intervalMs);
    this.forget(now);
    return 0;
  }

  get size(): number {
    return this.fullAt.size;
  }

  private forget(now: number) {
    let forgotten = 0;
    for (const [key, fullAt] of this.fullAt) {
      const over = this.fullAt.size > this.maxKeys;
      if (!over && (fullAt > now || forgotten >= FORGET_PER_CALL)) return;
      this.fullAt.delete(key);
      forgotten++;
    }
  }
}

export type RateLimits = {
  messageRatePerSecond: number;
  messageBurst: number;
  typingRatePerSecond: number;
  typingBurst: number;
  rateLimitStrikes: number;
};

export class SocketRateLimiter {
  private readonly messages: TokenBucket;
  private readonly typing: TokenBucket;
  private readonly strikes: TokenBucket;

  constructor(limits: RateLimits) {
    this.messages = new TokenBucket(limits.messageRatePerSecond, limits.messageBurst);
    this.typing = new TokenBucket(limits.typingRatePerSecond, limits.typingBurst);
    this.strikes = new TokenBucket(limits.rateLimitStrikes / 10, limits.rateLimitStrikes);
  }

  /**
   * "ok", "limited" (refuse this frame) or "abuse" (close the socket). Typing has its own bucket;
   * every other frame, invalid ones included, draws from the message bucket.
   */
  check(frameType: string | null): "ok" | "limited" | "abuse" {
    const bucket = frameType === "typing" ? this.typing : this.messages;
    if (bucket.take()) return "ok";
    return this.strikes.take() ? "limited" : "abuse";
  }
}
