/**
 * Offline notifications in PostgreSQL: push subscriptions, the queue the message batch feeds (one
 * row per recipient and session, see MessageWriter's notify option) and the outbox of deliveries.
 *
 * Exactly-once up to the receiver: a queue row is turned into an event and its deliveries in one
 * transaction; a delivery is marked sent after the push service or webhook answered. A crash between
 * the two sends that delivery again, with the same event id (receivers de-duplicate by it; Web Push
 * also collapses by topic). Any instance drains; rows are claimed with SKIP LOCKED and a lease.
 */
import type { PendingQuery, Sql, TransactionSql } from "postgres";
import {
  WEBHOOK_TARGET,
  type Delivery,
  type DueEntry,
  type NotificationEvent,
  type Outbox,
  type PushSubscription,
  type PushSubscriptions,
  type SubscribeOutcome,
  type Unnotified,
} from "../notify/model.ts";

/** Browsers and devices of one user that get pushes; registering another drops the oldest. */
export const MAX_SUBSCRIPTIONS_PER_USER = 10;

/** While an instance decides on a queue row or sends a delivery, others leave it alone this long. */
const LEASE = "30 seconds";
/** The longest a decision waits for a row lock (a message batch of the session) before giving up until the next pass. */
const DECIDE_LOCK_TIMEOUT_MS = 1000;
const FOREIGN_KEY_VIOLATION = "23503";
/** A delivery still pending after this long is dead-lettered as expired: push services keep a notification 12 h. */
const EXPIRE_PENDING = "12 hours";

export class NotificationOutbox implements Outbox, PushSubscriptions {
  constructor(
    private readonly sql: Sql,
    private readonly bounded: <T extends readonly (object | undefined)[]>(query: PendingQuery<T>) => Promise<T>,
  ) {}

  /**
   * Idempotent by endpoint. An endpoint already registered is updated (or moved to this user) only
   * with the same `auth` secret, which only the browser that subscribed knows: "taken" otherwise.
   * A user keeps their newest MAX_SUBSCRIPTIONS_PER_USER: older ones are dropped.
   */
  async subscribe(userId: string, s: PushSubscription): Promise<SubscribeOutcome> {
    try {
      const [row] = await this.bounded(this.sql<{ created: boolean }[]>`
        WITH saved AS (
          INSERT INTO chat_push_subscriptions (endpoint, user_id, p256dh, auth)
          VALUES (${s.endpoint}, ${userId}, ${s.p256dh}, ${s.auth})
          ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, p256dh = excluded.p256dh, created_at = now()
            WHERE chat_push_subscriptions.auth = excluded.auth
          RETURNING (xmax = 0) AS created
        ),
        dropped AS (
          DELETE FROM chat_push_subscriptions WHERE EXISTS (SELECT 1 FROM saved)
            AND user_id = ${userId} AND endpoint <> ${s.endpoint} AND endpoint NOT IN (
            SELECT endpoint FROM chat_push_subscriptions WHERE user_id = ${userId} AND endpoint <> ${s.endpoint}
            ORDER BY created_at DESC LIMIT ${MAX_SUBSCRIPTIONS_PER_USER - 1})
        )
        SELECT created FROM saved`);
      return row ? (row.created ? "created" : "updated") : "taken";
    } catch (err) {
      if ((err as { code?: string }).code === FOREIGN_KEY_VIOLATION) return "no_user";
      throw err;
    }
  }

  /** Only the user's own subscription; false when there was none. */
  async unsubscribe(userId: string, endpoint: string): Promise<boolean> {
    const rows = await this.bounded(
      this.sql`DELETE FROM chat_push_subscriptions WHERE endpoint = ${endpoint} AND user_id = ${userId} RETURNING 1 AS gone`,
    );
    return rows.length > 0;
  }

  /** Queue rows whose time has come, leased to this instance. */
  async claimDue(limit: number): Promise<DueEntry[]> {
    const rows = await this.bounded(this.sql<{ user_id: string; session_id: string; due_at: Date }[]>`
      UPDATE chat_notify_queue q SET due_at = date_trunc('milliseconds', now() + ${LEASE}::interval) -- the lease, exact as a JS Date
      FROM (SELECT user_id, session_id FROM chat_notify_queue WHERE due_at <= now() ORDER BY due_at LIMIT ${limit} FOR UPDATE SKIP LOCKED) due
      WHERE q.user_id = due.user_id AND q.session_id = due.session_id
      RETURNING q.user_id, q.session_id, q.due_at`);
    return rows.map((r) => ({ userId: r.user_id, sessionId: r.session_id, lease: r.due_at }));
  }

