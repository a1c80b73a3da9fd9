/**
 * Fakes of what the notifier is written against: the outbox (notify/model.ts), the push sender and
 * Presence (chat/ports.ts). Each is typed against the real port, so a port that changes breaks its
 * fake at compile time; members the notifier never calls throw.
 */
import type { Presence, PresenceChange, PresenceState } from "../../src/chat/ports.ts";
import type { Attempt } from "../../src/notify/delivery-policy.ts";
import type { Delivery, DueEntry, NotificationEvent, Outbox, Unnotified } from "../../src/notify/model.ts";
import { WebPushSender } from "../../src/notify/web-push-sender.ts";

function notUsed(): never {
  throw new Error("not used by this test");
}

/**
 * The outbox in memory: queue rows and deliveries are handed out once each, as the outbox's leases
 * do, and what became of each delivery is recorded.
 */
export class FakeOutbox implements Outbox {
  /** Queue rows for claimDue. */
  readonly entries: DueEntry[] = [];
  /** Due deliveries for claimDeliveries. */
  readonly deliveries: Delivery[] = [];
  /** Ids of the deliveries sent, in order. */
  readonly sentIds: number[] = [];
  /** Ids of the deliveries handed back unsent and uncounted. */
  readonly postponedIds: number[] = [];
  /** The other ends of an attempt, in order: "retry 1", "dead 2", "dead 3 unsubscribed", "gone 4". */
  readonly outcomes: string[] = [];

  /** `decision`: the outbox's transaction on a queue row, for a test that has the notifier decide. */
  constructor(private readonly decision: Outbox["decide"] = async () => notUsed()) {}

  async claimDue(limit: number): Promise<DueEntry[]> {
    return this.entries.splice(0, limit);
  }

  decide(
    entry: DueEntry,
    compose: (unnotified: Unnotified) => NotificationEvent | null,
    options: { quietMs: number; webhook: boolean },
  ): Promise<NotificationEvent | null> {
    return this.decision(entry, compose, options);
  }

  async claimDeliveries(limit: number): Promise<Delivery[]> {
    return this.deliveries.splice(0, limit);
  }

  async sent(id: number): Promise<void> {
    this.sentIds.push(id);
  }

  async retryLater(id: number): Promise<void> {
    this.outcomes.push(`retry ${id}`);
  }

  async dead(id: number, _error: string, unsubscribe?: string): Promise<void> {
    this.outcomes.push(`dead ${id}${unsubscribe ? " unsubscribed" : ""}`);
  }

  async gone(delivery: Delivery): Promise<void> {
    this.outcomes.push(`gone ${delivery.id}`);
  }

  async postpone(id: number): Promise<void> {
    this.postponedIds.push(id);
  }

  async sweep(): Promise<void> {}
}

/** A push sender that answers what the test says; the real one's VAPID keys, POST and hosts are never used. */
export class FakePushSender extends WebPushSender {
  constructor(private readonly answer: (delivery: Delivery) => Promise<Attempt>) {
    super({ publicKey: "", privateKey: "", subject: "" }, notUsed, []);
  }

  override send(delivery: Delivery): Promise<Attempt> {
    return this.answer(delivery);
  }
}

/** Presence as the notifier reads it: `states` answers what the test says (by default nobody is online). */
export class FakePresence implements Presence {
  constructor(private readonly read: (sessionId: string) => Promise<Map<string, PresenceState>> = async () => new Map()) {}

  states(sessionId: string): Promise<Map<string, PresenceState>> {
    return this.read(sessionId);
  }

  arrive(): Promise<PresenceChange | null> {
    return notUsed();
  }

  depart(): Promise<PresenceChange | null> {
    return notUsed();
  }

  onChange(): void {
    notUsed();
  }

  localUsers(): void {
    notUsed();
  }

  drain(): void {
    notUsed();
  }

  close(): Promise<void> {
    return notUsed();
  }
}
