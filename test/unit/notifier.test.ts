/** The notification loop with small fakes of the outbox and the push sender. */
import { describe, expect, test } from "bun:test";
import { Notifier } from "../../src/notify/notifier.ts";
import type { Attempt } from "../../src/notify/delivery-policy.ts";
import type { WebPushSender } from "../../src/notify/web-push-sender.ts";
import type { Delivery } from "../../src/notify/model.ts";
import { createLogger } from "../../src/observability/log.ts";
import { Metrics } from "../../src/observability/metrics.ts";
import { FakeOutbox, FakePresence, FakePushSender } from "../support/fake-notify.ts";

const delivery = (id: number): Delivery => ({
  id,
  eventId: crypto.randomUUID(),
  target: `https://push.example/${id}`,
  event: {} as Delivery["event"],
  attempts: 1,
  keys: { p256dh: "p", auth: "a" },
});

describe("Notifier", () => {
  test("a push service that does not answer holds no other delivery; stop waits for the one in flight", async () => {
    const outbox = new FakeOutbox();
    const { deliveries: due, sentIds: sent } = outbox;
    let answerHung: (a: Attempt) => void = () => {};
    const push = new FakePushSender((d) =>
      d.id === 1 ? new Promise<Attempt>((resolve) => (answerHung = resolve)) : Promise.resolve<Attempt>({ kind: "sent" }),
    );
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
    const outbox = new FakeOutbox(async (_e, compose) => {
      calls.push("transaction");
      // compose runs inside the transaction: it must answer at once, with no I/O of its own.
      const event = compose({ count: 1, newestSeq: 1, first: { senderName: "A", content: "hi" } });
      expect(event).not.toBeInstanceOf(Promise);
      return event;
    });
    outbox.entries.push(entry);
    const presence = new FakePresence(async () => {
      calls.push("presence");
      if (presenceFails) throw new Error("Command timed out");
      return new Map([["u", { online: false, version: 1 }]]);
    });
    const notifier = new Notifier({ ...deps(outbox), presence });
    await notifier.runOnce();
    expect(calls).toEqual(["presence", "transaction"]);
    presenceFails = true;
    outbox.entries.push(entry); // claimed again
    calls.length = 0;
    await notifier.runOnce();
    expect(calls).toEqual(["presence"]); // no transaction: the row comes back after its lease
  });

  test("one recipient's endpoints that never answer hold at most 4 slots: another user's delivery goes at once", async () => {
    const outbox = new FakeOutbox();
    const { deliveries: due, sentIds: sent, postponedIds: postponed } = outbox;
    const forUser = (id: number, userId: string): Delivery => ({ ...delivery(id), event: { user_id: userId } as Delivery["event"] });
    const push = new FakePushSender((d) =>
      d.event.user_id === "greedy" ? new Promise<Attempt>(() => {}) : Promise.resolve<Attempt>({ kind: "sent" }),
    );
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
    const outbox = new FakeOutbox();
    const { outcomes } = outbox;
    const throwing = new FakePushSender(async () => Promise.reject(new TypeError("invalid key")));
    const silent = new FakePushSender(async () => ({ kind: "retry", error: "timed out", unreachable: true }));
    /** One delivery through the notifier's pass; stop waits for it to finish. */
    const run = async (push: WebPushSender, d: Delivery) => {
      const notifier = new Notifier({ ...deps(outbox), push });
      outbox.deliveries.push(d);
      await notifier.runOnce();
      await notifier.stop();
    };
    await run(throwing, { ...delivery(1), attempts: 1 });
    await run(throwing, { ...delivery(2), attempts: 3 });
    await run(silent, { ...delivery(3), attempts: 3 });
    expect(outcomes).toEqual(["retry 1", "dead 2", "dead 3 unsubscribed"]);
  });
});

function deps(outbox: FakeOutbox) {
  return {
    outbox,
    presence: new FakePresence(),
    push: null,
    webhook: null,
    log: createLogger("silent"),
    metrics: new Metrics(),
    quietMs: 1000,
    maxAttempts: 3,
    pollMs: 5,
  };
}