  /**
   * Decides on a claimed row in one transaction. `compose` gets what the recipient has not read nor
   * been notified of, and returns the event to send (null: nothing to send, e.g. they are online). It
   * runs while the session's row is share-locked, so no message of the session commits between what
   * it is shown and its answer; it must not wait on the network (the message writes of the session
   * wait for this lock), so whatever it needs from Redis is read before. With an event, its
   * deliveries are recorded and the row waits for the quiet period; without, the row is removed (the
   * session's next message queues a new one).
   */
  decide(
    entry: DueEntry,
    compose: (unnotified: Unnotified) => NotificationEvent | null,
    { quietMs, webhook }: { quietMs: number; webhook: boolean },
  ): Promise<NotificationEvent | null> {
    return this.sql.begin(async (tx) => {
      // A message batch holding the session row is never waited for long: the row comes back later.
      await tx`SELECT set_config('lock_timeout', ${`${DECIDE_LOCK_TIMEOUT_MS}ms`}, true)`;
      // Still ours (the lease did not pass to another instance), and no message of the session is
      // being committed: the batch holds the session row until its commit.
      const [mine] = await tx<{ notified_seq: number }[]>`
        SELECT q.notified_seq FROM chat_notify_queue q
        WHERE q.user_id = ${entry.userId} AND q.session_id = ${entry.sessionId} AND q.due_at = ${entry.lease}
        FOR UPDATE`;
      if (!mine) return null;
      await tx`SELECT 1 FROM sessions WHERE id = ${entry.sessionId} FOR SHARE`;
      const unnotified = await this.unnotified(tx, entry, mine.notified_seq);
      const event = unnotified.count > 0 ? compose(unnotified) : null;
      const targets = event ? await this.targets(tx, entry.userId, webhook) : [];
      if (!event || targets.length === 0) {
        await tx`DELETE FROM chat_notify_queue WHERE user_id = ${entry.userId} AND session_id = ${entry.sessionId}`;
        return null;
      }
      await tx`
        INSERT INTO chat_notification_deliveries (event_id, target, event)
        SELECT ${event.id}, t, ${tx.json(event)} FROM unnest(${targets}::text[]) AS t`;
      await tx`
        UPDATE chat_notify_queue SET notified_seq = ${event.seq}, due_at = now() + ${quietMs} * interval '1 millisecond'
        WHERE user_id = ${entry.userId} AND session_id = ${entry.sessionId}`;
      return event;
    });
  }

  /**
   * Deliveries whose time has come and that have attempts left, leased to this instance (the attempt
   * is counted now: a crash mid-send counts). A push subscription's keys come only while it still
   * belongs to the event's recipient.
   */
  async claimDeliveries(limit: number, maxAttempts: number): Promise<Delivery[]> {
    const rows = await this.bounded(
      this.sql<
        {
          id: number;
          event_id: string;
          target: string;
          event: NotificationEvent;
          attempts: number;
          p256dh: string | null;
          auth: string | null;
        }[]
      >`
      UPDATE chat_notification_deliveries d SET attempts = d.attempts + 1, next_attempt_at = now() + ${LEASE}::interval
      FROM (SELECT id FROM chat_notification_deliveries
            WHERE state = 'pending' AND next_attempt_at <= now() AND attempts < ${maxAttempts}
            ORDER BY next_attempt_at LIMIT ${limit} FOR UPDATE SKIP LOCKED) due
      WHERE d.id = due.id
      RETURNING d.id, d.event_id, d.target, d.event, d.attempts,
        (SELECT p.p256dh FROM chat_push_subscriptions p WHERE p.endpoint = d.target AND p.user_id::text = d.event ->> 'user_id') AS p256dh,
        (SELECT p.auth FROM chat_push_subscriptions p WHERE p.endpoint = d.target AND p.user_id::text = d.event ->> 'user_id') AS auth`,
    );
    return rows.map((r) => ({
      id: r.id,
      eventId: r.event_id,
      target: r.target,
      event: r.event,
      attempts: r.attempts,
      keys: r.p256dh && r.auth ? { p256dh: r.p256dh, auth: r.auth } : null,
    }));
  }

  /** Deliveries waiting (or being retried) and dead letters, for the metrics. */
  async depth(): Promise<{ pending: number; dead: number }> {
    const [row] = await this.bounded(this.sql<{ pending: number; dead: number }[]>`
      SELECT count(*) FILTER (WHERE state <> 'dead')::int AS pending, count(*) FILTER (WHERE state = 'dead')::int AS dead
      FROM chat_notification_deliveries WHERE state IN ('pending', 'dead')`);
    return row!;
  }

  async sent(id: number): Promise<void> {
    await this.bounded(
      this.sql`UPDATE chat_notification_deliveries SET state = 'sent', done_at = now(), last_error = NULL WHERE id = ${id}`,
    );
  }

  async retryLater(id: number, delayMs: number, error: string): Promise<void> {
    await this.bounded(this.sql`
      UPDATE chat_notification_deliveries SET next_attempt_at = now() + ${delayMs} * interval '1 millisecond', last_error = ${error}
      WHERE id = ${id}`);
  }

