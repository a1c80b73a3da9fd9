/** The generic helpers: a bounded wait, counts that forget a key at zero. */
import { expect, test } from "bun:test";
import { Counts } from "../../src/lib/counts.ts";
import { withTimeout } from "../../src/lib/timeout.ts";

test("withTimeout: the work's answer when in time, the fallback when late, a rejection passed on; no timer left", async () => {
  expect(await withTimeout(Promise.resolve("work"), 50, () => "late")).toBe("work");
  expect(await withTimeout(new Promise(() => {}), 5, () => "late")).toBe("late");
  await expect(withTimeout(Promise.reject(new Error("boom")), 50, () => "late")).rejects.toThrow("boom");
  await expect(
    withTimeout(new Promise(() => {}), 5, (): never => {
      throw new Error("too slow");
    }),
  ).rejects.toThrow("too slow");
});

test("Counts: up and down per key, never below zero, and a key at zero is forgotten", () => {
  const counts = new Counts();
  expect(counts.increment("a")).toBe(1);
  expect(counts.increment("a")).toBe(2);
  expect(counts.decrement("a")).toBe(1);
  expect(counts.decrement("a")).toBe(0);
  expect(counts.decrement("a")).toBe(0);
  expect(counts.get("a")).toBe(0);
  expect((counts as unknown as { counts: Map<string, number> }).counts.size).toBe(0);
});
