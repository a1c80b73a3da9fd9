/**
 * The notification loop, on every instance: decides on queue rows whose grace or quiet period is
 * over (is the recipient online in the session? what have they not read?) and sends the recorded
 * deliveries, retrying with backoff up to a bound, then dead-lettering. Instances share the work
 * through the outbox's leases; nothing here logs message content.
 */
import type { Presence } from "../chat/ports.ts";
import type { Logger } from "../observability/log.ts";
import type { Metrics } from "../observability/metrics.ts";
import { WEBHOOK_TARGET, type Delivery, type DueEntry, type Outbox, type Unnotified } from "./model.ts";
import { backoffMs, type Attempt } from "./delivery-policy.ts";
import { Counts } from "../lib/counts.ts";
import { composeEvent } from "./notification-text.ts";
import type { WebPushSender } from "./web-push-sender.ts";
import type { WebhookSender } from "./webhook-sender.ts";

export type NotifierDeps = {
  outbox: Outbox;
  presence: Presence;
  push: WebPushSender | null;
  webhook: WebhookSender | null;
  log: Logger;
  metrics: Metrics;
  quietMs: number;
  maxAttempts: number;
  /** How often the queue and the outbox are looked at. */
  pollMs: number;
};

const CLAIM = 100;
/** Deliveries in flight at once: each runs on its own, so one push service that is slow to answer holds no other. */
const MAX_IN_FLIGHT = 100;
/**
 * One recipient's share of those (three devices and the webhook): endpoints that never answer, all
 * registered by one user, hold at most this many; the rest wait for their turn, uncounted.
 */
const MAX_IN_FLIGHT_PER_USER = 4;
const POSTPONE_MS = 1000;
const SWEEP_EVERY_MS = 60_000;

export class Notifier {
  private timer: Timer | null = null;
  private pass: Promise<void> | null = null;
  private stopped = false;
  private lastSweep = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly inFlightByUser = new Counts();

  constructor(private readonly deps: NotifierDeps) {}

  start(): void {
    this.schedule();
  }

  /** Finishes the pass and the deliveries in progress; what is left is drained by any instance later. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.pass;
    await Promise.allSettled([...this.inFlight]);
  }

  /** One look at the queue and the outbox; the deliveries it starts run on after it (see MAX_IN_FLIGHT). */
  async runOnce(): Promise<void> {
    try {
      await this.decideDue();
      await this.deliverDue();
      if (Date.now() - this.lastSweep > SWEEP_EVERY_MS) {
        this.lastSweep = Date.now();
        await this.deps.outbox.sweep(this.deps.maxAttempts);
      }
    } catch (err) {
      this.deps.log.warn("notification pass failed; the next one resumes", { err });
    }
  }

  private schedule() {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.pass = this.runOnce().finally(() => {
        this.pass = null;
        this.schedule();
      });
    }, this.deps.pollMs);
  }

  private async decideDue() {
    for (;;) {
      const due = await this.deps.outbox.claimDue(CLAIM);
      for (const entry of due) await this.decide(entry);
      if (due.length < CLAIM || this.stopped) return;
    }
  }

  /**
   * Not while the recipient has a socket in the session, on any instance. Presence is read before the
   * outbox's transaction, never inside it: that transaction share-locks the session row that every
   * message write of the session needs, so a slow or stalled Redis there would stall the writes.
   * Presence that cannot be read (Redis down, or its command timeout) fails the decision: the row
   * comes back when its lease is over.
   */
  private async decide(entry: DueEntry) {
    const { outbox, presence, metrics, quietMs, webhook, log } = this.deps;
    try {
      const online = (await presence.states(entry.sessionId)).get(entry.userId)?.online === true;
      const compose = (unnotified: Unnotified) => (online ? null : composeEvent(unnotified, entry));
      const event = await outbox.decide(entry, compose, { quietMs, webhook: webhook !== null });
      metrics.notifications.inc({ result: event ? "queued" : "skipped" });
    } catch (err) {
      log.debug("notification decision failed; the row comes back after its lease", { err });
    }
  }

  /** Claims as many due deliveries as there is room for and starts them; the next pass claims more as they finish. */
  private async deliverDue() {
    for (;;) {
      const room = MAX_IN_FLIGHT - this.inFlight.size;
      if (room <= 0 || this.stopped) return;
      const batch = await this.deps.outbox.claimDeliveries(Math.min(room, CLAIM), this.deps.maxAttempts);
      for (const d of batch) this.launch(d);
      if (batch.length < Math.min(room, CLAIM)) return;
    }
  }

  private launch(d: Delivery) {
    const userId = d.event.user_id;
    if (this.inFlightByUser.get(userId) >= MAX_IN_FLIGHT_PER_USER) {
      this.deps.outbox.postpone(d.id, POSTPONE_MS).catch(() => {}); // else its lease brings it back
      return;
    }
    this.inFlightByUser.increment(userId);
    const running: Promise<void> = this.deliver(d)
      .catch((err) => this.deps.log.warn("notification delivery failed; its lease brings it back", { err, event_id: d.eventId }))
      .finally(() => {
        this.inFlight.delete(running);
        this.inFlightByUser.decrement(userId);
      });
    this.inFlight.add(running);
  }

  /** A sender that throws (a key the encryption refuses, a bug) counts as a failed attempt, bounded like any. */
  private async attempt(d: Delivery, target: "webhook" | "push"): Promise<Attempt> {
    const sender = target === "webhook" ? this.deps.webhook : this.deps.push;
    if (!sender) return { kind: "fail", error: `${target} is not configured` };
    try {
      return await sender.send(d);
    } catch (err) {
      return { kind: "retry", error: `the ${target} sender failed (${(err as Error)?.name ?? "error"})` };
    }
  }

  private async deliver(d: Delivery) {
    const { outbox, metrics, log, maxAttempts } = this.deps;
    const target = d.target === WEBHOOK_TARGET ? "webhook" : "push";
    const result = await this.attempt(d, target);
    const fields = { event_id: d.eventId, target, attempt: d.attempts };
    if (result.kind === "sent") {
      await outbox.sent(d.id);
      metrics.notificationDeliveries.inc({ target, result: "sent" });
      log.debug("notification sent", fields);
    } else if (result.kind === "gone") {
      await outbox.gone(d);
      metrics.notificationDeliveries.inc({ target, result: "gone" });
      log.info("push subscription gone: deleted", { ...fields, error: result.error });
    } else if (result.kind === "retry" && d.attempts < maxAttempts) {
      await outbox.retryLater(d.id, backoffMs(d.attempts, result.retryAfterMs), result.error);
      metrics.notificationDeliveries.inc({ target, result: "retried" });
      log.debug("notification delivery failed; retrying", { ...fields, error: result.error });
    } else {
      // A push endpoint that never answered, attempt after attempt, is removed: it would hold a slot each time.
      const unanswered = target === "push" && result.kind === "retry" && result.unreachable === true;
      await outbox.dead(d.id, result.error, unanswered ? d.target : undefined);
      metrics.notificationDeliveries.inc({ target, result: "failed" });
      log.warn("notification delivery failed for good (dead letter)", { ...fields, error: result.error, unsubscribed: unanswered });
    }
  }
}
