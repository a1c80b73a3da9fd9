/** The inbox's coalescing (KeyedThrottle) and the feed's ordering rules, over small fakes of the ports. */
import { describe, expect, test } from "bun:test";
import { KeyedThrottle, type Timers } from "../../src/chat/throttle.ts";
import { InboxFeed } from "../../src/chat/inbox-feed.ts";
import type { ChatQueries, Envelope, InboxQuery, InboxRow } from "../../src/chat/ports.ts";
import { MemoryHub } from "../../src/bus/memory-bus.ts";
import { LocalPresence } from "../../src/bus/local-presence.ts";
import { createLogger } from "../../src/observability/log.ts";
import { FakeSockets } from "../support/fake-sockets.ts";

/** Timers the test advances by hand. */
class ManualTimers implements Timers {
  private due: { at: number; run: () => void }[] = [];
  private time = 0;
  now() {
    return this.time;
  }
  set(run: () => void, ms: number) {
    const t = { at: this.time + ms, run };
    this.due.push(t);
    return t;
  }
  clear(t: unknown) {
    this.due = this.due.filter((d) => d !== t);
  }
  async advance(ms: number) {
    this.time += ms;
    for (const t of this.due.filter((d) => d.at <= this.time)) {
      this.clear(t);
      t.run();
    }
    await Bun.sleep(0);
  }
}

describe("KeyedThrottle", () => {
  test("the first call runs at once; calls within the window fold into one run when it ends; keys are independent", async () => {
    const timers = new ManualTimers();
    const runs: string[] = [];
    const t = new KeyedThrottle(250, (k: string) => void runs.push(k), timers);
    t.call("a");
    t.call("a");
    t.call("a");
    t.call("b");
    await Bun.sleep(0);
    expect(runs).toEqual(["a", "b"]);
    await timers.advance(249);
    expect(runs).toEqual(["a", "b"]);
    await timers.advance(1);
    expect(runs).toEqual(["a", "b", "a"]); // the folded calls, once
    await timers.advance(250);
    expect(runs).toEqual(["a", "b", "a"]);
    expect(t.size).toBe(0);
  });

  test("a slow run holds the next one until it finished, however long the window was", async () => {
    const timers = new ManualTimers();
    let finish = () => {};
    let runs = 0;
    const t = new KeyedThrottle(
      10,
      () => {
        runs++;
        return new Promise<void>((r) => (finish = r));
      },
      timers,
    );
    t.call("k");
    await timers.advance(5);
    t.call("k");
    await timers.advance(100);
    expect(runs).toBe(1);
    finish();
    await Bun.sleep(0);
    expect(runs).toBe(2);
  });

  test("flush runs what is folded at once (shutdown loses nothing)", async () => {
    const timers = new ManualTimers();
    const runs: string[] = [];
    const t = new KeyedThrottle(1000, (k: string) => void runs.push(k), timers);
    t.call("x");
    t.call("x");
    t.call("y");
    await t.flush();
    expect(runs).toEqual(["x", "y", "x"]);
    expect(t.size).toBe(0);
  });
});

describe("InboxFeed", () => {
  const session = "5e55a0b1-0000-4000-8000-000000000001";
  const me = "0a0a0a0a-0000-4000-8000-000000000001";
  const row = (lastSeq: number): InboxRow => ({
    session_id: session,
    last_seq: lastSeq,
    last_read_seq: 0,
    unread: lastSeq,
    last_message: null,
    other: { user_id: "other", display_name: "Other" },
    cursor: { activity: lastSeq, sessionId: session },
  });

  /** A store whose answers the test releases one by one, in any order. */
  function fakes() {
    let lastSeq = 0;
    const reads: { query: InboxQuery; answer: () => void }[] = [];
    const store: Pick<ChatQueries, "inbox"> = {
      inbox: (_user, query) =>
        new Promise<InboxRow[]>((resolve) => {
          const seen = lastSeq; // the state as of the read's start, as PostgreSQL would give it
          reads.push({ query, answer: () => resolve([row(seen)]) });
        }),
    };
    // A bus alone on its hub: a broadcast reaches this instance's handler only.
    const published: Envelope[] = [];
    const bus = new MemoryHub().node();
    bus.onEnvelope((e) => published.push(e));
    const presence = new LocalPresence(); // nobody online
    const sockets = new FakeSockets();
    const conn = sockets.open();
    const sent = conn.sent;
    const feed = new InboxFeed({ store, presence, bus, log: createLogger("silent"), intervalMs: 5 });
    const commit = () => ++lastSeq;
    const seqsSent = () =>
      sent
        .map((f) => JSON.parse(f))
        .filter((f) => f.type === "inbox")
        .map((f) => f.last_seq);
    return { feed, reads, published, sent, conn, sockets, commit, seqsSent };
  }

  test("an entry read before a socket's snapshot is never sent after it; a change during the snapshot is sent once live", async () => {
    const f = fakes();
    const other = f.sockets.open();
    const first = f.feed.open(other, me); // a first socket, so that refreshes run
    await Bun.sleep(0);
    f.reads.shift()!.answer();
    await first;

    f.commit(); // seq 1 committed
    f.feed.changed(me, session); // a refresh starts: it reads seq 1
    const opening = f.feed.open(f.conn, me); // the new socket's snapshot
    await Bun.sleep(0);
    f.commit(); // seq 2 committed while both reads are out
    f.feed.changed(me, session);
    const [refresh, snapshot] = [f.reads[0]!, f.reads[1]!];
    expect(refresh.query.sessionId).toBe(session);
    expect(snapshot.query.sessionId).toBeUndefined();
    snapshot.answer(); // the snapshot read started after seq 1: shows 1
    await opening;
    refresh.answer(); // started before the snapshot: not sent to this socket
    await Bun.sleep(10);
    while (f.reads.length > 2) {
      f.reads.splice(2, 1)[0]!.answer();
      await Bun.sleep(10);
    }
    expect(f.seqsSent()).toEqual([1, 2]);
    expect(f.sent.map((x) => JSON.parse(x).type)).toEqual(["inbox", "inbox_ready", "inbox"]);
  });

  test("touch announces once per user and session per window, through the one broadcast (every instance, this one included)", async () => {
    const f = fakes();
    for (let i = 0; i < 50; i++) f.feed.touch(session, [me, "other"]);
    expect(f.published).toEqual([
      { kind: "inbox", userId: me, sessionId: session },
      { kind: "inbox", userId: "other", sessionId: session },
    ]);
    await Bun.sleep(20);
    expect(f.published.length).toBe(4); // the folded touches: one more each
    await f.feed.stop();
  });
});
