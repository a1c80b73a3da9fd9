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

  /** Refilled to its burst: it remembers nothing and can be forgotten. */
  isFull(): boolean {
    this.refill();
    return this.tokens >= this.burst;
  }

  private refill() {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.ratePerSecond);
    this.updatedAt = now;
  }
}

const SWEEP_EVERY_MS = 30_000;

/**
 * One token bucket per key (a user, an IP address). Buckets that refilled completely are forgotten
 * on a sweep (every 30 s, or when `maxKeys` is reached), so memory follows the keys active lately;
 * past `maxKeys` even after a sweep, the oldest bucket is dropped.
 */
export class KeyedBuckets {
  private readonly buckets = new Map<string, TokenBucket>();
  private sweptAt = performance.now();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly maxKeys = 100_000,
  ) {}

  /** 0 when the key may go on, else the seconds until it may. */
  take(key: string): number {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      this.sweepIfDue();
      bucket = new TokenBucket(this.ratePerSecond, this.burst);
      this.buckets.set(key, bucket);
    }
    return bucket.take() ? 0 : Math.max(bucket.secondsUntilToken(), 0.001);
  }

  get size(): number {
    return this.buckets.size;
  }

  private sweepIfDue() {
    const now = performance.now();
    if (this.buckets.size < this.maxKeys && now - this.sweptAt < SWEEP_EVERY_MS) return;
    this.sweptAt = now;
    for (const [key, bucket] of this.buckets) if (bucket.isFull()) this.buckets.delete(key);
    for (const key of this.buckets.keys()) {
      if (this.buckets.size < this.maxKeys) break;
      this.buckets.delete(key);
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
