/**
 * Limits beyond one socket, each against a real server started with that limit set small: requests
 * and upgrades per IP address (and whose address it is behind a proxy), HTTP API requests per user,
 * connection attempts per user, one message budget for all of a user's sockets, the byte cap of a
 * history page. Pure parts (buckets, client addresses, API slots, pending writes per user) also get
 * unit tests here.
 */
import { describe, expect, test } from "bun:test";
import { Client, createPair, createUser, db, join, sessionUrl, useServers, waitFor } from "./helpers.ts";
import { KeyedBuckets } from "../src/transport/rate-limit.ts";
import { clientIp, ipLimitKey } from "../src/transport/client-ip.ts";
import { parseTrustedProxies, type TrustedProxies } from "../src/config/trusted-proxies.ts";
import { RequestLimits } from "../src/transport/request-limits.ts";
import { loadConfig } from "../src/config/config.ts";
import { ChatService } from "../src/chat/chat-service.ts";
import { LocalBus } from "../src/bus/local-bus.ts";
import { LocalPresence } from "../src/bus/local-presence.ts";
import { Metrics } from "../src/observability/metrics.ts";
import { createLogger } from "../src/observability/log.ts";
import type { Appended } from "../src/chat/ports.ts";
import { MemoryStore } from "./support/memory-store.ts";

const servers = useServers();

const unread = (base: string, token: string, headers: Record<string, string> = {}) =>
  fetch(`${base}/api/sessions/unread`, { headers: { authorization: `Bearer ${token}`, ...headers } });

describe("per IP address (IP_RATE_PER_SECOND=1, IP_BURST=3)", () => {
  test("API requests and upgrades share the address's budget, refused with 429 and Retry-After before any authentication", async () => {
    const app = await servers.start({}, { IP_RATE_PER_SECOND: "1", IP_BURST: "3" });
    const user = await createUser();
    const pair = await createPair();
    const statuses = [];
    for (let i = 0; i < 2; i++) statuses.push((await unread(app.httpUrl, user.token)).status);
    statuses.push((await unread(app.httpUrl, "not-even-a-token")).status);
    const refused = await unread(app.httpUrl, user.token);
    expect(statuses).toEqual([200, 200, 401]);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const upgrade = await fetch(sessionUrl(app, pair.sessionId, pair.inviter.token).replace("ws:", "http:"), {
      headers: {
        upgrade: "websocket",
        connection: "upgrade",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      },
    });
    expect(upgrade.status).toBe(429);
    await Bun.sleep(1100);
    expect((await unread(app.httpUrl, user.token)).status).toBe(200);
  });

  test("X-Forwarded-For is believed only from a TRUST_PROXY address", async () => {
    const user = await createUser();
    const direct = await servers.start({}, { IP_RATE_PER_SECOND: "1", IP_BURST: "1" });
    expect((await unread(direct.httpUrl, user.token, { "x-forwarded-for": "203.0.113.1" })).status).toBe(200);
    expect((await unread(direct.httpUrl, user.token, { "x-forwarded-for": "203.0.113.2" })).status).toBe(429); // spoofed: same peer

    const proxied = await servers.start({}, { IP_RATE_PER_SECOND: "1", IP_BURST: "1", TRUST_PROXY: "127.0.0.1" });
    expect((await unread(proxied.httpUrl, user.token, { "x-forwarded-for": "203.0.113.1" })).status).toBe(200);
    expect((await unread(proxied.httpUrl, user.token, { "x-forwarded-for": "203.0.113.2" })).status).toBe(200);
    expect((await unread(proxied.httpUrl, user.token, { "x-forwarded-for": "198.51.100.7, 203.0.113.1" })).status).toBe(429);
    // IPv6: one budget per /64, whatever address of it a client picks.
    expect((await unread(proxied.httpUrl, user.token, { "x-forwarded-for": "2001:db8:1:2::1" })).status).toBe(200);
    expect((await unread(proxied.httpUrl, user.token, { "x-forwarded-for": "2001:db8:1:2:ffff:0:abcd:9" })).status).toBe(429);
    expect((await unread(proxied.httpUrl, user.token, { "x-forwarded-for": "2001:db8:1:3::1" })).status).toBe(200);
  });
});

