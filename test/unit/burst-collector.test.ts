/** The collection after a burst of connections: once per burst that was big enough, after it, and not too often. */
import { expect, test } from "bun:test";
import { BurstCollector } from "../../src/transport/burst-collector.ts";

/** Checks are driven by the test (tick), not by the timer. */
function collector(minIntervalMs = 0) {
  let collections = 0;
  const c = new BurstCollector({ collect: () => collections++, minBurst: 100, checkMs: 3_600_000, minIntervalMs });
  return { c, collections: () => collections };
}

function open(c: BurstCollector, count: number) {
  for (let i = 0; i < count; i++) c.opened();
}

test("a burst of at least minBurst connections is followed by one collection at the first quiet check, none during it", () => {
  const { c, collections } = collector();
  for (let i = 0; i < 3; i++) {
    open(c, 50);
    c.tick();
  }
  expect(collections()).toBe(0);
  c.tick();
  expect(collections()).toBe(1);
  c.tick();
  c.tick();
  expect(collections()).toBe(1);
  c.stop();
});

test("small bursts never collect, and collections are at least minIntervalMs apart", () => {
  const small = collector();
  open(small.c, 99);
  small.c.tick();
  small.c.tick();
  expect(small.collections()).toBe(0);
  small.c.stop();

  const spaced = collector(60_000);
  for (let round = 0; round < 2; round++) {
    open(spaced.c, 150);
    spaced.c.tick();
    spaced.c.tick();
  }
  expect(spaced.collections()).toBe(1);
  spaced.c.stop();
});

test("by default the memory is handed back with Bun.shrink, which this Bun has (without it RSS per idle socket grows by a fifth)", () => {
  expect(typeof Bun.shrink).toBe("function");
  const original = Bun.shrink;
  let shrinks = 0;
  Bun.shrink = () => {
    shrinks++;
  };
  try {
    const c = new BurstCollector({ minBurst: 10, checkMs: 3_600_000, minIntervalMs: 0 });
    open(c, 10);
    c.tick();
    c.tick();
    c.stop();
    expect(shrinks).toBe(1);
  } finally {
    Bun.shrink = original;
  }
});
