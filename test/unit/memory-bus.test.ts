/** The in-process hub: the bus contract, and an outage (what is broadcast during it is lost; every node is told to resync). */
import { expect, test } from "bun:test";
import { MemoryHub } from "../../src/bus/memory-bus.ts";
import { busContract } from "../support/bus-contract.ts";

busContract("memory hub", async () => {
  const hub = new MemoryHub();
  const [a, b] = [hub.node(), hub.node()];
  return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
});

test("an outage loses what is broadcast during it, and every node is told to resync when it ends", async () => {
  const hub = new MemoryHub();
  const [a, b] = [hub.node(), hub.node()];
  const got: number[] = [];
  let resyncs = 0;
  b.onEnvelope((e) => e.kind === "message" && got.push(e.seq));
  b.onResync(() => resyncs++);
  await b.join("s");
  a.broadcast({ kind: "message", sessionId: "s", seq: 1, frame: "{}" });
  await Bun.sleep(1); // arrived (one still on its way when the hub is cut is lost, as on a network)
  hub.cut();
  expect(b.status()).toBe("down");
  a.broadcast({ kind: "message", sessionId: "s", seq: 2, frame: "{}" });
  await Bun.sleep(5);
  hub.restore();
  a.broadcast({ kind: "message", sessionId: "s", seq: 3, frame: "{}" });
  await Bun.sleep(5);
  expect(got).toEqual([1, 3]);
  expect(resyncs).toBe(1);
});