describe("per user", () => {
  test("API requests: API_RATE_PER_SECOND=1, API_BURST=2; another user is unaffected", async () => {
    const app = await servers.start({}, { API_RATE_PER_SECOND: "1", API_BURST: "2" });
    const [greedy, other] = await Promise.all([createUser(), createUser()]);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await unread(app.httpUrl, greedy.token)).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect((await unread(app.httpUrl, other.token)).status).toBe(200);
  });

  test("connection attempts: CONNECT_RATE_PER_SECOND=1, CONNECT_BURST=2; the third is closed with 4102, another user connects", async () => {
    const app = await servers.start({}, { CONNECT_RATE_PER_SECOND: "1", CONNECT_BURST: "2" });
    const pair = await createPair();
    const first = await join(app, pair.sessionId, pair.inviter.token);
    await first.close();
    const second = await join(app, pair.sessionId, pair.inviter.token);
    const third = new Client(sessionUrl(app, pair.sessionId, pair.inviter.token));
    expect(await third.closed).toEqual({ code: 4102, reason: "too many connection attempts, reconnect later" });
    const other = await join(app, pair.sessionId, pair.invitee.token);
    expect((await other.next("presence")).type).toBe("presence");
    await Promise.all([second.close(), other.close()]);
  });

  test("twenty sockets of one user share one message budget (USER_MESSAGE_RATE_PER_SECOND=20, USER_MESSAGE_BURST=60)", async () => {
    const app = await servers.start({}, { USER_MESSAGE_RATE_PER_SECOND: "20", USER_MESSAGE_BURST: "60" });
    const pair = await createPair();
    const tabs = await Promise.all(Array.from({ length: 20 }, () => join(app, pair.sessionId, pair.inviter.token)));
    const started = Date.now();
    for (const tab of tabs) for (let i = 0; i < 30; i++) tab.send({ type: "message", content: `m${i}` });
    await tabs[0]!.until((f) => f.filter((x) => x.type === "message").length >= 60, "the allowed messages", 10_000);
    const stored = async () => (await db`SELECT count(*)::int AS n FROM messages WHERE session_id = ${pair.sessionId}`)[0]!.n as number;
    const refusals = () => tabs.reduce((n, t) => n + t.of("error").filter((e) => e.code === "rate_limited").length, 0);
    await waitFor("every one of the 600 sends to be stored or refused", async () => refusals() + (await stored()) >= 600, 10_000);
    const elapsed = (Date.now() - started) / 1000;
    const [row] = await db`SELECT count(*)::int AS n FROM messages WHERE session_id = ${pair.sessionId}`;
    expect(row!.n).toBeGreaterThanOrEqual(60);
    expect(row!.n).toBeLessThanOrEqual(60 + Math.ceil(20 * elapsed));
    const refused = refusals();
    expect(refused + row!.n).toBe(600);
    await Promise.all(tabs.map((t) => t.close()));
  }, 20_000);
});

describe("history pages are capped in bytes (HISTORY_PAGE_MAX_BYTES=16384)", () => {
  test("big messages come a few per page, has_more stays truthful, and paging returns each once", async () => {
    const app = await servers.start({}, { HISTORY_PAGE_MAX_BYTES: "16384" });
    const pair = await createPair();
    const a = await join(app, pair.sessionId, pair.inviter.token);
    const big = (i: number) => `${i} ${"🧗".repeat(1990)}`; // ~8 KB of UTF-8 each
    for (let i = 1; i <= 6; i++) a.send({ type: "message", content: big(i) });
    await a.until((f) => f.filter((x) => x.type === "message").length === 6, "6 messages");
    const page = async (query: string) => {
      const res = await fetch(`${app.httpUrl}/api/sessions/${pair.sessionId}/messages?${query}`, {
        headers: { authorization: `Bearer ${pair.invitee.token}` },
      });
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text.length).toBeLessThanOrEqual(16384 + 1024);
      return JSON.parse(text) as {
        messages: { seq: number; content: string }[];
        has_more: boolean;
        cursors: { before: number | null; after: number | null };
      };
    };
    const newest = await page("limit=50");
    expect(newest.messages.map((m) => m.seq)).toEqual([6]);
    expect(newest.has_more).toBe(true);
    const seen = [...newest.messages];
    for (let p = newest; p.has_more; ) {
      p = await page(`limit=50&before=${p.cursors.before}`);
      seen.unshift(...p.messages);
    }
    expect(seen.map((m) => [m.seq, m.content])).toEqual([1, 2, 3, 4, 5, 6].map((i) => [i, big(i)]));
    const forwards = await page("limit=50&after=2");
    expect(forwards.messages.map((m) => m.seq)).toEqual([3]);
    expect(forwards.has_more).toBe(true);
    await a.close();
  });
});

