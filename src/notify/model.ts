/**
 * Offline notifications' own model: what a notification says, the queue rows the notifier decides on,
 * the deliveries it sends, and the two ports it is written against, declared here where they are
 * used: the outbox (the notifier's) and the push subscriptions (the HTTP API's). `store/` implements
 * both on PostgreSQL.
 */

export type PushSubscription = { endpoint: string; p256dh: string; auth: string };

/** What a notification says; the webhook's body and (without user_id) the push payload. */
export type NotificationEvent = {
  id: string;
  type: "message";
  user_id: string;
  session_id: string;
  /** The newest message it covers. */
  seq: number;
  title: string;
  body: string;
  /** Messages it covers. */
  count: number;
  created_at: string;
};

/**
 * A report a participant filed (the webhook only): what a moderator needs at once, the reported
 * message's content as it was when reported included (the chat itself keeps no copy of it).
 */
export type ReportEvent = {
  id: string;
  type: "report";
  /** The reporter. */
  user_id: string;
  report_id: number;
  session_id: string;
  /** The reported message; 0 when the whole session is reported. */
  seq: number;
  reported_user_id: string;
  reason: string;
  note: string | null;
  content: string | null;
  created_at: string;
};

/** What the outbox delivers. */
export type OutboxEvent = NotificationEvent | ReportEvent;

export type DueEntry = { userId: string; sessionId: string; lease: Date };

/** The recipient's unread messages of the session not yet covered by a notification, oldest first. */
export type Unnotified = { count: number; newestSeq: number; first: { senderName: string; content: string } | null };

export type Delivery = {
  id: number;
  eventId: string;
  /** "webhook", or a push subscription's endpoint. */
  target: string;
  event: OutboxEvent;
  /** Attempts so far, this one included. */
  attempts: number;
  /** The push subscription's keys; null when it was removed meanwhile (or for the webhook). */
  keys: { p256dh: string; auth: string } | null;
};

export const WEBHOOK_TARGET = "webhook";

/** Subscribing: what happened (a stored endpoint moves only with its own `auth` secret). */
export type SubscribeOutcome = "created" | "updated" | "taken" | "no_user";

/** Where the browsers' push subscriptions are kept (the HTTP API's port). */
export interface PushSubscriptions {
  subscribe(userId: string, subscription: PushSubscription): Promise<SubscribeOutcome>;
  /** Only the user's own subscription; false when there was none. */
  unsubscribe(userId: string, endpoint: string): Promise<boolean>;
}

/** The notification queue and the outbox of deliveries (the notifier's port). Rows are leased: any instance may drain. */
export interface Outbox {
  /** Queue rows whose time has come, leased to this instance. */
  claimDue(limit: number): Promise<DueEntry[]>;
  /**
   * Decides on a claimed row in one transaction: `compose` (synchronous: no I/O while the session row
   * is locked) turns what is unread and not yet notified into the event to send, or null.
   */
  decide(
    entry: DueEntry,
    compose: (unnotified: Unnotified) => NotificationEvent | null,
    options: { quietMs: number; webhook: boolean },
  ): Promise<NotificationEvent | null>;
  /** Due deliveries with attempts left, leased to this instance; the attempt is counted now. */
  claimDeliveries(limit: number, maxAttempts: number): Promise<Delivery[]>;
  sent(id: number): Promise<void>;
  retryLater(id: number, delayMs: number, error: string): Promise<void>;
  /** Dead-lettered; with `unsubscribe`, that push subscription is removed too. */
  dead(id: number, error: string, unsubscribe?: string): Promise<void>;
  /** The subscription is gone: the delivery is closed and the subscription deleted. */
  gone(delivery: Delivery): Promise<void>;
  /** Handed back unsent and uncounted. */
  postpone(id: number, delayMs: number): Promise<void>;
  sweep(maxAttempts: number): Promise<void>;
}
