/** The bytes of an envelope on a Redis channel. */
import { describe, expect, test } from "bun:test";
import {
  batchable,
  channelFor,
  channelOf,
  decode,
  encode,
  encodeBatch,
  inboxChannelOf,
  routeOf,
  WIRE_VERSION,
} from "../../src/bus/envelope-codec.ts";
import type { Envelope } from "../../src/chat/ports.ts";
import * as v02 from "../support/wire-0.2.ts";

const session = "5e55a0b1-0000-4000-8000-000000000001";
const user = "0a0a0a0a-0000-4000-8000-000000000002";
const decoded = (origin: string, envelopes: Envelope[]) => ({ origin, wire: WIRE_VERSION, envelopes, unknownKinds: [] });

describe("envelope codec", () => {
  test("a session's channel has the session id as its Redis Cluster hash tag, and gives it back", () => {
    expect(channelOf(session)).toBe(`chat:{${session}}`);
    expect(routeOf(channelOf(session))).toEqual({ sessionId: session });
    expect(routeOf("other:{x}")).toBeNull();
    expect(routeOf("chat:nobrace")).toBeNull();
  });

  test("a user's inbox channel has the user id as its hash tag; inbox envelopes travel on it", () => {
    expect(inboxChannelOf(user)).toBe(`chat:inbox:{${user}}`);
    expect(routeOf(inboxChannelOf(user))).toEqual({ userId: user });
    expect(channelFor({ kind: "inbox", userId: user, sessionId: session })).toBe(inboxChannelOf(user));
    expect(channelFor({ kind: "message", sessionId: session, seq: 1, frame: "{}" })).toBe(channelOf(session));
  });

  test("message, change, direct and presence envelopes survive the round trip; frames are not parsed", () => {
    const frame = '{"type":"message","content":"line\\nbreak {} \\"quotes\\""}';
    for (const envelope of [
      { kind: "message" as const, sessionId: session, seq: 42, frame },
      { kind: "change" as const, sessionId: session, changeSeq: 9, seq: 42, frame: '{"type":"message_changed"}' },
      { kind: "direct" as const, sessionId: session, toUserId: "u2", frame: '{"type":"typing"}' },
      { kind: "presence" as const, sessionId: session, userId: "u1", online: true, version: 1_733_100_000_123_456 },
      { kind: "presence" as const, sessionId: session, userId: "u1", online: false, version: 7 },
    ]) {
      const bytes = encode("origin-1", envelope, 1000);
      expect(decode({ sessionId: session }, bytes)).toEqual(decoded("origin-1", [{ ...envelope, sentAt: 1000 }]));
    }
    const inbox = { kind: "inbox" as const, userId: user, sessionId: session };
    expect(decode({ userId: user }, encode("origin-1", inbox, 1000))).toEqual(decoded("origin-1", [{ ...inbox, sentAt: 1000 }]));
  });

  test("a batch carries several envelopes of one channel, in order, in one payload", () => {
    const envelopes = [
      { kind: "message" as const, sessionId: session, seq: 7, frame: '{"type":"message","content":"a\\nb"}' },
      { kind: "direct" as const, sessionId: session, toUserId: "u2", frame: '{"type":"read","seq":7}' },
      { kind: "presence" as const, sessionId: session, userId: "u1", online: false, version: 9 },
      { kind: "message" as const, sessionId: session, seq: 8, frame: "{}" },
    ];
    expect(envelopes.every(batchable)).toBe(true);
    const bytes = encodeBatch("origin-1", envelopes, 1000);
    expect(decode({ sessionId: session }, bytes)).toEqual(
      decoded(
        "origin-1",
        envelopes.map((e) => ({ ...e, sentAt: 1000 })),
      ),
    );
    const inboxes = [session, "5e55a0b1-0000-4000-8000-000000000009"].map((s) => ({ kind: "inbox" as const, userId: user, sessionId: s }));
    expect(decode({ userId: user }, encodeBatch("o", inboxes, 5))).toEqual(
      decoded(
        "o",
        inboxes.map((e) => ({ ...e, sentAt: 5 })),
      ),
    );
    // A body with a raw line break cannot travel in a batch (the bus sends it alone).
    expect(batchable({ kind: "message", sessionId: session, seq: 1, frame: "two\nlines" })).toBe(false);
  });

  test("a malformed batch is dropped whole: wrong count, a bad member, a session member on an inbox channel", () => {
    const one = `m 1\n{}`;
    for (const payload of [
      `o b 2 1000\n${one}`,
      `o b 0 1000\n`,
      `o b x 1000\n${one}`,
      `o b 2 1000\n${one}\nm x\n{}`,
      `o b 1 1000\nm1\n{}`,
    ]) {
      expect(decode({ sessionId: session }, payload)).toBeNull();
    }
    expect(decode({ userId: user }, `o b 1 1000\n${one}`)).toBeNull();
    expect(decode({ sessionId: session }, `o b 1 1000\n${one}`)?.envelopes).toHaveLength(1);
  });

  test("garbage decodes to null, never throws; a session envelope on an inbox channel is garbage too", () => {
    for (const payload of [
      "",
      "no newline",
      "o x 1 2\nframe",
      "o m notanumber 1\nf",
      "o m 1 notatime\nf",
      "o p u1 1\n2 5",
      "o p u1 1\n1 x",
      "o i s1 x\n",
      "\n",
    ]) {
      expect(decode({ sessionId: session }, payload)).toBeNull();
      expect(decode({ userId: user }, payload)).toBeNull();
    }
    expect(decode({ userId: user }, `o m 1 1000\n{}`)).toBeNull();
    expect(decode({ sessionId: session }, `o i ${session} 1000\n`)).toBeNull();
  });

  describe("two versions side by side", () => {
    const message = { kind: "message" as const, sessionId: session, seq: 3, frame: '{"type":"message"}' };
    const change = { kind: "change" as const, sessionId: session, changeSeq: 1, seq: 3, frame: "{}" };
    const typing = { kind: "direct" as const, sessionId: session, toUserId: "u2", frame: '{"type":"typing"}' };

    test("0.2 reads this version's envelopes and batches (it ignores the wire field), but not a change", () => {
      const route = { sessionId: session };
      expect(v02.decode(route, encode("o", message, 7))?.envelopes).toEqual([{ ...message, sentAt: 7 }]);
      expect(v02.decode(route, encodeBatch("o", [message, typing], 7))?.envelopes).toEqual([
        { ...message, sentAt: 7 },
        { ...typing, sentAt: 7 },
      ]);
      expect(v02.decode(route, encode("o", change, 7))).toBeNull();
      // 0.2 drops a whole batch holding a kind it does not know: a change never travels in one.
      expect(batchable(change)).toBe(false);
    });

    test("this version reads 0.2's bytes (no wire field: wire 1)", () => {
      const route = { sessionId: session };
      expect(decode(route, v02.encode("o", message, 7))).toEqual({ ...decoded("o", [{ ...message, sentAt: 7 }]), wire: 1 });
      expect(decode(route, v02.encodeBatch("o", [message, typing], 7))?.envelopes).toHaveLength(2);
    });

    test("a newer wire's extra header fields are ignored and its unknown kinds skipped, alone or in a batch", () => {
      const route = { sessionId: session };
      const next = WIRE_VERSION + 1;
      expect(decode(route, `o m 3 7 ${next} extra\n{"type":"message"}`)?.envelopes).toEqual([{ ...message, sentAt: 7 }]);
      expect(decode(route, `o z 1 7 ${next}\nwhatever`)).toEqual({ origin: "o", wire: next, envelopes: [], unknownKinds: ["z"] });
      const batch = decode(route, `o b 3 7 ${next}\nz 1\n{}\nm 3\n{"type":"message"}\ny a\nb`);
      expect(batch?.envelopes).toEqual([{ ...message, sentAt: 7 }]);
      expect(batch?.unknownKinds).toEqual(["z", "y"]);
      // From this version or an older one, an unknown kind is garbage: the payload is dropped.
      expect(decode(route, `o z 1 7 ${WIRE_VERSION}\nwhatever`)).toBeNull();
      expect(decode(route, `o m 3 7 notanumber\n{}`)).toBeNull();
    });
  });
});
