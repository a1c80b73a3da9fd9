/** The group-commit writer's rules, against a fake `sql` that plays PostgreSQL (no database). */
import { afterEach, describe, expect, test } from "bun:test";
import type { Sql } from "postgres";
import { MessageWriter, type WriterOptions } from "../../src/store/message-writer.ts";
import { UnavailableError } from "../../src/store/errors.ts";
import type { NewMessage } from "../../src/chat/ports.ts";

type Row = { input_id: string; id: string; seq: number; content: string; created_at: string; duplicate: boolean };
type Batch = { ids: string[]; sessions: string[]; senders: string[]; contents: string[]; clientIds: (string | null)[] };

/** The array literals the writer sends (pgArray), back to values. */
const parseArray = (literal: string): (string | null)[] => JSON.parse(`[${literal.slice(1, -1).replaceAll("NULL", "null")}]`);

/**
 * A fake `sql` tagged template: each statement becomes a Batch for `onBatch`, which decides when and
 * how it commits. `store` keeps what was "committed", so client_id duplicates behave as in PostgreSQL.
 */
function fakeDatabase() {
  const committed: { session: string; sender: string; clientId: string | null; row: Row }[] = [];
  const seqs = new Map<string, number>();
  const batches: Batch[] = [];
  let gate: ((b: Batch) => Promise<void>) | null = null;
  const commit = (b: Batch): Row[] =>
    b.ids.map((id, i) => {
      const session = b.sessions[i]!;
      const existing = committed.find(
        (c) => c.session === session && c.sender === b.senders[i] && c.clientId !== null && c.clientId === b.clientIds[i],
      );
      if (existing) return { ...existing.row, input_id: id, duplicate: true };
      const seq = (seqs.get(session) ?? 0) + 1;
      seqs.set(session, seq);
      const row = { input_id: id, id, seq, content: b.contents[i]!, created_at: "2026-12-02T00:00:00.000000Z", duplicate: false };
      committed.push({ session, sender: b.senders[i]!, clientId: b.clientIds[i] ?? null, row });
      return row;
    });
  const sql = Object.assign(
    async (_strings: TemplateStringsArray, ...values: unknown[]) => {
      if (values.length < 5) return []; // a fragment (the duplicate probe, the notification queueing): not the statement
      const [ids, sessions, senders, contents, clientIds] = values.slice(0, 5).map((v) => parseArray(v as string));
      const batch = { ids, sessions, senders, contents, clientIds } as Batch;
      batches.push(batch);
      if (gate) await gate(batch);
      return commit(batch);
    },
    { unsafe: (s: string) => s },
  );
  return {
    sql: sql as unknown as Sql,
    batches,
    committed,
    /** Every statement waits for `g` before it commits (or throws what `g` throws). */
    gateWith(g: ((b: Batch) => Promise<void>) | null) {
      gate = g;
    },
  };
}

let writer: MessageWriter | null = null;
afterEach(() => writer?.stop());

function writerOn(db: ReturnType<typeof fakeDatabase>, options: Partial<WriterOptions> = {}) {
  writer = new MessageWriter(db.sql, { maxBatch: 500, concurrency: 2, timeoutMs: 1000, maxPending: 1000, ...options });
  return writer;
}

let n = 0;
const message = (sessionId: string, over: Partial<NewMessage> = {}): NewMessage => ({
  id: `00000000-0000-4000-8000-${String(++n).padStart(12, "0")}`,
  sessionId,
  senderId: "sender-1",
  senderName: "Sam",
  content: `m${n}`,
  clientId: null,
  ...over,
});

