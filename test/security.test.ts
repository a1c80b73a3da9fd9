/** Tokens on live sockets, in-band refresh, origins, public-key and JWKS verification, and logs. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from "jose";
import { Client, SECRET, createPair, env, rawHttp, sessionUrl, spawnServer, useServers, waitFor, type Pair } from "./helpers.ts";
import { mintAccessToken } from "../src/auth/tokens.ts";
import type { App } from "../src/app.ts";

const servers = useServers();

describe("token lifetime on live sockets", () => {
  let app: App;
  let pair: Pair;
  beforeAll(async () => {
    app = await servers.start({}, { JWT_CLOCK_SKEW_SECONDS: "0" });
    pair = await createPair();
  });

  test("a socket is closed with 4003 when its token expires", async () => {
    const c = await Client.open(sessionUrl(app, pair.sessionId, await mintAccessToken(SECRET, pair.inviter.id, 2)));
    const started = Date.now();
    expect(await c.closed).toEqual({ code: 4003, reason: "invalid or expired token" });
    expect(Date.now() - started).toBeLessThan(4500);
  });

  test("an auth frame with a fresh token for the same user keeps it open, without reconnecting", async () => {
    const c = await Client.open(sessionUrl(app, pair.sessionId, await mintAccessToken(SECRET, pair.inviter.id, 2)));
    c.send({ type: "auth", token: await mintAccessToken(SECRET, pair.inviter.id, 60) });
    const ok = await c.next("auth");
    expect(ok.ok).toBe(true);
    expect(new Date(ok.expires_at as string).getTime()).toBeGreaterThan(Date.now() + 50_000);
    await Bun.sleep(3500);
    c.send({ type: "message", content: "still here after the first token expired" });
    expect((await c.next("message")).content).toBe("still here after the first token expired");
    await c.close();
  }, 10_000);

  test("a token for another user, or an invalid one, is refused and changes nothing", async () => {
    const c = await Client.open(sessionUrl(app, pair.sessionId, await mintAccessToken(SECRET, pair.inviter.id, 3)));
    c.send({ type: "auth", token: pair.invitee.token });
    expect(await c.next("error")).toMatchObject({ code: "auth_failed", error: "the token is for another user" });
    c.send({ type: "auth", token: "garbage" });
    expect(await c.next("error", 1)).toMatchObject({ code: "auth_failed", error: "the token is invalid or expired" });
    c.send({ type: "auth", token: await mintAccessToken(SECRET, pair.inviter.id, 60, "refresh") });
    expect((await c.next("error", 2)).code).toBe("auth_failed");
    c.send({ type: "message", content: "who am I" });
    expect((await c.next("message")).sender_id).toBe(pair.inviter.id);
    expect((await c.closed).code).toBe(4003);
    expect(c.frames.filter((f) => f.type === "error").every((f) => !JSON.stringify(f).includes(pair.invitee.token))).toBe(true);
  }, 10_000);
});

describe("origin check", () => {
  const upgrade = (app: App, sessionId: string, token: string, origin?: string) =>
    fetch(sessionUrl(app, sessionId, token).replace("ws://", "http://"), {
      headers: {
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
        ...(origin ? { origin } : {}),
      },
    });

  test("by default only same-origin pages and clients without Origin may connect", async () => {
    const app = await servers.start();
    const pair = await createPair();
    expect((await upgrade(app, pair.sessionId, pair.inviter.token, "https://evil.example")).status).toBe(403);
    expect((await upgrade(app, pair.sessionId, pair.inviter.token, app.httpUrl)).status).toBe(101);
    expect((await upgrade(app, pair.sessionId, pair.inviter.token)).status).toBe(101);
  });

  test("ALLOWED_ORIGINS lists the pages of other origins that may connect", async () => {
    const app = await servers.start({}, { ALLOWED_ORIGINS: "https://app.sendbuddy.example" });
    const pair = await createPair();
    expect((await upgrade(app, pair.sessionId, pair.inviter.token, "https://app.sendbuddy.example")).status).toBe(101);
    expect((await upgrade(app, pair.sessionId, pair.inviter.token, "https://evil.example")).status).toBe(403);
    const anyApp = await servers.start({}, { ALLOWED_ORIGINS: "*" });
    expect((await upgrade(anyApp, pair.sessionId, pair.inviter.token, "https://evil.example")).status).toBe(101);
  });
});

describe("public-key and JWKS verification", () => {
  const claims = (userId: string) => ({ token_type: "access", user_id: userId, jti: crypto.randomUUID() });

  async function sign(userId: string, key: CryptoKey, alg: string, extra: { iss?: string; aud?: string; kid?: string } = {}) {
    let jwt = new SignJWT(claims(userId))
      .setProtectedHeader({ alg, ...(extra.kid ? { kid: extra.kid } : {}) })
      .setIssuedAt()
      .setExpirationTime("5m");
    if (extra.iss) jwt = jwt.setIssuer(extra.iss);
    if (extra.aud) jwt = jwt.setAudience(extra.aud);
    return jwt.sign(key);
  }

  async function accepted(app: App, pair: Pair, token: string): Promise<boolean> {
    const c = new Client(sessionUrl(app, pair.sessionId, token));
    const outcome = await Promise.race([c.closed.then(() => false), c.next("presence").then(() => true)]);
    c.ws.close();
    return outcome;
  }

  for (const alg of ["RS256", "ES256", "EdDSA"]) {
    test(`${alg} with JWT_PUBLIC_KEY; HS256 tokens are then refused`, async () => {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
      const app = await servers.start({}, { JWT_PUBLIC_KEY: await exportSPKI(publicKey), JWT_ISSUER: "sendbuddy", JWT_AUDIENCE: "chat" });
      const pair = await createPair();
      expect(await accepted(app, pair, await sign(pair.inviter.id, privateKey, alg, { iss: "sendbuddy", aud: "chat" }))).toBe(true);
      expect(await accepted(app, pair, await sign(pair.inviter.id, privateKey, alg, { iss: "someone-else", aud: "chat" }))).toBe(false);
      expect(await accepted(app, pair, await sign(pair.inviter.id, privateKey, alg, { iss: "sendbuddy" }))).toBe(false);
      expect(await accepted(app, pair, pair.inviter.token)).toBe(false);
    });
  }

  describe("JWKS", () => {
    let jwks: ReturnType<typeof Bun.serve>;
    let fetches = 0;
    let privateKey: CryptoKey;
    beforeAll(async () => {
      const keys = await generateKeyPair("ES256", { extractable: true });
      privateKey = keys.privateKey;
      const jwk = { ...(await exportJWK(keys.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
      jwks = Bun.serve({
        port: 0,
        hostname: "127.0.0.1",
        fetch: () => {
          fetches++;
          return Response.json({ keys: [jwk] });
        },
      });
    });
    afterAll(() => jwks.stop(true));

    test("keys come from JWT_JWKS_URL, fetched once and cached", async () => {
      const app = await servers.start({}, { JWT_JWKS_URL: `http://127.0.0.1:${jwks.port}/.well-known/jwks.json` });
      const pair = await createPair();
      for (let i = 0; i < 3; i++)
        expect(await accepted(app, pair, await sign(pair.inviter.id, privateKey, "ES256", { kid: "k1" }))).toBe(true);
      expect(fetches).toBe(1);
      const other = await generateKeyPair("ES256");
      expect(await accepted(app, pair, await sign(pair.inviter.id, other.privateKey, "ES256", { kid: "k1" }))).toBe(false);
    });
  });
});

describe("HTTP edges", () => {
  test("a malformed Host header gets 400, not a server error", async () => {
    const app = await servers.start();
    const port = Number(new URL(app.httpUrl).port);
    for (const host of ["x?", "x\\y", "a b"]) {
      const answer = await rawHttp(port, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      expect({ host, status: answer.split("\r\n")[0] }).toEqual({ host, status: "HTTP/1.1 400 Bad Request" });
    }
    expect((await fetch(`${app.httpUrl}/healthz`)).status).toBe(200);
  });

  test("with a real database the demo routes do not exist, even in development", async () => {
    const app = await servers.start({}, { NODE_ENV: "development", DATABASE_URL: env.databaseUrl });
    expect((await fetch(`${app.httpUrl}/dev/demo`, { method: "POST" })).status).toBe(404);
    expect((await fetch(`${app.httpUrl}/demo`)).status).toBe(404);
  });
});

describe("logs", () => {
  test("tokens and query strings never appear in the logs, even at debug level", async () => {
    const pair = await createPair();
    const child = await spawnServer({
      ...(process.env as Record<string, string>),
      NODE_ENV: "test",
      DATABASE_URL: env.databaseUrl,
      REDIS_URL: "",
      JWT_SECRET: SECRET,
      LOG_LEVEL: "debug",
    });
    const base = child.at;
    const ticketAnswer = await fetch(`${base.httpUrl}/api/ws-ticket`, {
      method: "POST",
      headers: { authorization: `Bearer ${pair.invitee.token}` },
      body: JSON.stringify({ session_id: pair.sessionId }),
    });
    const { ticket } = (await ticketAnswer.json()) as { ticket: string };
    const withTicket = await Client.open(`${base.wsUrl}/ws/sessions/${pair.sessionId}/?ticket=${ticket}`);
    await withTicket.next("presence");
    await withTicket.close();
    const good = await Client.open(sessionUrl(base, pair.sessionId, pair.inviter.token, "&after=0"));
    good.send({ type: "auth", token: pair.invitee.token });
    good.send({ type: "message", content: "hello" });
    await good.next("message");
    const badToken = pair.invitee.token.slice(0, -4) + "AAAA";
    await new Client(sessionUrl(base, pair.sessionId, badToken)).closed;
    await fetch(`${base.httpUrl}/api/sessions/${pair.sessionId}/messages?limit=oops`, { headers: { authorization: `Bearer ${badToken}` } });
    await good.close();
    child.proc.kill("SIGTERM");
    await child.proc.exited;
    // Its last line ("stopped", or the deadline's error) is in: the output is drained to the end.
    await waitFor("the server's last log line", () => /"msg":"(stopped|shutdown deadline passed, exiting)"/.test(child.output()));
    const out = child.output();
    const lines = out.split("\n").filter((l) => l.startsWith("{"));
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    for (const secret of [pair.inviter.token, pair.invitee.token, badToken, ticket, "token=", "ticket=", "after=0", "limit=oops"])
      expect(out).not.toContain(secret);
    expect(out).toContain('"msg":"connection opened"');
    expect(out).toContain('"msg":"connection refused"');
  }, 20_000);
});

describe("rotating the JWT secret (JWT_SECRET_PREVIOUS)", () => {
  test("tokens of the new and of the previous secret are accepted during the overlap; any other secret is not", async () => {
    const NEW_SECRET = "the-new-secret-after-rotation-0123456789abcdef";
    const app = await servers.start({}, { JWT_SECRET: NEW_SECRET, JWT_SECRET_PREVIOUS: SECRET });
    const pair = await createPair(); // its tokens are signed with the previous secret (SECRET)
    const previous = await Client.open(sessionUrl(app, pair.sessionId, pair.inviter.token));
    await previous.next("presence", 1);
    const renewed = await Client.open(sessionUrl(app, pair.sessionId, await mintAccessToken(NEW_SECRET, pair.invitee.id)));
    await renewed.next("presence", 1);
    const forged = await mintAccessToken("some-other-secret-that-nobody-configured-0123", pair.invitee.id);
    expect((await new Client(sessionUrl(app, pair.sessionId, forged)).closed).code).toBe(4003);
    const api = await fetch(`${app.httpUrl}/api/sessions/unread`, { headers: { authorization: `Bearer ${pair.inviter.token}` } });
    expect(api.status).toBe(200);
    previous.close();
    renewed.close();
  });
});
