/**
 * Web Push as an attacker would use it: keys that are not on the curve, endpoints on other ports,
 * someone else's endpoint, a token of a user who does not exist, a poisoned key already stored, a
 * subscription that changed hands after the notification was decided. And /readyz polled hard.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import webpush from "web-push";
import { createPair, createUser, db, env, join, SECRET, useServers, type TestUser } from "./helpers.ts";
import { NotificationOutbox } from "../src/store/notification-outbox.ts";
import { BrowserSubscription, PushStandIn } from "./push-service.ts";
import { mintAccessToken } from "../src/auth/tokens.ts";
import type { App } from "../src/app.ts";

const servers = useServers();
const standIn = new PushStandIn();
const vapid = webpush.generateVAPIDKeys();

let app: App;

beforeAll(async () => {
  standIn.start();
  app = await servers.start(
    {},
    {
      VAPID_PUBLIC_KEY: vapid.publicKey,
      VAPID_PRIVATE_KEY: vapid.privateKey,
      VAPID_SUBJECT: "mailto:ops@sendbuddy.test",
      PUSH_ENDPOINT_HOSTS: `${standIn.host},push.example.test`,
      NODE_EXTRA_CA_CERTS: standIn.caFile,
      NOTIFY_GRACE_SECONDS: "0.2",
      NOTIFY_MAX_ATTEMPTS: "2",
    },
  );
});
afterAll(() => standIn.stop());

const post = (token: string, body: unknown) =>
  fetch(`${app.httpUrl}/api/push/subscriptions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });

async function subscription(path = `/push/${crypto.randomUUID()}`) {
  return (await BrowserSubscription.create(standIn.url(path))).toJSON();
}

/** The inviter sends one message while the invitee is away: a notification falls due for the invitee. */
async function notifyInvitee(pair: { sessionId: string; inviter: TestUser }) {
  const c = await join(app, pair.sessionId, pair.inviter.token);
  c.send({ type: "message", content: "are you coming?" });
  await c.next("message");
  c.close();
}

describe("push subscriptions refuse what could hurt the service", () => {
  test("a p256dh that is not a point of the P-256 curve: 400, nothing stored", async () => {
    const user = await createUser();
    const sub = await subscription();
    const key = Buffer.from(sub.keys.p256dh, "base64url");
    key[64]! ^= 1; // off the curve, still 65 bytes starting with 0x04
    const res = await post(user.token, { ...sub, keys: { ...sub.keys, p256dh: key.toString("base64url") } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toContain("P-256");
    expect(await db`SELECT 1 FROM chat_push_subscriptions WHERE user_id = ${user.id}`).toHaveLength(0);
  });

  test("an endpoint on an allowed host but another port: 400", async () => {
    const user = await createUser();
    const sub = await subscription();
    for (const port of [22, 6379, 8443]) {
      const res = await post(user.token, { ...sub, endpoint: `https://push.example.test:${port}/push/x` });
      expect({ port, status: res.status }).toEqual({ port, status: 400 });
    }
    const allowed = `https://push.example.test/push/${crypto.randomUUID()}`;
    expect((await post(user.token, { ...sub, endpoint: allowed })).status).toBe(201);
  });

  test("someone else's endpoint cannot be moved to oneself without its auth secret (409); the browser itself may (201)", async () => {
    const [owner, thief] = await Promise.all([createUser("Owner"), createUser("Thief")]);
    const sub = await subscription();
    expect((await post(owner.token, sub)).status).toBe(201);
    const stolen = { ...sub, keys: { ...(await subscription()).keys } };
    expect((await post(thief.token, stolen)).status).toBe(409);
    const [row] = await db`SELECT user_id FROM chat_push_subscriptions WHERE endpoint = ${sub.endpoint}`;
    expect(row!.user_id).toBe(owner.id);
    expect((await post(thief.token, sub)).status).toBe(201); // same browser, now signed in as the other user
  });

  test("a valid token of a user who does not exist: 401, not 500", async () => {
    const ghost = await mintAccessToken(SECRET, crypto.randomUUID());
    const res = await post(ghost, await subscription());
    expect(res.status).toBe(401);
  });
});

describe("deliveries stay bounded", () => {
  test("a poisoned key already stored is tried NOTIFY_MAX_ATTEMPTS times, then dead-lettered", async () => {
    const pair = await createPair();
    const endpoint = standIn.url(`/push/${crypto.randomUUID()}`);
    const poisoned = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]).toString("base64url"); // (0x0101…, 0x0101…): off the curve
    await db`INSERT INTO chat_push_subscriptions (endpoint, user_id, p256dh, auth)
             VALUES (${endpoint}, ${pair.invitee.id}, ${poisoned}, ${Buffer.alloc(16, 2).toString("base64url")})`;
    await notifyInvitee(pair);
    const deadline = Date.now() + 10_000;
    let row: { state: string; attempts: number } | undefined;
    while (Date.now() < deadline) {
      [row] = await db<{ state: string; attempts: number }[]>`
        SELECT state, attempts FROM chat_notification_deliveries WHERE target = ${endpoint}`;
      if (row?.state === "dead") break;
      await Bun.sleep(100);
    }
    expect(row).toMatchObject({ state: "dead", attempts: 2 });
    expect(standIn.to(new URL(endpoint).pathname)).toHaveLength(0);
  }, 15_000);

  test("a subscription that changed hands after the notification was decided gets nothing of it", async () => {
    const [recipient, newOwner] = await Promise.all([createUser("Recipient"), createUser("New owner")]);
    const sub = await subscription();
    expect((await post(newOwner.token, sub)).status).toBe(201);
    // A delivery decided for the recipient while the endpoint was theirs (it has since moved to newOwner).
    const event = {
      id: crypto.randomUUID(),
      type: "message",
      user_id: recipient.id,
      session_id: crypto.randomUUID(),
      seq: 1,
      title: "Someone",
      body: "a private preview",
      count: 1,
      created_at: new Date().toISOString(),
    };
    await db`INSERT INTO chat_notification_deliveries (event_id, target, event) VALUES (${event.id}, ${sub.endpoint}, ${db.json(event)})`;
    const deadline = Date.now() + 5000;
    let state = "pending";
    while (state === "pending" && Date.now() < deadline) {
      [{ state }] = (await db`SELECT state FROM chat_notification_deliveries WHERE event_id = ${event.id}`) as unknown as [
        { state: string },
      ];
      await Bun.sleep(50);
    }
    expect(state).toBe("gone");
    expect(standIn.to(new URL(sub.endpoint).pathname)).toHaveLength(0);
  });
});

