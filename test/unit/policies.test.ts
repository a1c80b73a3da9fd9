/** Small pure policies: token buckets, the client's reconnect plan and backoff, read coalescing. */
import { describe, expect, test } from "bun:test";
import { SocketRateLimiter, TokenBucket } from "../../src/transport/rate-limit.ts";
import { backoffDelay, planAfterClose, reconnectDelay } from "../../src/client/reconnect-policy.ts";
import { Coalescer } from "../../src/store/coalescer.ts";
import { isOneEmoji } from "../../src/protocol/content.ts";

describe("rate limits", () => {
  test("a token bucket gives its burst, then refills at its rate", async () => {
    const bucket = new TokenBucket(100, 3);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
    await Bun.sleep(15);
    expect(bucket.take()).toBe(true);
  });

  test("a socket's limiter: typing has its own bucket; persistent excess becomes abuse", () => {
    const limiter = new SocketRateLimiter({
      messageRatePerSecond: 1,
      messageBurst: 2,
      typingRatePerSecond: 1,
      typingBurst: 1,
      rateLimitStrikes: 2,
    });
    expect([limiter.check("message"), limiter.check("message"), limiter.check("message")]).toEqual(["ok", "ok", "limited"]);
    expect(limiter.check("typing")).toBe("ok");
    expect(limiter.check("read")).toBe("limited");
    expect(limiter.check(null)).toBe("abuse");
  });
});

describe("the client's reconnect policy", () => {
  test("4000–4099 end the client, except 4003 which refreshes the token first", () => {
    expect(planAfterClose(4004)).toEqual({ reconnect: false });
    expect(planAfterClose(4001)).toEqual({ reconnect: false });
    expect(planAfterClose(4003)).toMatchObject({ reconnect: true, refreshToken: true, immediate: true });
  });

  test("1001 reconnects at once; 1008, 4101 and 4102 wait; anything else backs off", () => {
    expect(planAfterClose(1001)).toMatchObject({ reconnect: true, immediate: true, minDelayMs: 0 });
    const plan = planAfterClose(1001);
    if (!plan.reconnect) throw new Error("1001 reconnects");
    const first = Array.from({ length: 200 }, () => reconnectDelay(plan, 0));
    expect(Math.min(...first)).toBeGreaterThanOrEqual(0); // after a 1001: within 0–250 ms (docs/protocol.md, presence)
    expect(Math.max(...first)).toBeLessThanOrEqual(250);
    expect(planAfterClose(1008)).toMatchObject({ minDelayMs: 5_000 });
    expect(planAfterClose(4101)).toMatchObject({ minDelayMs: 10_000 });
    expect(planAfterClose(4102)).toMatchObject({ minDelayMs: 5_000 });
    for (const code of [1006, 1011, 1013, 4100, 4199])
      expect(planAfterClose(code)).toMatchObject({ reconnect: true, immediate: false, minDelayMs: 0 });
  });

  test("backoff doubles with equal jitter, capped", () => {
    expect(backoffDelay(0, {}, () => 0)).toBe(250);
    expect(backoffDelay(0, {}, () => 1)).toBe(500);
    expect(backoffDelay(3, {}, () => 1)).toBe(4000);
    expect(backoffDelay(20, {}, () => 1)).toBe(30_000);
    const plan = planAfterClose(4101);
    if (!plan.reconnect) throw new Error("unreachable");
    expect(reconnectDelay(plan, 0)).toBeGreaterThanOrEqual(10_000);
  });
});

describe("Coalescer", () => {
  test("lookups made in one turn go out as one batch, each answered with its own value", async () => {
    const calls: number[][] = [];
    const coalescer = new Coalescer<number, string>(async (keys) => {
      calls.push(keys);
      return keys.map((k) => `v${k}`);
    });
    expect(await Promise.all([coalescer.get(1), coalescer.get(2), coalescer.get(3)])).toEqual(["v1", "v2", "v3"]);
    expect(calls).toEqual([[1, 2, 3]]);
    expect(await coalescer.get(4)).toBe("v4");
    expect(calls).toHaveLength(2);
  });

  test("batches are capped, and a failure rejects every lookup of its batch only", async () => {
    const coalescer = new Coalescer<number, number>(async (keys) => {
      if (keys.includes(3)) throw new Error("boom");
      return keys;
    }, 2);
    const results = await Promise.allSettled([1, 2, 3, 4].map((k) => coalescer.get(k)));
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "rejected", "rejected"]);
  });
});

describe("reaction emoji", () => {
  test("one emoji: skin tones, ZWJ sequences, flags and keycaps included; text, two emoji or empty refused", () => {
    for (const ok of ["👍", "👍🏾", "🧗🏽‍♀️", "👩‍👩‍👧", "🇨🇭", "1️⃣", "❤️"]) expect(isOneEmoji(ok)).toBe(true);
    for (const bad of ["", "ok", "a", "👍👍", "👍 ", " 👍", "🇨🇭🇨🇭", "\u0000", "👍".repeat(20)]) expect(isOneEmoji(bad)).toBe(false);
  });
});