describe("units", () => {
  test("a keyed bucket allows the burst per key, then tells how long to wait", () => {
    const buckets = new KeyedBuckets(2, 3);
    expect([1, 2, 3, 4].map(() => buckets.take("a"))).toEqual([0, 0, 0, expect.any(Number)]);
    expect(buckets.take("a")).toBeGreaterThan(0);
    expect(buckets.take("a")).toBeLessThanOrEqual(0.5);
    expect(buckets.take("b")).toBe(0);
  });

  test("a keyed bucket refills at its rate; keys whose bucket is full again are forgotten as others are used", async () => {
    const buckets = new KeyedBuckets(200, 2);
    expect([1, 2, 3].map(() => buckets.take("a"))).toEqual([0, 0, expect.any(Number)]);
    await Bun.sleep(6); // one token back (5 ms each), not two
    expect([buckets.take("a"), buckets.take("a")]).toEqual([0, expect.any(Number)]);
    for (let i = 0; i < 9; i++) buckets.take(`k${i}`);
    expect(buckets.size).toBe(10);
    await Bun.sleep(15); // every bucket full again
    for (let i = 0; i < 5; i++) buckets.take(`new${i}`); // each forgets up to two full ones
    expect(buckets.size).toBe(5);
    expect(buckets.take("a")).toBe(0); // forgotten means full: a whole burst again
    expect(buckets.take("a")).toBe(0);
  });

  test("keyed buckets never hold more than maxKeys keys", () => {
    const buckets = new KeyedBuckets(1, 1, 100);
    for (let i = 0; i < 1000; i++) buckets.take(`ip-${i}`);
    expect(buckets.size).toBeLessThanOrEqual(100);
  });

  test("the client address: the peer, or behind trusted proxies the rightmost untrusted X-Forwarded-For hop", () => {
    const trusted = parseTrustedProxies(["10.0.0.0/8", "::1"]) as TrustedProxies;
    expect(clientIp("203.0.113.9", "1.2.3.4", trusted)).toBe("203.0.113.9");
    expect(clientIp("10.1.2.3", "1.2.3.4", trusted)).toBe("1.2.3.4");
    expect(clientIp("::ffff:10.1.2.3", "6.6.6.6, 1.2.3.4, 10.9.9.9", trusted)).toBe("1.2.3.4");
    expect(clientIp("::1", null, trusted)).toBe("::1");
    expect(clientIp("10.1.2.3", "1.2.3.4", null)).toBe("10.1.2.3");
    expect(parseTrustedProxies(["10.0.0.0/33"])).toBeTypeOf("string");
    expect(parseTrustedProxies(["proxy.example"])).toBeTypeOf("string");
  });

  test("per-IP limits key an IPv6 client by its /64 and an IPv4 one by its address", () => {
    expect(ipLimitKey("203.0.113.9")).toBe("203.0.113.9");
    expect(ipLimitKey("2001:db8:1:2::1")).toBe("2001:db8:1:2::/64");
    expect(ipLimitKey("2001:0DB8:0001:0002:ffff:0:abcd:9")).toBe("2001:db8:1:2::/64");
    expect(ipLimitKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(ipLimitKey("::1")).toBe("0:0:0:0::/64");
    expect(ipLimitKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(ipLimitKey("64:ff9b::192.0.2.1")).toBe("64:ff9b:0:0::/64");
    expect(ipLimitKey("not:an:address::zz")).toBe("not:an:address::zz"); // kept whole: never merged with others
  });

  test("API slots per user: at the concurrency bound a request is refused at once, and the slot frees after", async () => {
    const limits = new RequestLimits(loadConfig({ API_CONCURRENCY_PER_USER: "1" }).limits, null);
    let release!: () => void;
    const first = limits.inSlot("u", () => new Promise<string>((resolve) => (release = () => resolve("first"))));
    expect(await limits.inSlot("u", async () => "second")).toBeNull();
    expect(await limits.inSlot("other", async () => "other user")).toBe("other user");
    release();
    expect(await first).toBe("first");
    expect(await limits.inSlot("u", async () => "third")).toBe("third");
  });

  test("one user cannot hold more than maxPendingPerUser messages waiting for the store", async () => {
    const waiting: (() => void)[] = [];
    // Appends wait until the test releases them (each fails then).
    const store = new (class extends MemoryStore {
      override append() {
        return new Promise<Appended>((_, reject) => waiting.push(() => reject(new Error("released"))));
      }
    })();
    const chat = new ChatService({
      store,
      bus: new LocalBus(),
      presence: new LocalPresence(),
      fanout: () => {},
      log: createLogger("silent"),
      metrics: new Metrics(),
      maxPendingPerUser: 2,
    });
    const sent: string[] = [];
    const conn = {
      send: (f: string) => void sent.push(f),
      cork: (sends: () => void) => sends(),
      subscribe() {},
      unsubscribe() {},
      getBufferedAmount: () => 0,
    };
    const user = { userId: "u1", displayName: "U" };
    const member = {
      user,
      session: {
        sessionId: "s",
        inviter: user,
        invitee: { userId: "u2", displayName: "V" },
        lastSeq: 0,
        lastChange: 0,
        readMarks: { inviter: 0, invitee: 0 },
      },
    };
    const sends = [1, 2, 3].map((i) =>
      chat.handle(conn, member, { type: "message", content: `m${i}`, client_id: `00000000-0000-4000-8000-00000000000${i}` }),
    );
    await sends[2];
    // The first two are handed to the store in the socket's turn, a few microtasks later.
    await Bun.sleep(0);
    expect(waiting).toHaveLength(2);
    expect(JSON.parse(sent[0]!)).toMatchObject({ type: "error", code: "rate_limited", client_id: "00000000-0000-4000-8000-000000000003" });
    for (const release of waiting.splice(0)) release();
    await Promise.all(sends);
    void chat.handle(conn, member, { type: "message", content: "m4" }); // a slot is free again
    await Bun.sleep(0);
    expect(waiting).toHaveLength(1);
    waiting[0]!();
  });
});
