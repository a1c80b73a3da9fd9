/**
 * Token buckets: a burst, then a steady rate. Each socket has one for messages and one for typing,
 * and a third that counts rejections: a client that keeps exceeding its rate empties it and is
 * closed with 1008, while an occasional burst only earns `rate_limited` error frames.
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
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.ratePerSecond);
    this.updatedAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export type RateLimits = { messageRatePerSecond: number; messageBurst: number; typingRatePerSecond: number; typingBurst: number; rateLimitStrikes: number };

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
