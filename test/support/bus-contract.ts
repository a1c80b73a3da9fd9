/**
 * What every bus adapter promises, run against each of them (the memory hub in test/unit, one Redis
 * and a Redis Cluster in test/bus-contract.test.ts), as Centrifuge runs one suite against its brokers.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Bus, Envelope } from "../../src/chat/ports.ts";

/** Two instances' buses; `close` ends both. */
export type BusPair = { a: Bus; b: Bus; close(): Promise<void> };

/** Records what a bus hands to its instance. */
function recorder(bus: Bus): Envelope[] {
  const got: Envelope[] = [];
  bus.onEnvelope((e) => got.push(e));
  return got;
}

async function until(what: string, done: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

const strip = ({ sentAt: _, ...e }: Envelope) => e;

export function busContract(name: string, makePair: () => Promise<BusPair>): void {
  describe(`bus contract: ${name}`, () => {
    let pair: BusPair;
    let gotA: Envelope[];
    let gotB: Envelope[];
    beforeAll(async () => {
      pair = await makePair();
      gotA = recorder(pair.a);
      gotB = recorder(pair.b);
    });
    afterAll(() => pair.close());

    test("broadcast hands the envelope to its own instance at once, before it returns, and once", async () => {
      const session = crypto.randomUUID();
      const before = gotA.length;
      const e: Envelope = { kind: "direct", sessionId: session, toUserId: crypto.randomUUID(), frame: '{"type":"typing"}' };
      pair.a.broadcast(e);
      expect(gotA.slice(before)).toEqual([e]);
      await Bun.sleep(100);
      expect(gotA.slice(before)).toEqual([e]); // its own never come back through the adapter
    });

    test("an instance that joined the session gets every kind, each once, in the order broadcast", async () => {
      const session = crypto.randomUUID();
      const user = crypto.randomUUID();
      await pair.b.join(session);
      const sent: Envelope[] = [
        ...Array.from(
          { length: 100 },
          (_, i): Envelope => ({ kind: "message", sessionId: session, seq: i + 1, frame: `{"seq":${i + 1}}` }),
        ),
        { kind: "direct", sessionId: session, toUserId: user, frame: '{"type":"read","seq":100}' },
        { kind: "presence", sessionId: session, userId: user, online: true, version: 7 },
      ];
      for (const e of sent) pair.a.broadcast(e);
      const mine = () => gotB.filter((e) => "sessionId" in e && e.sessionId === session && e.kind !== "inbox");
      await until("every envelope on the other instance", () => mine().length >= sent.length);
      await Bun.sleep(50);
      expect(mine().map(strip)).toEqual(sent);
      pair.b.leave(session);
    });

    test("an instance that did not join, or left, gets nothing of the session; inbox envelopes follow the user's channel", async () => {
      const session = crypto.randomUUID();
      const user = crypto.randomUUID();
      const before = gotB.length;
      pair.a.broadcast({ kind: "message", sessionId: session, seq: 1, frame: "{}" });
      await Bun.sleep(50); // gone by before it joins
      await pair.b.join(session);
      pair.b.leave(session);
      pair.a.broadcast({ kind: "message", sessionId: session, seq: 2, frame: "{}" });
      await pair.b.joinUser(user);
      pair.a.broadcast({ kind: "inbox", userId: user, sessionId: session });
      await until("the inbox envelope", () => gotB.length > before);
      await Bun.sleep(50);
      expect(gotB.slice(before).map(strip)).toEqual([{ kind: "inbox", userId: user, sessionId: session }]);
      pair.b.leaveUser(user);
    });

    test("joins and leaves asked in one turn take effect in the order asked, each of many sessions", async () => {
      const joined = Array.from({ length: 1500 }, () => crypto.randomUUID());
      const [leftAgain, rejoined] = [crypto.randomUUID(), crypto.randomUUID()];
      await pair.b.join(rejoined);
      const before = gotB.length;
      const joins = joined.map((s) => pair.b.join(s)); // one turn: no await between them
      joins.push(pair.b.join(leftAgain));
      pair.b.leave(leftAgain);
      pair.b.leave(rejoined);
      joins.push(pair.b.join(rejoined));
      await Promise.all(joins);
      for (const s of [...joined, leftAgain, rejoined]) pair.a.broadcast({ kind: "message", sessionId: s, seq: 1, frame: "{}" });
      const expected = new Set([...joined, rejoined]);
      const got = () => gotB.slice(before).filter((e) => "sessionId" in e && e.kind === "message");
      await until("a message in every joined session", () => got().length >= expected.size);
      await Bun.sleep(50);
      const sessions = got().map((e) => ("sessionId" in e ? e.sessionId : ""));
      expect(sessions.length).toBe(expected.size);
      expect(new Set(sessions)).toEqual(expected);
      for (const s of [...joined, rejoined]) pair.b.leave(s);
    });
  });
}
