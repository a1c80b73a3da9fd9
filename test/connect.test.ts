/** The connection path: endpoint, tokens as SimpleJWT issues them, and every close code. */
import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { Client, createUser, SECRET, sessionUrl, useServerAndPair } from "./helpers.ts";
import { mintAccessToken } from "../src/auth/tokens.ts";

const shared = useServerAndPair();

/** Built by hand the way SimpleJWT (PyJWT) does it, without jose: header, claim order, hex jti. */
function simpleJwtToken(userId: string, opts: { secret?: string; tokenType?: string; exp?: number } = {}): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const header = b64({ alg: "HS256", typ: "JWT" });
  const payload = b64({
    token_type: opts.tokenType ?? "access",
    exp: opts.exp ?? now + 300,
    iat: now,
    jti: "6f1c2a9b8e7d4c3ba1f0e9d8c7b6a594",
    user_id: userId,
  });
  const signature = createHmac("sha256", opts.secret ?? SECRET)
    .update(`${header}.${payload}`)
    .digest("base64url");
  return `${header}.${payload}.${signature}`;
}

async function closeOf(url: string, headers?: Record<string, string>) {
  const c = new Client(url, headers ? { headers } : undefined);
  return c.closed;
}

describe("endpoint", () => {
  test("a path that is not a session UUID is 404 without upgrade", async () => {
    for (const path of ["/ws/sessions/not-a-uuid/", "/ws/sessions/", "/ws/sessions/123/", "/elsewhere"]) {
      const res = await fetch(`${shared.app.httpUrl}${path}`, { headers: { upgrade: "websocket", connection: "upgrade" } });
      expect(res.status).toBe(404);
    }
  });

  test("the trailing slash is optional", async () => {
    const c = await Client.open(`${shared.app.wsUrl}/ws/sessions/${shared.pair.sessionId}?token=${shared.pair.inviter.token}`);
    c.send({ type: "typing", is_typing: true });
    c.send({ type: "message", content: "no slash" });
    expect((await c.next("message")).content).toBe("no slash");
    await c.close();
  });

  test("a plain HTTP request to a session path asks for an upgrade", async () => {
    const res = await fetch(`${shared.app.httpUrl}/ws/sessions/${shared.pair.sessionId}/`);
    expect(res.status).toBe(426);
  });

  test("health endpoints answer", async () => {
    expect((await fetch(`${shared.app.httpUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${shared.app.httpUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: "ok", database: "up" });
  });
});

describe("tokens", () => {
  test("a token minted the SimpleJWT way with the shared secret is accepted", async () => {
    const c = await Client.open(sessionUrl(shared.app, shared.pair.sessionId, simpleJwtToken(shared.pair.inviter.id)));
    c.send({ type: "message", content: "from a SimpleJWT token" });
    const m = await c.next("message");
    expect(m.sender_id).toBe(shared.pair.inviter.id);
    await c.close();
  });

  test("the token may come in an Authorization: Bearer header", async () => {
    const c = await Client.open(sessionUrl(shared.app, shared.pair.sessionId), {
      headers: { Authorization: `Bearer ${shared.pair.invitee.token}` },
    });
    c.send({ type: "message", content: "bearer" });
    expect((await c.next("message")).sender_id).toBe(shared.pair.invitee.id);
    await c.close();
  });
});

describe("close codes", () => {
  test("4001 without a token", async () => {
    expect(await closeOf(sessionUrl(shared.app, shared.pair.sessionId))).toEqual({ code: 4001, reason: "no token provided" });
    expect((await closeOf(sessionUrl(shared.app, shared.pair.sessionId, ""))).code).toBe(4001);
  });

  test("4002 when the user does not exist", async () => {
    const token = await mintAccessToken(SECRET, crypto.randomUUID());
    expect(await closeOf(sessionUrl(shared.app, shared.pair.sessionId, token))).toEqual({ code: 4002, reason: "user not found" });
  });

  test("4003 for invalid, expired, refresh, badly signed or unsigned tokens; the reason never echoes the token", async () => {
    const now = Math.floor(Date.now() / 1000);
    const unsigned = simpleJwtToken(shared.pair.inviter.id).split(".").slice(0, 2).join(".") + ".";
    const noneAlg = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url")}.${simpleJwtToken(shared.pair.inviter.id).split(".")[1]}.`;
    const bad = [
      "garbage",
      simpleJwtToken(shared.pair.inviter.id, { exp: now - 60 }),
      simpleJwtToken(shared.pair.inviter.id, { tokenType: "refresh" }),
      simpleJwtToken(shared.pair.inviter.id, { secret: "another-secret-another-secret-another" }),
      unsigned,
      noneAlg,
      simpleJwtToken("not-a-uuid"),
    ];
    for (const token of bad) {
      const closed = await closeOf(sessionUrl(shared.app, shared.pair.sessionId, token));
      expect(closed).toEqual({ code: 4003, reason: "invalid or expired token" });
      expect(closed.reason).not.toContain(token);
    }
  });

  test("4004 for a user who is not a participant, and for an unknown session", async () => {
    const stranger = await createUser("Stranger");
    expect(await closeOf(sessionUrl(shared.app, shared.pair.sessionId, stranger.token))).toEqual({
      code: 4004,
      reason: "not a participant of this session",
    });
    expect((await closeOf(sessionUrl(shared.app, crypto.randomUUID(), shared.pair.inviter.token))).code).toBe(4004);
  });

  test("a refused socket cannot send anything", async () => {
    const stranger = await createUser("Stranger");
    const c = new Client(sessionUrl(shared.app, shared.pair.sessionId, stranger.token));
    await c.opened;
    c.send({ type: "message", content: "let me in" });
    expect((await c.closed).code).toBe(4004);
    expect(c.of("message")).toHaveLength(0);
  });
});
