/**
 * Offline notifications: Web Push (against a TLS push-service stand-in that decrypts the payload with
 * the subscription's private key) and the signed webhook, decided after a grace period, one per
 * session per quiet period, never while the recipient is in the session or has read, retried,
 * dead-lettered, and durable across a crash (two instances and a killed process share the outbox).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import webpush from "web-push";
import {
  Client,
  SECRET,
  createPair,
  db,
  describeWithRedis,
  env,
  join,
  sessionUrl,
  settle,
  spawnServer,
  useServers,
  type Pair,
  type TestUser,
  waitFor,
} from "./helpers.ts";
import { BrowserSubscription, PushStandIn, verifyVapid } from "./push-service.ts";
import type { App } from "../src/app.ts";

const servers = useServers();
const standIn = new PushStandIn();
const vapid = webpush.generateVAPIDKeys();
const WEBHOOK_SECRET = "webhook-secret-0123456789-abcdefghijklmnop";
const GRACE_MS = 300;
const QUIET_MS = 1500;

let a: App;
let b: App;
let notifyEnv: Record<string, string>;

/** Two instances sharing PostgreSQL and Redis (presence across instances decides who is away). */
async function startInstances() {
  standIn.start();
  notifyEnv = {
    VAPID_PUBLIC_KEY: vapid.publicKey,
    VAPID_PRIVATE_KEY: vapid.privateKey,
    VAPID_SUBJECT: "mailto:ops@sendbuddy.test",
    PUSH_ENDPOINT_HOSTS: standIn.host, // 127.0.0.1 and the stand-in's port: a port other than 443 is allowed only so
    NODE_EXTRA_CA_CERTS: standIn.caFile,
    NOTIFY_WEBHOOK_URL: standIn.url("/webhook"),
    NOTIFY_WEBHOOK_SECRET: WEBHOOK_SECRET,
    NOTIFY_GRACE_SECONDS: String(GRACE_MS / 1000),
    NOTIFY_QUIET_SECONDS: String(QUIET_MS / 1000),
    NOTIFY_MAX_ATTEMPTS: "3",
  };
  const redisUrl = env.redisUrl!;
  [a, b] = await Promise.all([servers.start({ redisUrl }, notifyEnv), servers.start({ redisUrl }, notifyEnv)]);
}

const bearer = (user: TestUser) => ({ authorization: `Bearer ${user.token}`, "content-type": "application/json" });

/** The recipient's browser subscribes; its endpoint is a path of its own on the stand-in. */
async function subscribe(app: App, user: TestUser): Promise<BrowserSubscription> {
  const sub = await BrowserSubscription.create(standIn.url(`/push/${crypto.randomUUID()}`));
  const res = await fetch(`${app.httpUrl}/api/push/subscriptions`, {
    method: "POST",
    headers: bearer(user),
    body: JSON.stringify(sub.toJSON()),
  });
  expect(res.status).toBe(201);
  return sub;
}

const pathOf = (sub: BrowserSubscription) => new URL(sub.endpoint).pathname;

/** Sends messages from the inviter through `app`, waiting for each ack; the invitee is away. */
async function send(app: App, pair: Pair, ...contents: string[]) {
  const c = await join(app, pair.sessionId, pair.inviter.token);
  for (const [i, content] of contents.entries()) {
    c.send({ type: "message", content });
    await c.next("message", i);
  }
  await c.close();
}

const webhookEvents = (sessionId: string) =>
  standIn
    .to("/webhook")
    .map((r) => JSON.parse(new TextDecoder().decode(r.body)))
    .filter((e) => e.session_id === sessionId);

/** Long enough for the grace, a few polls and the deliveries. */
const quietly = () => settle(GRACE_MS + 900);

