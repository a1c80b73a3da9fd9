/** The client module (src/client) against real servers: acks, reconnection, resume, token refresh. */
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import {
  type ChatClient,
  ChatError,
  type ChatClientOptions,
  type ChatMessage,
  type ConnectionState,
  type PresenceEvent,
  type ReadEvent,
  type ResumedEvent,
  type TypingEvent,
} from "../src/client/index.ts";
import { mintAccessToken } from "../src/auth/tokens.ts";
import type { App } from "../src/app.ts";
import { SECRET, createPair, createUser, db, describeWithRedis, env, settle, useServers, type Pair, type TestUser } from "./helpers.ts";
import { useChatClients } from "./support/chat-clients.ts";

const servers = useServers();
const { chatClient, proxyTo } = useChatClients();

async function until(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

const strictlyIncreasing = (xs: number[]) => xs.every((x, i) => i === 0 || x > xs[i - 1]!);

/** Every message of the burst exactly once: in the send results, for both participants, in the database. */
async function expectDeliveredOnce(pair: Pair, contents: string[], results: ChatMessage[], views: ChatMessage[][]) {
  expect(results.map((m) => m.content)).toEqual(contents);
  expect(new Set(results.map((m) => m.seq)).size).toBe(contents.length);
  expect(new Set(results.map((m) => m.message_id)).size).toBe(contents.length);
  for (const view of views) {
    const burst = view.filter((m) => contents.includes(m.content));
    expect(burst.map((m) => m.content).sort()).toEqual([...contents].sort());
    expect(strictlyIncreasing(view.map((m) => m.seq))).toBe(true);
  }
  const rows = await db`SELECT content, count(*)::int AS n FROM messages WHERE session_id = ${pair.sessionId} GROUP BY content`;
  const stored = new Map(rows.map((r) => [r.content as string, r.n as number]));
  for (const c of contents) expect(stored.get(c)).toBe(1);
}

/** Sends `count` messages, pausing briefly now and then; `cut` runs once, in the middle, and is awaited. */
async function burst(
  client: ChatClient,
  count: number,
  label: string,
  cut: () => void | Promise<void>,
): Promise<{ contents: string[]; results: Promise<ChatMessage[]>; pendingAtCut: number }> {
  const contents = Array.from({ length: count }, (_, i) => `${label} ${i}`);
  const sends: Promise<ChatMessage>[] = [];
  let pendingAtCut = 0;
  for (const [i, content] of contents.entries()) {
    sends.push(client.send(content));
    if (i === Math.floor(count / 2)) {
      pendingAtCut = client.pendingCount;
      await cut();
    }
    if (i % 5 === 4) await Bun.sleep(3);
  }
  return { contents, results: Promise.all(sends), pendingAtCut };
}

describe("one instance", () => {
  let app: App;
  beforeAll(async () => {
    app = await servers.start();
  });

  test("two clients chat: send resolves with the stored message, the other side sees it, typing, read, presence", async () => {
    const pair = await createPair();
    const alex = chatClient(app.httpUrl, pair.sessionId, pair.inviter);
    const sam = chatClient(app.httpUrl, pair.sessionId, pair.invitee);
    await Promise.all([alex.client.connect(), sam.client.connect()]);
    expect(alex.seen.states).toEqual(["connecting", "open"]);

    const sent = await alex.client.send("Let's climb tomorrow!");
    const [row] = await db`SELECT id, seq, client_id FROM messages WHERE session_id = ${pair.sessionId}`;
    expect(sent).toMatchObject({
      message_id: row!.id,
      seq: 1,
      content: "Let's climb tomorrow!",
      sender_id: pair.inviter.id,
      client_id: row!.client_id,
    });
    await until(() => sam.seen.messages.length === 1, "Sam gets the message");
    expect(sam.seen.messages[0]).toEqual(sent);

    const reply = await sam.client.send("Sure, 9 am?");
    expect(reply.seq).toBe(2);
    await until(() => alex.seen.messages.length === 2, "Alex gets the reply");
    expect(alex.seen.messages.map((m) => m.content)).toEqual(["Let's climb tomorrow!", "Sure, 9 am?"]);

    // Typing is debounced: many keystrokes, one `true`; then `false` when stopped.
    for (let i = 0; i < 5; i++) alex.client.typing(true);
    await until(() => sam.seen.typing.length === 1, "typing true");
    alex.client.typing(false);
    await until(() => sam.seen.typing.length === 2, "typing false");
    expect(sam.seen.typing.map((t) => t.is_typing)).toEqual([true, false]);

    sam.client.markRead(2);
    await until(() => alex.seen.read.length === 1, "read mark");
    expect(alex.seen.read[0]).toEqual({ user_id: pair.invitee.id, seq: 2 });
    expect(alex.seen.presence.some((p) => p.user_id === pair.invitee.id && p.online)).toBe(true);

    const page = await alex.client.history({ limit: 1 });
    expect(page.messages.map((m) => m.seq)).toEqual([2]);
    expect(page.has_more).toBe(true);
    expect((await alex.client.history({ before: 2 })).messages.map((m) => m.content)).toEqual(["Let's climb tomorrow!"]);
  });

  test("a message is refused locally when the server would refuse it", async () => {
    const pair = await createPair();
    const alex = chatClient(app.httpUrl, pair.sessionId, pair.inviter);
    await alex.client.connect();
    const tooLong = await alex.client.send("x".repeat(2001)).catch((e: ChatError) => e);
    expect(tooLong).toBeInstanceOf(ChatError);
    expect((tooLong as ChatError).code).toBe("content_too_long");
    expect(((await alex.client.send("   ").catch((e: ChatError) => e)) as ChatError).code).toBe("empty_content");
    expect(await alex.client.send("😀".repeat(2000))).toMatchObject({ seq: 1 });
  });

  test("a send whose client_id is already stored resolves with the original message, shown once", async () => {
    const pair = await createPair();
    const alex = chatClient(app.httpUrl, pair.sessionId, pair.inviter);
    await alex.client.connect();
    const first = await alex.client.send("only once", { clientId: "0b6b5a63-3f7e-4a47-9d43-2a1f0c3a7e11" });
    // As after a lost acknowledgement: the same client_id again, on a new connection.
    const other = chatClient(app.httpUrl, pair.sessionId, pair.inviter);
    await other.client.connect();
    const again = await other.client.send("only once", { clientId: "0b6b5a63-3f7e-4a47-9d43-2a1f0c3a7e11" });
    expect(again).toEqual(first);
    expect(other.seen.messages).toHaveLength(0); // seq 1 is before where this client started
    const [row] = await db`SELECT count(*)::int AS n FROM messages WHERE session_id = ${pair.sessionId}`;
    expect(row!.n).toBe(1);
  });

  test("the connection is cut in the middle of a burst: every send resolves once, each message is delivered and stored once", async () => {
    const pair = await createPair();
    const { proxy, url } = proxyTo(app);
    const alex = chatClient(url, pair.sessionId, pair.inviter);
    const sam = chatClient(app.httpUrl, pair.sessionId, pair.invitee);
    await Promise.all([alex.client.connect(), sam.client.connect()]);

    const { contents, results, pendingAtCut } = await burst(alex.client, 60, "burst", () => {
      proxy.set("down");
      setTimeout(() => proxy.set("up"), 150);
    });
    const resolved = await results;
    expect(pendingAtCut).toBeGreaterThan(0);
    expect(alex.seen.states).toContain("reconnecting");
    await until(() => sam.seen.messages.length >= 60, "Sam gets all 60", 10_000);
    await settle(300);
    await expectDeliveredOnce(pair, contents, resolved, [alex.seen.messages, sam.seen.messages]);
    expect(sam.seen.messages).toHaveLength(60);
  }, 30_000);

  test("resume: messages sent while disconnected arrive after reconnecting, once and in order", async () => {
    const pair = await createPair();
    const { proxy, url } = proxyTo(app);
    const alex = chatClient(app.httpUrl, pair.sessionId, pair.inviter);
    const sam = chatClient(url, pair.sessionId, pair.invitee);
    await Promise.all([alex.client.connect(), sam.client.connect()]);
    await alex.client.send("before 1");
    await alex.client.send("before 2");
    await until(() => sam.seen.messages.length === 2, "the first two");

    proxy.set("down");
    await until(() => sam.client.state === "reconnecting", "Sam notices");
    for (let i = 0; i < 5; i++) await alex.client.send(`away ${i}`);
    proxy.set("up");
    await until(() => sam.client.state === "open" && sam.seen.messages.length >= 7, "the missed five", 10_000);
    await settle(200);
    expect(sam.seen.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(sam.seen.resumed.at(-1)).toMatchObject({ after: 2, replayed: 5, first_seq: 3, last_seq: 7, complete: true });
    expect(sam.client.lastSeq).toBe(7);
  }, 15_000);

  test("rate-limited sends are retried with the same client_id and stored once", async () => {
    const limited = await servers.start({}, { MESSAGE_RATE_PER_SECOND: "10", MESSAGE_BURST: "3" });
    const pair = await createPair();
    // 7 messages over the burst need 0.7 s of refill: a backoff whose 5 retries span at least 0.9 s.
    const alex = chatClient(limited.httpUrl, pair.sessionId, pair.inviter, { backoff: { initialMs: 200, maxMs: 800 } });
    await alex.client.connect();
    const contents = Array.from({ length: 10 }, (_, i) => `quick ${i}`);
    const resolved = await Promise.all(contents.map((c) => alex.client.send(c)));
    expect(limited.metrics.frameErrors.get({ code: "rate_limited" })).toBeGreaterThan(0);
    await expectDeliveredOnce(pair, contents, resolved, [alex.seen.messages]);
  }, 15_000);

  test("a 4004 refusal ends the client: no reconnection loop", async () => {
    const pair = await createPair();
    const outsider = await createUser("Outsider");
    const openedBefore = app.metrics.connectionsOpened.get();

    // Asking for a connect ticket (a known starting point skips the history request): a 403 is a 4004.
    const ws = chatClient(app.httpUrl, pair.sessionId, outsider);
    const error = await ws.client.connect({ after: 0 }).catch((e: ChatError) => e);
    expect(error).toBeInstanceOf(ChatError);
    expect((error as ChatError).details).toMatchObject({ closeCode: 4004, status: 403 });
    // Before connecting the client asks the history API where the session ends: a 403 means the same.
    const http = chatClient(app.httpUrl, pair.sessionId, outsider);
    const viaHttp = await http.client.connect().catch((e: ChatError) => e);
    expect((viaHttp as ChatError).details).toMatchObject({ closeCode: 4004, status: 403 });

    await Bun.sleep(1000);
    expect(app.metrics.connectionsOpened.get() - openedBefore).toBe(0);
    for (const { client, seen } of [ws, http]) {
      expect(client.state).toBe("closed");
      expect(seen.states).toEqual(["connecting", "closed"]);
      expect(seen.errors).toHaveLength(1);
    }
    expect(((await ws.client.send("hello").catch((e: ChatError) => e)) as ChatError).code).toBe("closed");
  });

  test("a token that stays invalid ends the client after one fresh try", async () => {
    const pair = await createPair();
    let calls = 0;
    const bad = chatClient(app.httpUrl, pair.sessionId, pair.inviter, {
      getToken: () => {
        calls++;
        return "not-a-jwt";
      },
    });
    const error = (await bad.client.connect({ after: 0 }).catch((e: ChatError) => e)) as ChatError;
    expect(error.details.closeCode).toBe(4003);
    expect(calls).toBe(2);
    await Bun.sleep(500);
    expect(calls).toBe(2);
  });
});

describe("short-lived tokens", () => {
  test("the token is refreshed in-band before it expires: the connection never drops", async () => {
    const app = await servers.start({}, { JWT_CLOCK_SKEW_SECONDS: "0" });
    const pair = await createPair();
    const minted: { at: number; exp: number }[] = [];
    const getToken = async () => {
      const token = await mintAccessToken(SECRET, pair.inviter.id, 3);
      minted.push({ at: Date.now(), exp: JSON.parse(atob(token.split(".")[1]!)).exp * 1000 });
      return token;
    };
    const opensBefore = app.metrics.connectionsOpened.get();
    const alex = chatClient(app.httpUrl, pair.sessionId, pair.inviter, { getToken });
    await alex.client.connect();
    await Bun.sleep(6500); // two tokens' lifetimes: without a refresh the server closes with 4003 at the first exp
    expect(alex.seen.states).toEqual(["connecting", "open"]);
    expect(app.metrics.connectionsOpened.get() - opensBefore).toBe(1);
    expect(app.metrics.socketsClosedByServer.get({ code: "4003" })).toBe(0);
    expect(minted.length).toBeGreaterThanOrEqual(3);
    // Each new token was asked for before the previous one expired.
    for (let i = 1; i < minted.length; i++) expect(minted[i]!.at).toBeLessThan(minted[i - 1]!.exp);
    expect(await alex.client.send("still here")).toMatchObject({ seq: 1 });
  }, 15_000);
});

describeWithRedis("across two instances", () => {
  test("an instance stops in the middle of a burst: the client moves to the other one, nothing lost or doubled", async () => {
    const a = await servers.start({ redisUrl: env.redisUrl });
    const b = await servers.start({ redisUrl: env.redisUrl });
    const pair = await createPair();
    let aStopped = false;
    const alex = chatClient(() => (aStopped ? b.httpUrl : a.httpUrl), pair.sessionId, pair.inviter);
    const sam = chatClient(b.httpUrl, pair.sessionId, pair.invitee);
    await Promise.all([alex.client.connect(), sam.client.connect()]);

    // The stop drains A's writes before closing with 1001: what was in flight is acknowledged by A, and
    // the rest of the burst, sent while the client moves, goes to B.
    const { contents, results, pendingAtCut } = await burst(alex.client, 60, "rolling", async () => {
      aStopped = true;
      void a.stop();
      // The drain waits for the writes in flight, each bounded by DB_WRITE_TIMEOUT_MS (5 s): under load the 1001 comes that late.
      // The recorded states, not the current one: the reconnect after a 1001 can be over between two polls.
      await until(() => alex.seen.states.includes("reconnecting"), "the client notices the stop", 10_000);
    });
    const resolved = await results;
    expect(pendingAtCut).toBeGreaterThan(0);
    expect(alex.seen.states).toEqual(["connecting", "open", "reconnecting", "open"]);
    expect(b.metrics.messagesPersisted.get()).toBeGreaterThan(0);
    await until(() => sam.seen.messages.length >= 60, "Sam gets all 60", 10_000);
    await settle(300);
    await expectDeliveredOnce(pair, contents, resolved, [alex.seen.messages, sam.seen.messages]);
    expect(sam.seen.messages).toHaveLength(60);
  }, 30_000);
});
