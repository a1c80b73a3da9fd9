/**
 * Group commit: messages that arrive while a write is in flight go into the next single statement.
 * At low load a message is written at once (no timer). Each batch is one transaction that assigns
 * the per-session seq, bumps `sessions.last_seq` and `last_message_at`, and inserts the rows.
 *
 * Every message has a deadline. A caller still waiting at its deadline gets UnavailableError; if its
 * message was still queued it is dropped (never written), and if its batch was already sent and
 * commits later anyway, `onLateCommit` hands the stored message over so it is still delivered.
 */
import type { Sql } from "postgres";
import { SessionGoneError, type Appended, type NewMessage } from "../chat/ports.ts";
import type { MessageView } from "../protocol/frames.ts";
import { isTransient, UnavailableError } from "./errors.ts";
import { writeBatch, type BatchRow, type NotifyQueueing, type StoredRow } from "./batch-statement.ts";

type Pending = {
  msg: NewMessage;
  resolve: (a: Appended) => void;
  reject: (e: unknown) => void;
  deadline: number;
  /** The caller was answered (timed out): a late result is handed to onLateCommit instead. */
  abandoned: boolean;
};

const DEADLOCK = "40P01";

export type WriterOptions = {
  maxBatch: number;
  /** Batches in flight at once, on different sessions: PostgreSQL can use more than one core. */
  concurrency: number;
  /**
   * A batch starts beside one already in flight only when at least this many messages wait. A
   * statement costs a fixed ~2.5 ms (commit, planning) plus ~100 µs per session and ~50 µs per row
   * here: many small statements in parallel would spend the database on fixed costs, while one at a
   * time lets the next batch grow with the load. Default 1 (any backlog).
   */
  secondBatchMin?: number;
  /** A message not committed within this time fails with UnavailableError. */
  timeoutMs: number;
  /** Messages waiting beyond this are refused at once: memory stays bounded while the database is slow. */
  maxPending: number;
  onBatch?: (rows: number) => void;
  /** Offline notifications on: each batch queues its recipients (notify/notifier.ts decides later). */
  notify?: NotifyQueueing;
  /** A message whose caller had timed out was committed after all. */
  onLateCommit?: (appended: Appended) => void;
};

type Batch = { items: Pending[]; sessions: Set<string>; done: boolean; startedAt: number };

/** A statement in flight longer than this no longer holds a second one back (a slow or stuck connection). */
const SLOW_BATCH_MS = 100;
/**
 * Under load (the last statement carried at least LINGER_AFTER_ROWS rows), the next one waits up to
 * LINGER_MS for more rows: fewer, fuller statements spend less of the database on fixed costs. At low
 * load statements start at once.
 */
const LINGER_AFTER_ROWS = 64;
const LINGER_MS = 2;
/**
 * A queued message this close to its deadline is refused instead of written: its caller would hear
 * `unavailable` while its statement runs, and it would commit late (the client retries it anyway).
 */
const NEARLY_EXPIRED_MS = 10;

export class MessageWriter {
  private queue: Pending[] = [];
  private readonly inFlight = new Set<Batch>();
  /** Sessions with a batch in flight: a session is in at most one batch at a time, so its order holds. */
  private readonly busy = new Set<string>();
  private scheduled = false;
  private lastBatchRows = 0;
  private lingering: Timer | null = null;
  private readonly deadlineTimer: Timer;

  constructor(
    private readonly sql: Sql,
    private readonly options: WriterOptions,
  ) {
    this.deadlineTimer = setInterval(() => this.expire(), Math.max(20, Math.min(250, options.timeoutMs / 4)));
  }

  get pending(): number {
    return this.queue.length;
  }

  append(msg: NewMessage): Promise<Appended> {
    if (this.queue.length >= this.options.maxPending)
      return Promise.reject(new UnavailableError("too many messages waiting for the database"));
    return new Promise((resolve, reject) => {
      this.queue.push({ msg, resolve, reject, deadline: performance.now() + this.options.timeoutMs, abandoned: false });
      this.schedule();
    });
  }

