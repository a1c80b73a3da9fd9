/** A room's ordering rules, with a fake store and a recording publisher (no server, no database). */
import { afterEach, describe, expect, test } from "bun:test";
import { GAP_WAIT_MS, Room } from "../../src/chat/room.ts";
import type { SessionInfo } from "../../src/chat/ports.ts";
import type { MessageView } from "../../src/protocol/frames.ts";

const session = (over: Partial<SessionInfo> = {}): SessionInfo => ({
  sessionId: "s1",
  inviter: { userId: "alex", displayName: "Alex" },
  invitee: { userId: "sam", displayName: "Sam" },
  lastSeq: 0,
  lastChange: 0,
  readMarks: { inviter: 0, invitee: 0 },
  ...over,
});

const view = (seq: number): MessageView => ({
  message_id: `m${seq}`,
  session_id: "s1",
  seq,
  content: `c${seq}`,
  sender_id: "alex",
  sender_name: "Alex",
  created_at: "t",
});

const rooms: Room[] = [];
afterEach(() => {
  for (const room of rooms.splice(0)) room.dispose();
});

/** A room whose store holds `stored` messages (and `changed`: message seq → its latest change); `published` records what its sockets got. */
function roomWith(stored: number[] = [], over: Partial<SessionInfo> = {}, changed: [seq: number, changeSeq: number][] = []) {
  const published: string[] = [];
  const fetches: number[] = [];
  const room = new Room(session(over), {
    publish: (_room, frame) => published.push(frame),
    fetchPosition: async () => ({ lastSeq: Math.max(0, ...stored), lastChange: Math.max(0, ...changed.map(([, c]) => c)) }),
    fetchAfter: async (_room, after, limit) => {
      fetches.push(after);
      return stored
        .filter((s) => s > after)
        .slice(0, limit)
        .map(view);
    },
    frameOf: (m) => `f${m.seq}`,
    fetchChangesAfter: async (_room, after, limit) =>
      changed
        .filter(([, c]) => c > after)
        .sort((a, b) => a[1] - b[1])
        .slice(0, limit)
        .map(([seq, changeSeq]) => ({ changeSeq, message: { ...view(seq), change_seq: changeSeq } })),
    changeFrameOf: (c) => `c${c.changeSeq}:${c.message.seq}`,
    onError: () => {},
  });
  rooms.push(room);
  return { room, published, fetches };
}

