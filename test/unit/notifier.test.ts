/** The notification loop with small fakes of the outbox and the push sender. */
import { describe, expect, test } from "bun:test";
import { Notifier } from "../../src/notify/notifier.ts";
import type { Attempt } from "../../src/notify/delivery-policy.ts";
import type { WebPushSender } from "../../src/notify/web-push-sender.ts";
import type { Presence } from "../../src/chat/ports.ts";
import type { Delivery, Outbox as NotificationOutbox } from "../../src/notify/model.ts";
import { createLogger } from "../../src/observability/log.ts";
import { Metrics } from "../../src/observability/metrics.ts";

const delivery = (id: number): Delivery => ({
  id,
  eventId: crypto.randomUUID(),
  target: `https://push.example/${id}`,
  event: {} as Delivery["event"],
  attempts: 1,
  keys: { p256dh: "p", auth: "a" },
});

/** Due deliveries are handed out once each, as the outbox's leases do; `sent` records the finished ones. */
function fakeOutbox() {
  const due: Delivery[] = [];
  const sent: number[] = [];
  const outbox = {
    claimDue: async () => [],
    claimDeliveries: async (limit: number) => due.splice(0, limit),
    sent: async (id: number) => void sent.push(id),
    retryLater: async () => {},
    dead: async () => {},
    gone: async () => {},
    sweep: async () => {},
  };
  return { due, sent, outbox: outbox as unknown as NotificationOutbox };
}

describe("Notifier", () => {
  test("a push service that does not answer holds no other delivery; stop waits for the one in flight", async () => {
    const { due, sent, outbox } = fakeOutbox();
    let answerHung: (a: Attempt) => void = () => {};
    const push = {
      send: (d: Delivery) =>
        d.id === 1 ? new Promise<Attempt>((resolve) => (answerHung = resolve)) : Promise.resolve<Attempt>({ kind: "sent" }),
    } as unknown as WebPushSender;
    const notifier = new Notifier({ ...deps(outbox), push });
    due.push(delivery(1));
    notifier.start();
    await Bun.sleep(30); // delivery 1 is in flight and does not answer
    due.push(delivery(2), delivery(3));
    await Bun.sleep(50);
    expect(sent).toEqual([2, 3]);

    const stopped = notifier.stop();
    let done = false;
    void stopped.then(() => (done = true));
    await Bun.sleep(20);
    expect(done).toBe(false); // still waiting for delivery 1
    answerHung({ kind: "sent" });
    await stopped;
    expect(sent).toEqual([2, 3, 1]);
  });

  test("presence is read before the outbox's transaction, never inside it; a presence that fails decides nothing", async () => {
    const calls: string[] = [];
    let presenceFails = false;
    const entry = { userId: "u", sessionId: "s", lease: new Date() };
    let claimed = false;
    const outbox = {
      claimDue: async () => {
        if (claimed) return [];
        claimed = true;
        return [entry];
      },
      claimDeliveries: async () => [],
      sweep: async () => {},
      decide: async (_e: unknown, compose: (u: unknown) => unknown) => {
        calls.push("transaction");
        // compose runs inside the transaction: it must answer at once, with no I/O of its own.
        const event = compose({ count: 1, newestSeq: 1, first: { senderName: "A", content: "hi" } });
        expect(event).not.toBeInstanceOf(Promise);
        return event;
      },
    } as unknown as NotificationOutbox;
    const presence = {
      states: async () => {
        calls.push("presence");
        if (presenceFails) throw new Error("Command timed out");
        return new Map([["u", { online: false, version: 1 }]]);
      },
    } as unknown as Presence;
    const notifier = new Notifier({ ...deps(outbox), presence });
    await notifier.runOnce();
    expect(calls).toEqual(["presence", "transaction"]);
    presenceFails = true;
    claimed = false;
    calls.length = 0;
    await notifier.runOnce();
    expect(calls).toEqual(["presence"]); // no transaction: the row comes back after its lease
  });

  test("one recipient's endpoints that never answer hold at most 4 slots: another user's delivery goes at once", async () => {
    const due: Delivery[] = [];
    const sent: number[] = [];
    const postponed: number[] = [];
    const outbox = {
      claimDue: async () => [],
      claimDeliveries: async (limit: number) => due.splice(0, limit),
      sent: async (id: number) => void sent.push(id),
      postpone: async (id: number) => void postponed.push(id),
      sweep: async () => {},
    } as unknown as NotificationOutbox;
    const forUser = (id: number, userId: string): Delivery => ({ ...delivery(id), event: { user_id: userId } as Delivery["event"] });
    const push = {
      send: (d: Delivery) => (d.event.user_id === "greedy" ? new Promise<Attempt>(() => {}) : Promise.resolve<Attempt>({ kind: "sent" })),
    } as unknown as WebPushSender;
    const notifier = new Notifier({ ...deps(outbox), push });
    for (let i = 1; i <= 150; i++) due.push(forUser(i, "greedy"));
    due.push(forUser(151, "bystander"));
    await notifier.runOnce();
    await notifier.runOnce();
    await Bun.sleep(10);
    expect(sent).toEqual([151]);
    expect(postponed).toHaveLength(146); // handed back uncounted, for later
  });

  test("a sender that throws counts as a failed attempt; the last one dead-letters; a push endpoint that never answered is unsubscribed", async () => {
    const outcomes: string[] = [];
    const outbox = {
      retryLater: async (id: number) => void outcomes.push(`retry ${id}`),
      dead: async (id: number, _error: string, unsubscribe?: string) =>
        void outcomes.push(`dead ${id}${unsubscribe ? " unsubscribed" : ""}`),
    } as unknown as NotificationOutbox;
    const throwing = { send: async () => Promise.reject(new TypeError("invalid key")) } as unknown as WebPushSender;
    const silent = { send: async () => ({ kind: "retry", error: "timed out", unreachable: true }) } as unknown as WebPushSender;
    const run = (push: WebPushSender, d: Delivery) => (new Notifier({ ...deps(outbox), push }) as unknown as Deliverer).deliver(d);
    await run(throwing, { ...delivery(1), attempts: 1 });
    await run(throwing, { ...delivery(2), attempts: 3 });
    await run(silent, { ...delivery(3), attempts: 3 });
    expect(outcomes).toEqual(["retry 1", "dead 2", "dead 3 unsubscribed"]);
  });
});

type Deliverer = { deliver(d: Delivery): Promise<void> };

function deps(outbox: NotificationOutbox) {
  return {
    outbox,
    presence: {} as Presence,
    push: null,
    webhook: null,
    log: createLogger("silent"),
    metrics: new Metrics(),
    quietMs: 1000,
    maxAttempts: 3,
    pollMs: 5,
  };
}