describeWithRedis("Web Push and webhook notifications", () => {
  beforeAll(startInstances);
  afterAll(() => standIn.stop());

  test("subscriptions: the public key, 201 idempotent by endpoint, validation, only the user's own deleted", async () => {
    const pair = await createPair();
    const key = await fetch(`${a.httpUrl}/api/push/vapid-public-key`);
    expect(await key.json()).toEqual({ public_key: vapid.publicKey });
    const sub = await BrowserSubscription.create(standIn.url("/push/idempotent"));
    for (const created of [true, false]) {
      const res = await fetch(`${a.httpUrl}/api/push/subscriptions`, {
        method: "POST",
        headers: bearer(pair.invitee),
        body: JSON.stringify(sub.toJSON()),
      });
      expect({ status: res.status, body: await res.json() }).toEqual({ status: 201, body: { endpoint: sub.endpoint, created } });
    }
    const bad = [
      "not json",
      { endpoint: sub.endpoint },
      { ...sub.toJSON(), endpoint: "http://127.0.0.1/push/plain" },
      { ...sub.toJSON(), endpoint: "https://internal.example/push" },
      { ...sub.toJSON(), keys: { p256dh: "short", auth: sub.toJSON().keys.auth } },
      { ...sub.toJSON(), keys: { p256dh: sub.toJSON().keys.p256dh, auth: "x".repeat(40) } },
      { ...sub.toJSON(), endpoint: `https://127.0.0.1/${"x".repeat(2000)}` },
    ];
    for (const body of bad) {
      const res = await fetch(`${a.httpUrl}/api/push/subscriptions`, {
        method: "POST",
        headers: bearer(pair.invitee),
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
    }
    expect((await fetch(`${a.httpUrl}/api/push/subscriptions`, { method: "POST", body: JSON.stringify(sub.toJSON()) })).status).toBe(401);
    const del = (user: TestUser) =>
      fetch(`${a.httpUrl}/api/push/subscriptions`, {
        method: "DELETE",
        headers: bearer(user),
        body: JSON.stringify({ endpoint: sub.endpoint }),
      });
    expect((await del(pair.inviter)).status).toBe(204); // not theirs: nothing removed
    expect((await db`SELECT 1 FROM chat_push_subscriptions WHERE endpoint = ${sub.endpoint}`).length).toBe(1);
    expect((await del(pair.invitee)).status).toBe(204);
    expect((await db`SELECT 1 FROM chat_push_subscriptions WHERE endpoint = ${sub.endpoint}`).length).toBe(0);

    // Bounded: the eleventh browser's subscription drops the oldest.
    const many: BrowserSubscription[] = [];
    for (let i = 0; i < 11; i++) many.push(await subscribe(a, pair.inviter));
    const kept = await db`SELECT endpoint FROM chat_push_subscriptions WHERE user_id = ${pair.inviter.id}`;
    expect(kept.map((r) => r.endpoint).sort()).toEqual(
      many
        .slice(1)
        .map((m) => m.endpoint)
        .sort(),
    );
  });

  test("sent when away: encrypted for the subscription, VAPID-signed, the payload as documented; the webhook signed", async () => {
    const pair = await createPair();
    const sub = await subscribe(a, pair.invitee);
    await send(b, pair, "Let's climb tomorrow!");
    const [push] = await standIn.until(pathOf(sub));
    const payload = JSON.parse(await sub.decrypt(push!.body));
    expect(payload).toEqual({
      type: "message",
      id: expect.any(String),
      session_id: pair.sessionId,
      seq: 1,
      title: pair.inviter.name,
      body: "Let's climb tomorrow!",
    });
    expect(push!.headers).toMatchObject({ "content-encoding": "aes128gcm", urgency: "high", ttl: "43200" });
    expect(push!.headers.topic).toMatch(/^[A-Za-z0-9_-]{22}$/);
    await verifyVapid(push!.headers.authorization!, {
      publicKey: vapid.publicKey,
      audience: new URL(standIn.url("/")).origin,
      subject: "mailto:ops@sendbuddy.test",
    });

    await standIn.until("/webhook", 1);
    const hooks = standIn.to("/webhook").filter((r) => JSON.parse(new TextDecoder().decode(r.body)).session_id === pair.sessionId);
    expect(hooks).toHaveLength(1);
    const hook = hooks[0]!;
    const body = new TextDecoder().decode(hook.body);
    const event = JSON.parse(body);
    expect(event).toMatchObject({
      id: payload.id,
      type: "message",
      user_id: pair.invitee.id,
      session_id: pair.sessionId,
      seq: 1,
      title: pair.inviter.name,
      body: "Let's climb tomorrow!",
      count: 1,
    });
    expect(hook.headers["x-chat-event-id"]).toBe(event.id);
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(hook.headers["x-chat-signature"]!)!;
    expect(Math.abs(Date.now() / 1000 - Number(t))).toBeLessThan(30);
    expect(v1).toBe(createHmac("sha256", WEBHOOK_SECRET).update(`${t}.${body}`).digest("hex"));
    // The sender is not notified of their own message.
    expect(webhookEvents(pair.sessionId).filter((e) => e.user_id === pair.inviter.id)).toEqual([]);
  });

  test("a message deleted before its notification falls due is not in it; one edited before is, as edited", async () => {
    const pair = await createPair();
    const c = await join(b, pair.sessionId, pair.inviter.token);
    for (const [i, content] of ["my door code is 4711", "6 pm?"].entries()) {
      c.send({ type: "message", content });
      await c.next("message", i);
    }
    c.send({ type: "delete", seq: 1 });
    c.send({ type: "edit", seq: 2, content: "7 pm?" });
    await c.next("message_changed", 1);
    await c.close();
    await waitFor("the webhook event", () => webhookEvents(pair.sessionId).length > 0, 8000);
    const [event] = webhookEvents(pair.sessionId);
    expect(event).toMatchObject({ user_id: pair.invitee.id, body: "7 pm?", count: 1 });
    expect(JSON.stringify(webhookEvents(pair.sessionId))).not.toContain("4711");
  });

  test("nothing from someone the recipient blocked, not even what they sent just before the block", async () => {
    const pair = await createPair();
    await send(b, pair, "sent just before the block");
    await db`INSERT INTO chat_blocks (blocker_id, blocked_id) VALUES (${pair.invitee.id}, ${pair.inviter.id})`;
    await quietly();
    await quietly(); // the grace, a few polls and a delivery: nothing may come, which no condition can say
    expect(webhookEvents(pair.sessionId)).toEqual([]);
  });

  test("not sent while the recipient has a socket in the session (on another instance), after they read it, or while they reconnect", async () => {
    const pair = await createPair();
    const sub = await subscribe(a, pair.invitee);
    // Online on instance A while the message is sent through B.
    const here = await join(a, pair.sessionId, pair.invitee.token);
    await here.next("presence", 1);
    await send(b, pair, "you are here");
    await quietly();
    // Away, but reads it (on another device, through the API of the socket) within the grace period.
    await here.close();
    await send(b, pair, "read quickly");
    const phone = await join(b, pair.sessionId, pair.invitee.token);
    phone.send({ type: "read", seq: 2 });
    await phone.next("read");
    await phone.close();
    await quietly();
    // Reconnecting: the socket drops and comes back within the grace period.
    const flaky = await join(a, pair.sessionId, pair.invitee.token);
    await flaky.next("presence", 1);
    await flaky.close();
    const sending = send(b, pair, "while you reconnect");
    const back = await Client.open(sessionUrl(a, pair.sessionId, pair.invitee.token, "&after=2"));
    await sending;
    await back.next("message"); // seq 3, live or replayed: it is in the session
    await quietly();
    expect(standIn.to(pathOf(sub))).toEqual([]);
    expect(webhookEvents(pair.sessionId)).toEqual([]);
    await back.close();
  });

  test("one notification per burst and quiet period, saying how many; the next burst after the quiet period gets one more", async () => {
    const pair = await createPair();
    const sub = await subscribe(a, pair.invitee);
    await send(b, pair, "first of five", "2", "3", "4", "5");
    const [first] = await standIn.until(pathOf(sub));
    expect(JSON.parse(await sub.decrypt(first!.body))).toMatchObject({ seq: 5, body: "first of five (+4 more)" });
    await send(a, pair, "sixth, during the quiet period", "7");
    await settle(QUIET_MS / 2);
    expect(standIn.to(pathOf(sub))).toHaveLength(1);
    const [, second] = await standIn.until(pathOf(sub), 2);
    expect(JSON.parse(await sub.decrypt(second!.body))).toMatchObject({ seq: 7, body: "sixth, during the quiet period (+1 more)" });
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(QUIET_MS - 100);
    await settle(QUIET_MS + 500);
    expect(standIn.to(pathOf(sub))).toHaveLength(2);
    expect(webhookEvents(pair.sessionId).map((e) => e.count)).toEqual([5, 2]);
  });

  test("a 503 is retried with the same event; a 410 (or a 403: another VAPID key) deletes the subscription and it is never tried again", async () => {
    const pair = await createPair();
    const flaky = await subscribe(a, pair.invitee);
    const gone = await subscribe(a, pair.invitee);
    const rotated = await subscribe(a, pair.invitee);
    standIn.script.set(pathOf(flaky), [503]);
    standIn.script.set(pathOf(gone), [410]);
    standIn.script.set(pathOf(rotated), [403]);
    const retriedBefore =
      a.metrics.notificationDeliveries.get({ target: "push", result: "retried" }) +
      b.metrics.notificationDeliveries.get({ target: "push", result: "retried" });
    await send(b, pair, "are you there?");
    const [failed, delivered] = await standIn.until(pathOf(flaky), 2);
    expect(JSON.parse(await flaky.decrypt(delivered!.body)).id).toBe(JSON.parse(await flaky.decrypt(failed!.body)).id);
    const retried =
      a.metrics.notificationDeliveries.get({ target: "push", result: "retried" }) +
      b.metrics.notificationDeliveries.get({ target: "push", result: "retried" });
    expect(retried - retriedBefore).toBe(1);
    await standIn.until(pathOf(gone), 1);
    const seenAt = Date.now();
    await waitFor(
      "the 410's subscription to be deleted",
      async () => (await db`SELECT 1 FROM chat_push_subscriptions WHERE endpoint = ${gone.endpoint}`).length === 0,
    );
    expect((await db`SELECT 1 FROM chat_push_subscriptions WHERE endpoint = ${gone.endpoint}`).length).toBe(0);
    await waitFor(
      "the 403's subscription to be deleted",
      async () => (await db`SELECT 1 FROM chat_push_subscriptions WHERE endpoint = ${rotated.endpoint}`).length === 0,
    );
    // Not a wait for an event: the quiet period has to pass before the next send (the same 200 + QUIET_MS after the 410 as before).
    await settle(Math.max(0, seenAt + 200 + QUIET_MS - Date.now()));
    await send(b, pair, "again");
    await standIn.until(pathOf(flaky), 3);
    await quietly();
    expect(standIn.to(pathOf(gone))).toHaveLength(1);
    expect(standIn.to(pathOf(rotated))).toHaveLength(1);
  });

  test("a delivery that keeps failing is dead-lettered after NOTIFY_MAX_ATTEMPTS (3 here), with its error", async () => {
    const pair = await createPair();
    const sub = await subscribe(a, pair.invitee);
    standIn.script.set(pathOf(sub), [500, 500, 500, 500, 500, 500]);
    await send(b, pair, "into the void");
    await standIn.until(pathOf(sub), 3, 15_000);
    const deadline = Date.now() + 5000;
    let rows: { state: string; attempts: number; last_error: string }[] = [];
    while (Date.now() < deadline) {
      rows = await db`SELECT state, attempts, last_error FROM chat_notification_deliveries WHERE target = ${sub.endpoint}`;
      if (rows[0]?.state === "dead") break;
      await Bun.sleep(50);
    }
    expect(rows).toEqual([{ state: "dead", attempts: 3, last_error: "HTTP 500" }]);
    await settle(2500);
    expect(standIn.to(pathOf(sub))).toHaveLength(3);
  }, 30_000);

  test("a crash after the commit loses nothing: another process sends it, once", async () => {
    const pair = await createPair();
    const sub = await subscribe(a, pair.invitee);
    const child = await spawnServer({
      ...(process.env as Record<string, string>),
      NODE_ENV: "test",
      DATABASE_URL: env.databaseUrl,
      ...(env.redisUrl ? { REDIS_URL: env.redisUrl } : {}),
      JWT_SECRET: SECRET,
      ...notifyEnv,
      NOTIFY_GRACE_SECONDS: "3",
    });
    await send(child.at, pair, "sent just before the crash");
    child.proc.kill("SIGKILL");
    await child.proc.exited;
    // The queue row was committed with the message; instances A and B take it once the grace is over.
    const [push] = await standIn.until(pathOf(sub), 1, 10_000);
    expect(JSON.parse(await sub.decrypt(push!.body))).toMatchObject({ seq: 1, body: "sent just before the crash" });
    await settle(1500);
    expect(standIn.to(pathOf(sub))).toHaveLength(1);
    expect(webhookEvents(pair.sessionId)).toHaveLength(1);
  }, 30_000);

  test("a crash in the middle of a send repeats it with the same event id, nothing more", async () => {
    const pair = await createPair();
    const sub = await subscribe(a, pair.invitee);
    await send(b, pair, "in flight");
    const [first] = await standIn.until(pathOf(sub));
    // As if the sender died after the push service answered but before it recorded the result. The
    // sender records 'sent' after the answer: wait for it, or it would overwrite the rewind.
    const deadline = Date.now() + 5000;
    while ((await db`SELECT 1 FROM chat_notification_deliveries WHERE target = ${sub.endpoint} AND state = 'sent'`).length === 0) {
      if (Date.now() > deadline) throw new Error("the delivery was never recorded as sent");
      await Bun.sleep(20);
    }
    const rewound =
      await db`UPDATE chat_notification_deliveries SET state = 'pending', next_attempt_at = now() WHERE target = ${sub.endpoint} AND state = 'sent'`;
    expect(rewound.count).toBe(1);
    const [, again] = await standIn.until(pathOf(sub), 2);
    const ids = await Promise.all([first!, again!].map(async (r) => JSON.parse(await sub.decrypt(r.body)).id));
    expect(ids[0]).toBe(ids[1]);
    await quietly();
    expect(standIn.to(pathOf(sub))).toHaveLength(2);
  });
});

describe("notifications off (the default)", () => {
  test("nothing is recorded and the push routes say it is not enabled", async () => {
    const plain = await servers.start();
    const pair = await createPair();
    await send(plain, pair, "no one is notified");
    expect((await db`SELECT 1 FROM chat_notify_queue WHERE session_id = ${pair.sessionId}`).length).toBe(0);
    expect((await fetch(`${plain.httpUrl}/api/push/vapid-public-key`)).status).toBe(404);
    const res = await fetch(`${plain.httpUrl}/api/push/subscriptions`, { method: "POST", headers: bearer(pair.invitee), body: "{}" });
    expect(res.status).toBe(404);
    expect(plain.notifier).toBeNull();
  });
});