/** A promise with its resolve, to hold a statement until the test lets it commit. */
function latch() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe("MessageWriter", () => {
  test("at low load a message is written at once, alone in its batch", async () => {
    const db = fakeDatabase();
    const appended = await writerOn(db).append(message("s1"));
    expect(appended).toMatchObject({ duplicate: false, message: { seq: 1, session_id: "s1", sender_name: "Sam" } });
    expect(db.batches).toHaveLength(1);
  });

  test("messages that arrive in the same turn share one batch, in order", async () => {
    const db = fakeDatabase();
    const w = writerOn(db);
    const results = await Promise.all([w.append(message("s1")), w.append(message("s2")), w.append(message("s1"))]);
    expect(db.batches).toHaveLength(1);
    expect(results.map((r) => [r.message.session_id, r.message.seq])).toEqual([
      ["s1", 1],
      ["s2", 1],
      ["s1", 2],
    ]);
  });

  test("under load the next statement lingers a moment for more rows; at low load none does", async () => {
    const db = fakeDatabase();
    const w = writerOn(db, { concurrency: 1 });
    const first = latch();
    db.gateWith(() => (db.batches.length === 1 ? first.opened : Promise.resolve()));
    const burst = Array.from({ length: 80 }, (_, i) => w.append(message(`s${i}`)));
    await Bun.sleep(1); // the first statement (80 rows: load) is in flight
    const next = [w.append(message("t1"))];
    first.open();
    await Promise.all(burst);
    next.push(w.append(message("t2"))); // arrives during the linger: same statement
    await Promise.all(next);
    expect(db.batches.map((b) => b.ids.length)).toEqual([80, 2]);
    // A small statement does not make the next one wait.
    const started = performance.now();
    await w.append(message("u1"));
    await w.append(message("u2"));
    expect(db.batches.map((b) => b.ids.length)).toEqual([80, 2, 1, 1]);
    expect(performance.now() - started).toBeLessThan(20);
  });

  test("a session is in one batch at a time: its next messages wait, other sessions go in a second batch", async () => {
    const db = fakeDatabase();
    const w = writerOn(db, { concurrency: 2 });
    const first = latch();
    db.gateWith((b) => (b.sessions.includes("s1") && b.ids.length === 1 && db.batches.length === 1 ? first.opened : Promise.resolve()));
    const a = w.append(message("s1"));
    await Bun.sleep(5); // the first batch (s1) is in flight
    const b = w.append(message("s1"));
    const c = w.append(message("s2"));
    expect((await c).message.seq).toBe(1); // s2 did not wait for s1's batch
    expect(db.batches.map((x) => x.sessions)).toEqual([["s1"], ["s2"]]);
    first.open();
    expect((await a).message.seq).toBe(1);
    expect((await b).message.seq).toBe(2);
    expect(db.batches.map((x) => x.sessions)).toEqual([["s1"], ["s2"], ["s1"]]);
  });

  test("a second batch starts beside one in flight only once secondBatchMin messages wait", async () => {
    const db = fakeDatabase();
    const w = writerOn(db, { concurrency: 2, secondBatchMin: 3 });
    const first = latch();
    db.gateWith((b) => (db.batches.length === 1 && b.sessions[0] === "s1" ? first.opened : Promise.resolve()));
    const a = w.append(message("s1"));
    await Bun.sleep(5);
    const waiting = [w.append(message("s2")), w.append(message("s3"))];
    await Bun.sleep(5);
    expect(db.batches).toHaveLength(1); // two waiting: not worth a second statement yet
    const third = w.append(message("s4"));
    await Promise.all([...waiting, third]); // the third makes it worth it, s1 still in flight
    expect(db.batches.map((b) => b.sessions)).toEqual([["s1"], ["s2", "s3", "s4"]]);
    first.open();
    await a;
  });

  test("a backlog over few sessions is split in two statements on disjoint halves of them, which run side by side", async () => {
    const db = fakeDatabase();
    const w = writerOn(db, { concurrency: 2, secondBatchMin: 100 });
    const both = latch();
    db.gateWith(() => (db.batches.length < 2 ? both.opened : Promise.resolve()));
    const sessions = Array.from({ length: 10 }, (_, i) => `s${i}`);
    const sent = Array.from({ length: 300 }, (_, i) => w.append(message(sessions[i % 10]!)));
    await Bun.sleep(5);
    expect(db.batches).toHaveLength(2); // both in flight: the first did not take every session
    const [first, second] = db.batches.map((b) => new Set(b.sessions)) as [Set<string>, Set<string>];
    expect(first.size).toBe(5);
    expect(second.size).toBe(5);
    expect([...first].some((s) => second.has(s))).toBe(false);
    both.open();
    const seqs = new Map<string, number[]>();
    for (const a of await Promise.all(sent)) seqs.set(a.message.session_id, [...(seqs.get(a.message.session_id) ?? []), a.message.seq]);
    for (const list of seqs.values()) expect(list).toEqual(Array.from({ length: 30 }, (_, i) => i + 1)); // order kept per session
  });

  test("a statement in flight for long no longer holds a second one back", async () => {
    const db = fakeDatabase();
    const w = writerOn(db, { concurrency: 2, secondBatchMin: 100, timeoutMs: 2000 });
    const stuck = latch();
    db.gateWith((b) => (b.sessions[0] === "s1" ? stuck.opened : Promise.resolve()));
    const a = w.append(message("s1"));
    await Bun.sleep(5);
    const other = w.append(message("s2"));
    expect((await other).message.seq).toBe(1); // went in a second statement after ~100 ms, not after s1's
    stuck.open();
    await a;
  });

  test("a client_id retried twice in one burst goes into two batches: stored once, the retry answered as a duplicate", async () => {
    const db = fakeDatabase();
    const w = writerOn(db);
    const clientId = "11111111-1111-4111-8111-111111111111";
    const [first, retry, next] = await Promise.all([
      w.append(message("s1", { clientId })),
      w.append(message("s1", { clientId })),
      w.append(message("s1")),
    ]);
    expect(db.batches.map((b) => b.ids.length)).toEqual([1, 2]); // the retry and what follows it in its session wait
    expect(first).toMatchObject({ duplicate: false, message: { seq: 1, client_id: clientId } });
    expect(retry).toMatchObject({ duplicate: true, message: { seq: 1, message_id: first.message.message_id } });
    expect(next.message.seq).toBe(2);
    expect(db.committed).toHaveLength(2);
  });

  test("a queued message whose deadline passed is refused with UnavailableError and never written", async () => {
    const db = fakeDatabase();
    const w = writerOn(db, { concurrency: 1, maxBatch: 1, timeoutMs: 100 });
    const held = latch();
    db.gateWith(() => held.opened);
    const inFlight = w.append(message("s1")).catch((e: unknown) => e);
    const queued = w.append(message("s2")).catch((e: unknown) => e); // waits behind s1's batch past its deadline
    expect(await queued).toBeInstanceOf(UnavailableError);
    expect(await inFlight).toBeInstanceOf(UnavailableError);
    held.open();
    await Bun.sleep(20);
    expect(db.batches.flatMap((b) => b.sessions)).toEqual(["s1"]);
  });

  test("late commit: the caller hears `unavailable` at its deadline; when the batch commits after all, onLateCommit hands the message over", async () => {
    const db = fakeDatabase();
    const late: unknown[] = [];
    const w = writerOn(db, { timeoutMs: 100, onLateCommit: (a) => late.push(a) });
    const held = latch();
    db.gateWith(() => held.opened);
    const appended = w.append(message("s1"));
    expect(await appended.catch((e: unknown) => e)).toBeInstanceOf(UnavailableError);
    expect(late).toEqual([]);
    held.open();
    await Bun.sleep(10);
    expect(late).toEqual([expect.objectContaining({ duplicate: false, message: expect.objectContaining({ seq: 1, session_id: "s1" }) })]);
  });

  test("beyond maxPending messages, append is refused at once", async () => {
    const db = fakeDatabase();
    const w = writerOn(db, { concurrency: 1, maxPending: 2 });
    const held = latch();
    db.gateWith(() => held.opened);
    const inFlight = w.append(message("s1"));
    await Bun.sleep(5);
    const queued = [w.append(message("s2")), w.append(message("s3"))];
    expect(await w.append(message("s4")).catch((e: unknown) => e)).toBeInstanceOf(UnavailableError);
    held.open();
    await Promise.all([inFlight, ...queued]);
  });

  test("one bad row does not fail the others: the batch is written again row by row", async () => {
    const db = fakeDatabase();
    const w = writerOn(db);
    db.gateWith(async (b) => {
      if (b.contents.includes("poison")) throw Object.assign(new Error("foreign key violation"), { code: "23503" });
    });
    const results = await Promise.allSettled([
      w.append(message("s1")),
      w.append(message("s1", { content: "poison" })),
      w.append(message("s2")),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(db.batches.map((b) => b.ids.length)).toEqual([3, 1, 1, 1]);
  });
});