  /**
   * The dead-letter state: kept for operators (`state = 'dead'`, with the last error). With
   * `unsubscribe`, the push subscription is removed too (its endpoint never answered).
   */
  async dead(id: number, error: string, unsubscribe?: string): Promise<void> {
    await this.sql.begin(async (tx) => {
      await tx`UPDATE chat_notification_deliveries SET state = 'dead', done_at = now(), last_error = ${error} WHERE id = ${id}`;
      if (unsubscribe) await tx`DELETE FROM chat_push_subscriptions WHERE endpoint = ${unsubscribe}`;
    });
  }

  /** The push service says the subscription is gone (404/410), or it was removed: it is deleted, never tried again. */
  async gone(delivery: Delivery): Promise<void> {
    await this.sql.begin(async (tx) => {
      await tx`UPDATE chat_notification_deliveries SET state = 'gone', done_at = now() WHERE id = ${delivery.id}`;
      await tx`DELETE FROM chat_push_subscriptions WHERE endpoint = ${delivery.target}`;
    });
  }

  /**
   * Dead-letters what can no longer be sent (no attempt left: an instance died in the middle of its
   * last one; or pending longer than a push service would keep it), forgets finished deliveries
   * after a day and dead letters after a week.
   */
  async sweep(maxAttempts: number): Promise<void> {
    await this.bounded(this.sql`
      UPDATE chat_notification_deliveries
      SET state = 'dead', done_at = now(),
          last_error = CASE WHEN attempts >= ${maxAttempts} THEN coalesce(last_error, 'no attempt left') ELSE 'expired' END
      WHERE state = 'pending' AND next_attempt_at <= now()
        AND (attempts >= ${maxAttempts} OR created_at < now() - ${EXPIRE_PENDING}::interval)`);
    await this.bounded(this.sql`
      DELETE FROM chat_notification_deliveries
      WHERE (state IN ('sent', 'gone') AND done_at < now() - interval '1 day') OR (state = 'dead' AND done_at < now() - interval '7 days')`);
  }

  /** Handed back unsent and uncounted: its recipient already has their share of deliveries in flight. */
  async postpone(id: number, delayMs: number): Promise<void> {
    await this.bounded(this.sql`
      UPDATE chat_notification_deliveries SET attempts = attempts - 1, next_attempt_at = now() + ${delayMs} * interval '1 millisecond'
      WHERE id = ${id}`);
  }

  /** Deliveries waiting, for the gauge. */
  async pendingCount(): Promise<number> {
    const [row] = await this.bounded(
      this.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM chat_notification_deliveries WHERE state = 'pending'`,
    );
    return row!.n;
  }

  private async unnotified(tx: TransactionSql, entry: DueEntry, notifiedSeq: number): Promise<Unnotified> {
    const [row] = await tx<{ count: number; newest_seq: number | null; sender_name: string | null; content: string | null }[]>`
      WITH mine AS (
        SELECT m.seq, m.sender_id, m.content FROM messages m
        WHERE m.session_id = ${entry.sessionId} AND m.sender_id <> ${entry.userId}
          -- A message deleted before the decision is not notified (an edited one is, as it is now).
          AND NOT EXISTS (SELECT 1 FROM chat_message_changes c WHERE c.message_id = m.id AND c.deleted_at IS NOT NULL)
          -- Nothing from someone the recipient blocked, not even what they sent just before the block.
          AND NOT EXISTS (SELECT 1 FROM chat_blocks k WHERE k.blocker_id = ${entry.userId} AND k.blocked_id = m.sender_id)
          AND m.seq > greatest(${notifiedSeq}::bigint, coalesce((SELECT r.last_read_seq FROM session_reads r
                                                              WHERE r.session_id = ${entry.sessionId} AND r.user_id = ${entry.userId}), 0))
      ),
      first AS (SELECT * FROM mine ORDER BY seq LIMIT 1)
      SELECT (SELECT count(*) FROM mine)::int AS count, (SELECT max(seq) FROM mine) AS newest_seq,
             u.display_name AS sender_name, left(f.content, 200) AS content
      FROM (VALUES (1)) AS one LEFT JOIN first f ON true LEFT JOIN users u ON u.id = f.sender_id`;
    return {
      count: row!.count,
      newestSeq: row!.newest_seq ?? notifiedSeq,
      first: row!.sender_name !== null ? { senderName: row!.sender_name, content: row!.content! } : null,
    };
  }

  private async targets(tx: TransactionSql, userId: string, webhook: boolean): Promise<string[]> {
    const rows = await tx<{ endpoint: string }[]>`SELECT endpoint FROM chat_push_subscriptions WHERE user_id = ${userId} ORDER BY endpoint`;
    return [...rows.map((r) => r.endpoint), ...(webhook ? [WEBHOOK_TARGET] : [])];
  }
}
