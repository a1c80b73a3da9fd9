/**
 * Connect tickets: a browser opens its WebSocket with `?ticket=` from `POST /api/ws-ticket` instead
 * of the JWT in the URL. One use, one session, 30 s, any instance; only a hash is stored; the typed
 * client uses them.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { Client, SECRET, createPair, createUser, db, join, useServers, type Pair } from "./helpers.ts";
import { mintAccessToken } from "../src/auth/tokens.ts";
import { ChatClient } from "../src/client/index.ts";
import type { App } from "../src/app.ts";

const servers = useServers();
let a: App;
let b: App;
beforeAll(async () => {
  [a, b] = await Promise.all([servers.start(), servers.start()]);
});

const askTicket = (app: App, token: string | null, body: unknown) =>
  fetch(`${app.httpUrl}/api/ws-ticket`, {
    method: "POST",
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

async function ticketFor(app: App, pair: Pair, who: "inviter" | "invitee" = "inviter"): Promise<string> {
  const res = await askTicket(app, pair[who].token, { session_id: pair.sessionId });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { ticket: string; expires_at: string };
  expect(Date.parse(body.expires_at) - Date.now()).toBeGreaterThan(25_000);
  expect(Date.parse(body.expires_at) - Date.now()).toBeLessThanOrEqual(30_000);
  return body.ticket;
}

const ticketUrl = (app: App, sessionId: string, ticket: string) =>
  `${app.wsUrl}/ws/sessions/${sessionId}/?ticket=${encodeURIComponent(ticket)}`;

describe("connect tickets", () => {
  test("a ticket opens the session's WebSocket as its user, without the JWT in the URL", async () => {
    const pair = await createPair();
    const other = await join(a, pair.sessionId, pair.invitee.token);
    const c = await Client.open(ticketUrl(a, pair.sessionId, await ticketFor(a, pair)));
    c.send({ type: "message", content: "opened with a ticket" });
    expect(await other.next("message")).toMatchObject({ sender_id: pair.inviter.id, content: "opened with a ticket" });
    await Promise.all([c.close(), other.close()]);
  });

  test("a ticket works once, on any instance, and for its own session only", async () => {
    const pair = await createPair();
    const elsewhere = await createPair();
    const ticket = await ticketFor(a, pair);
    const onB = await Client.open(ticketUrl(b, pair.sessionId, ticket)); // issued by A, redeemed by B
    expect(await onB.next("presence")).toMatchObject({ user_id: pair.inviter.id });
    expect(await new Client(ticketUrl(a, pair.sessionId, ticket)).closed).toEqual({ code: 4003, reason: "invalid or expired token" });
    const second = await ticketFor(a, pair);
    expect((await new Client(ticketUrl(a, elsewhere.sessionId, second)).closed).code).toBe(4003);
    expect((await new Client(ticketUrl(a, pair.sessionId, second)).closed).code).toBe(4003); // spent on the wrong session
    await onB.close();
  });

  test("an expired ticket is refused; only a hash of each ticket is stored", async () => {
    const pair = await createPair();
    const ticket = await ticketFor(a, pair);
    const [row] = await db`SELECT encode(ticket_hash, 'hex') AS hash FROM ws_tickets WHERE user_id = ${pair.inviter.id}`;
    expect(row!.hash).toBe(new Bun.CryptoHasher("sha256").update(ticket).digest("hex"));
    expect((await db`SELECT count(*)::int AS n FROM ws_tickets WHERE encode(ticket_hash, 'escape') LIKE ${"%" + ticket + "%"}`)[0]!.n).toBe(
      0,
    );
    await db`UPDATE ws_tickets SET expires_at = now() - interval '1 second' WHERE user_id = ${pair.inviter.id}`;
    expect((await new Client(ticketUrl(a, pair.sessionId, ticket)).closed).code).toBe(4003);
  });

  test("tickets go to participants only: 401, 403, 404, 400 and 405 as the rest of the API", async () => {
    const pair = await createPair();
    const outsider = await createUser("Outsider");
    expect((await askTicket(a, null, { session_id: pair.sessionId })).status).toBe(401);
    expect((await askTicket(a, "not-a-jwt", { session_id: pair.sessionId })).status).toBe(401);
    expect((await askTicket(a, outsider.token, { session_id: pair.sessionId })).status).toBe(403);
    expect((await askTicket(a, pair.inviter.token, { session_id: crypto.randomUUID() })).status).toBe(404);
    for (const body of ["not json", "{}", '{"session_id":42}', '{"session_id":"nope"}', "[]"]) {
      const res = await askTicket(a, pair.inviter.token, body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
    }
    expect((await askTicket(a, pair.inviter.token, "x".repeat(70_000))).status).toBe(413);
    expect((await fetch(`${a.httpUrl}/api/ws-ticket`, { headers: { authorization: `Bearer ${pair.inviter.token}` } })).status).toBe(405);
  });

  test("a ticket socket lives until the expiry of the token it was issued against", async () => {
    const pair = await createPair();
    const app = await servers.start({}, { JWT_CLOCK_SKEW_SECONDS: "0" });
    const shortLived = { ...pair, inviter: { ...pair.inviter, token: await mintAccessToken(SECRET, pair.inviter.id, 2) } };
    const c = await Client.open(ticketUrl(app, pair.sessionId, await ticketFor(app, shortLived)));
    const started = Date.now();
    expect((await c.closed).code).toBe(4003);
    expect(Date.now() - started).toBeLessThan(4500);
  });

  test("the typed client connects with tickets: no token in any WebSocket URL", async () => {
    const pair = await createPair();
    const before = a.metrics.ticketsRedeemed.get();
    const client = new ChatClient({ baseUrl: a.httpUrl, sessionId: pair.sessionId, getToken: () => pair.inviter.token });
    await client.connect();
    expect(a.metrics.ticketsRedeemed.get() - before).toBe(1);
    const other = await join(a, pair.sessionId, pair.invitee.token);
    expect((await client.send("via a ticket")).seq).toBe(1);
    expect((await other.next("message")).content).toBe("via a ticket");
    client.close();
    await other.close();
  });
});
