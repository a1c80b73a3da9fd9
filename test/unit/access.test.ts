/** Access changes: the feed's payloads, and which socket each change or snapshot closes with which code. */
import { describe, expect, test } from "bun:test";
import { parseAccessChange } from "../../src/store/access-feed.ts";
import { verdictOnChange, verdictOnSnapshot } from "../../src/transport/access-guard.ts";
import type { Admitted } from "../../src/transport/upgrade.ts";
import type { SessionInfo } from "../../src/chat/ports.ts";

const [S, A, B, C] = Array.from({ length: 4 }, () => crypto.randomUUID());
const session: SessionInfo = {
  sessionId: S!,
  inviter: { userId: A!, displayName: "A" },
  invitee: { userId: B!, displayName: "B" },
  lastSeq: 0,
  lastChange: 0,
  readMarks: { inviter: 0, invitee: 0 },
};
const chatOf = (userId: string): Admitted => ({
  ok: true,
  kind: "session",
  userId,
  expiresAt: 0,
  resume: null,
  user: userId === A ? session.inviter : session.invitee,
  session,
});
const inboxOf = (userId: string): Admitted => ({ ok: true, kind: "inbox", userId, expiresAt: 0 });

describe("access changes", () => {
  test("the trigger's payloads are read; anything else is refused", () => {
    expect(parseAccessChange(`s ${S} ${A} ${C}`)).toEqual({ kind: "session", sessionId: S!, participants: [A!, C!] });
    expect(parseAccessChange(`s ${S}`)).toEqual({ kind: "session", sessionId: S!, participants: null });
    expect(parseAccessChange(`u ${A}`)).toEqual({ kind: "user", userId: A! });
    expect(parseAccessChange(`b ${A}`)).toEqual({ kind: "user", userId: A!, banned: true });
    for (const bad of [
      "",
      "s",
      `x ${S}`,
      `s not-a-uuid`,
      `s ${S} ${A}`,
      `s ${S} ${A} nope`,
      `u ${A} ${B}`,
      `b ${A} ${B}`,
      `b nope`,
      `s ${S} ${A} ${B} ${C}`,
    ]) {
      expect(parseAccessChange(bad)).toBeNull();
    }
  });

  test("a replaced participant's sockets get 4004, the remaining one's and other sessions' none", () => {
    const change = { kind: "session", sessionId: S!, participants: [A!, C!] } as const;
    expect(verdictOnChange(chatOf(B!), change)).toBe(4004);
    expect(verdictOnChange(chatOf(A!), change)).toBeNull();
    expect(verdictOnChange(inboxOf(B!), change)).toBeNull();
    expect(verdictOnChange(chatOf(B!), { ...change, sessionId: crypto.randomUUID() })).toBeNull();
    expect(verdictOnChange(chatOf(A!), { kind: "session", sessionId: S!, participants: null })).toBe(4004);
  });

  test("a user gone or deactivated: every socket of theirs gets 4002", () => {
    expect(verdictOnChange(chatOf(A!), { kind: "user", userId: A! })).toBe(4002);
    expect(verdictOnChange(inboxOf(A!), { kind: "user", userId: A! })).toBe(4002);
    expect(verdictOnChange(chatOf(B!), { kind: "user", userId: A! })).toBeNull();
  });

  test("a snapshot closes what it no longer shows", () => {
    const snap = { sessions: new Map([[S!, [A!, C!] as const]]), activeUsers: new Set([A!, B!]), bannedUsers: new Set<string>() };
    expect(verdictOnSnapshot(chatOf(A!), snap)).toBeNull();
    expect(verdictOnSnapshot(chatOf(B!), snap)).toBe(4004);
    expect(verdictOnSnapshot(inboxOf(B!), snap)).toBeNull();
    expect(verdictOnSnapshot(inboxOf(C!), snap)).toBe(4002);
    expect(verdictOnSnapshot(chatOf(A!), { ...snap, sessions: new Map() })).toBe(4004);
  });

  test("a ban closes every socket of the user with 4005, told live or seen in a snapshot", () => {
    expect(verdictOnChange(chatOf(A!), { kind: "user", userId: A!, banned: true })).toBe(4005);
    expect(verdictOnChange(inboxOf(A!), { kind: "user", userId: A!, banned: true })).toBe(4005);
    expect(verdictOnChange(chatOf(B!), { kind: "user", userId: A!, banned: true })).toBeNull();
    const snap = { sessions: new Map([[S!, [A!, C!] as const]]), activeUsers: new Set([C!]), bannedUsers: new Set([A!]) };
    expect(verdictOnSnapshot(chatOf(A!), snap)).toBe(4005);
    expect(verdictOnSnapshot(inboxOf(A!), snap)).toBe(4005);
    expect(verdictOnSnapshot(chatOf(C!), snap)).toBeNull();
  });
});