describe("Room", () => {
  test("delivers messages in seq order, each once", () => {
    const { room, published } = roomWith();
    room.deliver(1, "f1");
    room.deliver(2, "f2");
    room.deliver(2, "f2");
    room.deliver(1, "f1");
    expect(published).toEqual(["f1", "f2"]);
    expect(room.lastSeq).toBe(2);
  });

  test("holds an early message until the missing one arrives, then releases both in order", () => {
    const { room, published } = roomWith();
    room.deliver(2, "f2");
    room.deliver(3, "f3");
    expect(published).toEqual([]);
    room.deliver(1, "f1");
    expect(published).toEqual(["f1", "f2", "f3"]);
  });

  test("asks the store for what is missing when the gap lasts GAP_WAIT_MS", async () => {
    const { room, published, fetches } = roomWith([1, 2, 3]);
    room.deliver(3, "f3");
    await Bun.sleep(GAP_WAIT_MS / 2);
    expect(fetches).toEqual([]);
    await Bun.sleep(GAP_WAIT_MS);
    expect(fetches).toEqual([0]);
    expect(published).toEqual(["f1", "f2", "f3"]);
  });

  test("beyond MAX_HELD held messages the store is asked at once", async () => {
    const stored = Array.from({ length: 1002 }, (_, i) => i + 1);
    const { room, published, fetches } = roomWith(stored);
    for (let seq = 2; seq <= 1002; seq++) room.deliver(seq, `f${seq}`);
    await Bun.sleep(5); // well before GAP_WAIT_MS
    expect(fetches.length).toBeGreaterThan(0);
    expect(published).toHaveLength(1002);
    expect(published[0]).toBe("f1");
  });

  test("catchUp delivers what was committed after lastSeq, in order, without repeating what was delivered", async () => {
    const { room, published } = roomWith([1, 2, 3, 4], { lastSeq: 0 });
    room.deliver(1, "f1");
    await room.catchUp();
    expect(published).toEqual(["f1", "f2", "f3", "f4"]);
    await room.catchUp();
    expect(published).toHaveLength(4);
  });

  test("catchUp of a room already as far as the store asks only for the position: no page is read", async () => {
    const { room, published, fetches } = roomWith([1, 2], { lastSeq: 0 });
    room.deliver(1, "f1");
    room.deliver(2, "f2");
    await room.catchUp();
    expect(fetches).toEqual([]);
    expect(published).toEqual(["f1", "f2"]);
  });

  test("afterDelivered runs at once for a delivered seq, and only once the room reached it otherwise", () => {
    const { room } = roomWith();
    const ran: string[] = [];
    room.deliver(1, "f1");
    room.afterDelivered(1, () => ran.push("one"));
    room.afterDelivered(3, () => ran.push("three"));
    expect(ran).toEqual(["one"]);
    room.deliver(2, "f2");
    expect(ran).toEqual(["one"]);
    room.deliver(3, "f3");
    expect(ran).toEqual(["one", "three"]);
  });

  test("presence: a newer change that says something else is announced; older or repeated ones are not", () => {
    const { room } = roomWith();
    expect(room.presenceOf("sam", undefined)).toBe(false); // seeds: offline, version 0
    expect(room.notePresence("sam", { online: true, version: 5 })).toBe(true);
    expect(room.notePresence("sam", { online: false, version: 4 })).toBe(false); // stale
    expect(room.notePresence("sam", { online: true, version: 6 })).toBe(false); // same state
    expect(room.notePresence("sam", { online: false, version: 7 })).toBe(true);
    expect(room.presenceOf("sam", { online: true, version: 9 })).toBe(true); // a newer stored state is shown
    expect(room.presenceOf("sam", { online: true, version: 3 })).toBe(false); // an older one is not
  });

  test("adopt points a member at the room's participants, matched by user id; a stranger is refused", () => {
    const { room } = roomWith();
    const m = { user: { userId: "sam", displayName: "Sam (new name)" }, session: session() };
    room.adopt(m);
    expect(m.user).toBe(room.session.invitee);
    expect(room.session.invitee.displayName).toBe("Sam (new name)");
    expect(() => room.adopt({ user: { userId: "eve", displayName: "Eve" }, session: session() })).toThrow();
  });

  test("a room over new participants takes over the old one's sockets, position and held messages", () => {
    const old = roomWith();
    old.room.addSocket("alex");
    old.room.addSocket("sam");
    old.room.deliver(1, "f1");
    old.room.deliver(3, "f3");
    const fresh = roomWith([], { invitee: { userId: "kim", displayName: "Kim" }, lastSeq: 3 });
    expect(fresh.room.hasParticipants(old.room.session)).toBe(false);
    fresh.room.takeOver(old.room);
    expect(fresh.room.sockets).toBe(2);
    expect(fresh.room.lastSeq).toBe(1);
    fresh.room.deliver(2, "f2");
    expect(fresh.published).toEqual(["f2", "f3"]);
    expect(fresh.room.removeSocket("sam")).toBe(true);
  });

  test("a participant dropped by one change and restored by the next keeps their sockets counted", () => {
    const first = roomWith();
    first.room.addSocket("sam");
    const withoutSam = roomWith([], { invitee: { userId: "kim", displayName: "Kim" } });
    withoutSam.room.takeOver(first.room);
    expect(withoutSam.room.usersHere()).toEqual(["sam"]);
    const samAgain = roomWith();
    samAgain.room.takeOver(withoutSam.room);
    expect(samAgain.room.sockets).toBe(1);
    expect(samAgain.room.addSocket("sam")).toBe(false); // not their first socket here
    expect(samAgain.room.removeSocket("sam")).toBe(false);
    expect(samAgain.room.removeSocket("sam")).toBe(true);
  });

  test("counts sockets per user: first and last are told apart", () => {
    const { room } = roomWith();
    expect(room.addSocket("sam")).toBe(true);
    expect(room.addSocket("sam")).toBe(false);
    expect(room.removeSocket("sam")).toBe(false);
    expect(room.removeSocket("sam")).toBe(true);
    expect(room.sockets).toBe(0);
  });

  test("changes: delivered once, in change order, never ahead of the message they change", () => {
    const { room, published } = roomWith([], { lastSeq: 2 });
    room.deliverChange(2, 1, "c2");
    room.deliverChange(1, 3, "c1"); // a change to message 3, which this room has not delivered yet
    expect(published).toEqual([]);
    room.deliver(3, "f3");
    room.deliverChange(1, 3, "c1");
    room.deliverChange(2, 1, "c2");
    expect(published).toEqual(["f3", "c1", "c2"]);
    expect(room.lastChange).toBe(2);
  });

  test("changes: a gap is filled from the store with the current state; a superseded change is skipped", async () => {
    // Message 1 was changed by 1 and again by 3 (the store keeps 3); message 2 by 2; message 1 by 4 is the live one held.
    const { room, published } = roomWith([1, 2], { lastSeq: 2 }, [
      [2, 2],
      [1, 4],
    ]);
    room.deliverChange(4, 1, "c4:1");
    expect(published).toEqual([]);
    await Bun.sleep(GAP_WAIT_MS + 50);
    expect(published).toEqual(["c2:2", "c4:1"]);
    expect(room.lastChange).toBe(4);
    room.deliverChange(3, 1, "c3:1"); // late, and older than what was shown
    expect(published).toEqual(["c2:2", "c4:1"]);
  });
});