  /** Resolves when everything queued so far is written or failed (graceful shutdown). */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.inFlight.size > 0) await Bun.sleep(5);
  }

  stop(): void {
    clearInterval(this.deadlineTimer);
  }

  /** Answers the callers whose deadline passed; queued ones are dropped, in-flight ones may commit late. */
  private expire() {
    const now = performance.now();
    const timedOut = () => new UnavailableError("database write timed out");
    for (const batch of this.inFlight) {
      for (const p of batch.items) {
        if (p.abandoned || p.deadline > now) continue;
        p.abandoned = true;
        p.reject(timedOut());
      }
      // Nobody waits for the batch any more: stop waiting for it (a connection that went silent may
      // hold it for minutes; postgres.js' cancel() would wedge a reconnecting connection). If it
      // commits anyway, onLateCommit delivers it; seqs follow commit order, so batches written
      // meanwhile keep their order too.
      if (batch.items.every((p) => p.abandoned)) this.finish(batch);
    }
    let expired = 0;
    while (expired < this.queue.length && this.queue[expired]!.deadline <= now) this.queue[expired++]!.reject(timedOut());
    if (expired > 0) this.queue.splice(0, expired);
    this.schedule(); // a batch in flight may have become slow: the rest need not wait for it
  }

  private mayStartBatch(): boolean {
    if (this.queue.length === 0 || this.inFlight.size >= this.options.concurrency) return false;
    if (this.inFlight.size === 0 || this.queue.length >= (this.options.secondBatchMin ?? 1)) return true;
    const now = performance.now();
    for (const batch of this.inFlight) if (now - batch.startedAt > SLOW_BATCH_MS) return true;
    return false;
  }

  private schedule() {
    if (this.scheduled || this.lingering || !this.mayStartBatch()) return;
    if (this.lastBatchRows >= LINGER_AFTER_ROWS && this.queue.length < this.options.maxBatch) {
      this.lingering = setTimeout(() => {
        this.lingering = null;
        this.lastBatchRows = 0;
        this.schedule();
      }, LINGER_MS);
      return;
    }
    this.scheduled = true;
    // setImmediate, not a timer: frames that arrived in the same event-loop turn share a batch.
    setImmediate(() => {
      this.scheduled = false;
      while (this.mayStartBatch()) {
        const batch = this.takeBatch(this.sessionCap());
        if (!batch) break;
        this.lastBatchRows = batch.items.length;
        void this.run(batch);
      }
    });
  }

  private async run(batch: Batch) {
    this.inFlight.add(batch);
    for (const s of batch.sessions) this.busy.add(s);
    try {
      await this.writeWithFallback(batch.items);
    } finally {
      this.finish(batch);
    }
  }

  private finish(batch: Batch) {
    if (batch.done) return;
    batch.done = true;
    this.inFlight.delete(batch);
    for (const s of batch.sessions) this.busy.delete(s);
    this.schedule();
  }

  /**
   * With nothing in flight and a backlog that fills two statements well, the first takes half of the
   * waiting sessions, so that the second (on the other half) runs beside it instead of waiting for
   * sessions the first took: with few busy sessions, one greedy batch would hold them all.
   */
  private sessionCap(): number {
    const { concurrency, secondBatchMin = 1 } = this.options;
    const backlog = 2 * Math.max(secondBatchMin, LINGER_AFTER_ROWS);
    if (concurrency < 2 || this.inFlight.size > 0 || this.queue.length < backlog) return Number.POSITIVE_INFINITY;
    const waiting = new Set<string>();
    for (const p of this.queue) waiting.add(p.msg.sessionId);
    return Math.max(1, Math.ceil(waiting.size / 2));
  }

  /**
   * The oldest messages of sessions not already being written, in order, from at most `sessionCap`
   * sessions. A retried client_id twice in one batch would defeat the duplicate check: the second
   * waits, with the rest of its session.
   */
  private takeBatch(sessionCap: number): Batch | null {
    const items: Pending[] = [];
    const sessions = new Set<string>();
    const blocked = new Set<string>();
    const keys = new Set<string>();
    const rest: Pending[] = [];
    const now = performance.now();
    for (const p of this.queue) {
      if (p.deadline - now < NEARLY_EXPIRED_MS) {
        p.reject(new UnavailableError("database write timed out"));
        continue;
      }
      const session = p.msg.sessionId;
      const key = p.msg.clientId ? `${session}/${p.msg.senderId}/${p.msg.clientId}` : null;
      const full = items.length >= this.options.maxBatch || (!sessions.has(session) && sessions.size >= sessionCap);
      if (full || this.busy.has(session) || blocked.has(session) || (key && keys.has(key))) {
        blocked.add(session);
        rest.push(p);
        continue;
      }
      if (key) keys.add(key);
      sessions.add(session);
      items.push(p);
    }
    this.queue = rest;
    return items.length > 0 ? { items, sessions, done: false, startedAt: performance.now() } : null;
  }

  private async writeWithFallback(batch: Pending[]) {
    try {
      this.settle(batch, await this.writeRetryingDeadlocks(batch));
    } catch (err) {
      if (isTransient(err) || batch.length === 1) {
        const failure = isTransient(err) ? new UnavailableError("database unavailable", err) : err;
        for (const p of batch) if (!p.abandoned) p.reject(failure);
        return;
      }
      // One bad row (e.g. a user deleted meanwhile) must not fail the others: write them one by one.
      for (const p of batch) await this.writeWithFallback([p]);
    }
  }

  private async writeRetryingDeadlocks(batch: Pending[]): Promise<BatchRow[]> {
    this.options.onBatch?.(batch.length);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.write(batch);
      } catch (err) {
        if ((err as { code?: string }).code !== DEADLOCK || attempt >= 3) throw err;
      }
    }
  }

  private settle(batch: Pending[], rows: BatchRow[]) {
    const byInput = new Map<string, StoredRow>();
    const participants = new Map<string, readonly [string, string]>();
    let now = "";
    for (const r of rows) {
      if (r.input_id === null) {
        participants.set(r.id, [r.inviter_id, r.invitee_id]);
        now = r.created_at;
      } else byInput.set(r.input_id, r);
    }
    for (const p of batch) {
      const row = byInput.get(p.msg.id);
      const stored = row && toAppended(p, row, participants.get(p.msg.sessionId), now);
      if (!stored) {
        if (!p.abandoned) p.reject(new SessionGoneError(p.msg.sessionId));
      } else if (p.abandoned) {
        if (!stored.duplicate) this.options.onLateCommit?.(stored);
      } else {
        p.resolve(stored);
      }
    }
  }

  private write(batch: Pending[]): Promise<BatchRow[]> {
    return writeBatch(
      this.sql,
      batch.map((p) => p.msg),
      this.options.notify,
    );
  }
}

/** A new row's content is its input's and its time the statement's (`now`); a duplicate's are the stored ones. */
function toAppended(p: Pending, row: StoredRow, participants: readonly [string, string] | undefined, now: string): Appended {
  const message: MessageView = {
    message_id: row.id,
    session_id: p.msg.sessionId,
    seq: row.seq,
    content: row.content ?? p.msg.content,
    sender_id: p.msg.senderId,
    sender_name: p.msg.senderName,
    created_at: row.created_at ?? now,
  };
  if (p.msg.clientId) message.client_id = p.msg.clientId;
  if (p.msg.replyTo) message.reply_to = p.msg.replyTo;
  if (p.msg.system) message.kind = "system";
  return participants && !row.duplicate ? { message, duplicate: false, participants } : { message, duplicate: row.duplicate };
}