describe("the notification decision never holds up message writes", () => {
  test("it waits at most 1 s for the session row (lock_timeout), then gives up until its lease", async () => {
    // PGlite is one backend: no other transaction can hold a lock while a decision runs.
    if (!env.databaseKind.startsWith("PostgreSQL")) return;
    const pair = await createPair();
    const lease = new Date(Date.now() + 3_600_000); // far ahead: no notifier claims this row meanwhile
    await db`INSERT INTO chat_notify_queue (user_id, session_id, notified_seq, due_at) VALUES (${pair.invitee.id}, ${pair.sessionId}, 0, ${lease})`;
    const outbox = new NotificationOutbox(db, (query) => query);
    let release = () => {};
    const held = db.begin(async (tx) => {
      await tx`SELECT 1 FROM sessions WHERE id = ${pair.sessionId} FOR UPDATE`; // what a slow message batch holds
      await new Promise<void>((resolve) => (release = resolve));
    });
    await Bun.sleep(50);
    const started = performance.now();
    const decided = outbox.decide({ userId: pair.invitee.id, sessionId: pair.sessionId, lease }, () => null, {
      quietMs: 1000,
      webhook: true,
    });
    await expect(decided).rejects.toMatchObject({ code: "55P03" }); // lock_not_available
    expect(performance.now() - started).toBeLessThan(2000);
    release();
    await held;
    await db`DELETE FROM chat_notify_queue WHERE session_id = ${pair.sessionId}`;
  });
});

describe("the sweep", () => {
  test("dead-letters a delivery with no attempt left and one pending for more than 12 hours (expired); leaves a fresh one", async () => {
    const outbox = new NotificationOutbox(db, (query) => query);
    const event = (id: string) => ({ id, type: "message", user_id: crypto.randomUUID(), session_id: crypto.randomUUID(), seq: 1 });
    const [spent, stale, fresh] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    // next_attempt_at in the past but attempts used up; created 13 h ago; created now. Targets no notifier here can send to.
    // The stale one has used this file's server's NOTIFY_MAX_ATTEMPTS (2), not the sweep's 8: once it is due,
    // that server's notifier must not claim it (it would dead-letter it as undeliverable) before the sweep.
    await db`INSERT INTO chat_notification_deliveries (event_id, target, event, attempts, next_attempt_at, created_at) VALUES
      (${spent}, 'webhook', ${db.json(event(spent))}, 8, now() - interval '1 minute', now()),
      (${stale}, 'webhook', ${db.json(event(stale))}, 2, now() + interval '1 hour', now() - interval '13 hours'),
      (${fresh}, 'webhook', ${db.json(event(fresh))}, 1, now() + interval '1 hour', now())`;
    await outbox.sweep(8);
    const rows = await db<{ event_id: string; state: string; last_error: string | null }[]>`
      SELECT event_id, state, last_error FROM chat_notification_deliveries WHERE event_id IN ${db([spent, stale, fresh])}`;
    const byId = new Map(rows.map((r) => [r.event_id, r]));
    expect(byId.get(spent)).toMatchObject({ state: "dead", last_error: "no attempt left" });
    expect(byId.get(fresh)).toMatchObject({ state: "pending" });
    await db`UPDATE chat_notification_deliveries SET next_attempt_at = now() - interval '1 second' WHERE event_id = ${stale}`;
    await outbox.sweep(8);
    const [expired] = await db`SELECT state, last_error FROM chat_notification_deliveries WHERE event_id = ${stale}`;
    expect(expired).toMatchObject({ state: "dead", last_error: "expired" });
    await db`DELETE FROM chat_notification_deliveries WHERE event_id IN ${db([spent, stale, fresh])}`;
  });
});

describe("/readyz", () => {
  test("asks the database at most about once a second, however often it is polled", async () => {
    let pings = 0;
    const ping = app.store.ping.bind(app.store);
    app.store.ping = () => {
      pings++;
      return ping();
    };
    const answers = await Promise.all(Array.from({ length: 50 }, () => fetch(`${app.httpUrl}/readyz`)));
    expect(answers.every((r) => r.status === 200)).toBe(true);
    expect(pings).toBeLessThanOrEqual(1);
    await Bun.sleep(1100);
    await fetch(`${app.httpUrl}/readyz`);
    expect(pings).toBe(2);
  });
});
