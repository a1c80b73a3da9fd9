/** The bytes of an envelope on a Redis channel. */
import { describe, expect, test } from "bun:test";
import { channelOf, decode, encode, sessionOf } from "../../src/bus/envelope-codec.ts";

const session = "5e55a0b1-0000-4000-8000-000000000001";

describe("envelope codec", () => {
  test("a session's channel has the session id as its Redis Cluster hash tag, and gives it back", () => {
    expect(channelOf(session)).toBe(`chat:{${session}}`);
    expect(sessionOf(channelOf(session))).toBe(session);
    expect(sessionOf("other:{x}")).toBeNull();
  });

  test("message, direct and presence envelopes survive the round trip; frames are not parsed", () => {
    const frame = '{"type":"message","content":"line\\nbreak {} \\"quotes\\""}';
    for (const envelope of [
      { kind: "message" as const, sessionId: session, seq: 42, frame },
      { kind: "direct" as const, sessionId: session, toUserId: "u2", frame: '{"type":"typing"}' },
      { kind: "presence" as const, sessionId: session, userId: "u1", online: true, version: 1_733_100_000_123_456 },
      { kind: "presence" as const, sessionId: session, userId: "u1", online: false, version: 7 },
    ]) {
      const bytes = encode("origin-1", envelope, 1000);
      expect(decode(session, bytes)).toEqual({ origin: "origin-1", envelope: { ...envelope, sentAt: 1000 } });
    }
  });

  test("garbage decodes to null, never throws", () => {
    for (const payload of [
      "",
      "no newline",
      "o x 1 2\nframe",
      "o m notanumber 1\nf",
      "o m 1 notatime\nf",
      "o p u1 1\n2 5",
      "o p u1 1\n1 x",
      "\n",
    ]) {
      expect(decode(session, payload)).toBeNull();
    }
  });
});
