/**
 * Redis as users outgrow one server: a Redis Cluster (3 masters, 1 replica each) started by the test
 * on loopback, found from one seed URL; a master killed under load (failover); TLS and an ACL user as
 * managed Redis offers them; a clear start-up error when Redis refuses the credentials.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";
import { type Client, MAIN, SECRET, createPair, db, describeWhen, env, join, settle, useServers, type Pair } from "./helpers.ts";
import { OwnCluster, OwnRedis, REDIS_CLI, REDIS_SERVER, freePort } from "./redis-servers.ts";
import { connectRedis } from "../src/bus/redis-connect.ts";
import { RedisPresence } from "../src/bus/redis-presence.ts";
import { createLogger } from "../src/observability/log.ts";
import type { App } from "../src/app.ts";

const servers = useServers();
const haveRedis = REDIS_SERVER !== null && REDIS_CLI !== null;
const seqs = (c: Client) => c.of("message").map((m) => m.seq as number);
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describeWhen(haveRedis, "on a Redis Cluster", "install redis-server and redis-cli (apt-get install -y redis-server)", () => {
  const cluster = new OwnCluster(3, 1);
  let a: App;
  let b: App;
  beforeAll(async () => {
    await cluster.start();
    // Each instance is given a different node as its only seed: the rest is discovered.
    a = await servers.start({ redisUrl: cluster.nodes[0]!.url });
    b = await servers.start({ redisUrl: cluster.nodes[1]!.url });
  }, 60_000);
  afterAll(() => cluster.remove());

  test("cluster mode is detected from one node's URL; messages and typing cross for sessions on every shard", async () => {
    const pairs = await Promise.all(Array.from({ length: 12 }, () => createPair()));
    const shards = new Set(await Promise.all(pairs.map(async (p) => (await cluster.masterOf(`chat:{${p.sessionId}}`)).port)));
    expect(shards.size).toBeGreaterThan(1);
    for (const pair of pairs) {
      const onA = await join(a, pair.sessionId, pair.inviter.token);
      await onA.next("presence", 1); // its snapshot: the invitee is not there yet
      const onB = await join(b, pair.sessionId, pair.invitee.token);
      onA.send({ type: "message", content: "from A" });
      onB.send({ type: "typing", is_typing: true });
      expect((await onB.next("message")).content).toBe("from A");
      expect(await onA.next("typing")).toMatchObject({ sender_id: pair.invitee.id });
      onB.send({ type: "message", content: "from B" });
      expect((await onA.next("message", 1)).content).toBe("from B");
      expect(await onA.next("presence", 2)).toMatchObject({ user_id: pair.invitee.id, online: true });
      // Each session's channel is subscribed on the master that owns its slot, by both instances.
      const owner = await cluster.masterOf(`chat:{${pair.sessionId}}`);
      expect(await shardSubscribers(owner.port, `chat:{${pair.sessionId}}`)).toBe(2);
      await onB.close();
      expect(await onA.next("presence", 3)).toMatchObject({ user_id: pair.invitee.id, online: false });
      await onA.close();
    }
    const ready = (await (await fetch(`${a.httpUrl}/readyz`)).json()) as { redis: string };
    expect(ready.redis).toBe("up");
  }, 60_000);

  test("presence's scripts and keys stay within one slot per call (a cross-slot command would fail here)", async () => {
    const connections = await connectRedis({ url: cluster.url, clusterNodes: null, tlsCaFile: null }, createLogger("silent"));
    expect(connections.mode).toBe("cluster");
    while (connections.commands.status !== "ready") await Bun.sleep(20);
    const presence = new RedisPresence(connections.commands, "probe-instance", 1000, createLogger("silent"));
    try {
      for (let i = 0; i < 12; i++) {
        const sessionId = crypto.randomUUID();
        expect(await presence.arrive(sessionId, "u1")).toMatchObject({ online: true });
        expect(await presence.arrive(sessionId, "u2")).toMatchObject({ online: true });
        expect([...(await presence.states(sessionId)).keys()].sort()).toEqual(["u1", "u2"]);
        expect(await presence.depart(sessionId, "u1")).toMatchObject({ online: false });
      }
    } finally {
      await presence.close();
      connections.commands.disconnect();
      connections.subscriber.disconnect();
    }
  });

  test("a burst of 300 messages from each side arrives once each, in the same seq order, on both instances", async () => {
    const pair = await createPair();
    const onA = await join(a, pair.sessionId, pair.inviter.token);
    const onB = await join(b, pair.sessionId, pair.invitee.token);
    for (let i = 0; i < 300; i++) {
      onA.send({ type: "message", content: `a${i}` });
      onB.send({ type: "message", content: `b${i}` });
    }
    for (const c of [onA, onB]) await c.until((f) => f.filter((x) => x.type === "message").length >= 600, "600 messages", 20_000);
    await settle(300);
    for (const c of [onA, onB]) expect(seqs(c)).toEqual(range(600));
    await Promise.all([onA.close(), onB.close()]);
  }, 30_000);

  test("a master killed under cross-instance load: its replica takes over, /readyz says degraded then ok, nothing acknowledged is lost, doubled or reordered", async () => {
    const pairs: Pair[] = await Promise.all(Array.from({ length: 6 }, () => createPair()));
    const victim = await cluster.masterOf(`chat:{${pairs[0]!.sessionId}}`);
    const sockets = await Promise.all(
      pairs.map(async (pair) => ({
        pair,
        onA: await join(a, pair.sessionId, pair.inviter.token),
        onB: await join(b, pair.sessionId, pair.invitee.token),
      })),
    );
    let sending = true;
    let sent = 0;
    const load = (async () => {
      for (let i = 0; sending; i++) {
        for (const { onA, onB } of sockets) (i % 2 ? onA : onB).send({ type: "message", content: `m${i}`, client_id: crypto.randomUUID() });
        sent += sockets.length;
        await Bun.sleep(20);
      }
    })();
    await Bun.sleep(500);
    const killedAt = Date.now();
    await victim.stop();
    const survivors = cluster.nodes.filter((n) => n !== victim);
    const states: string[] = [];
    let recoveredAt = 0;
    while (Date.now() - killedAt < 20_000) {
      const [ra, rb] = await Promise.all(
        [a, b].map(async (app) => ((await (await fetch(`${app.httpUrl}/readyz`)).json()) as { status: string }).status),
      );
      states.push(`${ra}/${rb}`);
      if (states.some((st) => st.includes("degraded")) && ra === "ok" && rb === "ok") {
        recoveredAt = Date.now();
        break;
      }
      await Bun.sleep(100);
    }
    await cluster.waitHealthy(20_000, survivors);
    await Bun.sleep(1000);
    sending = false;
    await load;
    expect(states.some((st) => st.includes("degraded"))).toBe(true);
    expect(recoveredAt).toBeGreaterThan(0);
    console.log(`failover: ${sent} messages sent across the gap, ready again ${recoveredAt - killedAt} ms after the kill`);

    for (const { pair, onA, onB } of sockets) {
      const [row] = await db`SELECT count(*)::int AS n FROM messages WHERE session_id = ${pair.sessionId}`;
      for (const c of [onA, onB]) {
        await c.until((f) => f.filter((x) => x.type === "message").length >= row!.n, `${row!.n} messages`, 10_000);
        await settle(100);
        expect(seqs(c)).toEqual(range(row!.n));
        expect(c.of("error")).toEqual([]);
      }
      // Every acknowledged message (its broadcast came back to its sender) is stored and was delivered to the other side.
      const contents = (c: Client) => c.of("message").map((m) => `${m.sender_id}:${m.client_id}`);
      expect(contents(onA)).toEqual(contents(onB));
      await Promise.all([onA.close(), onB.close()]);
    }
  }, 90_000);
});

describeWhen(haveRedis, "managed-Redis basics: TLS, an ACL user, refused credentials", "install redis-server and redis-cli", () => {
  const dir = mkdtempSync(joinPath(tmpdir(), "chat-redis-tls-"));
  const ca = joinPath(dir, "cert.pem");
  const key = joinPath(dir, "key.pem");
  const tlsPort = freePort();
  const tls = new OwnRedis(
    tlsPort,
    [
      "--port",
      "0",
      "--tls-port",
      String(tlsPort),
      "--tls-cert-file",
      ca,
      "--tls-key-file",
      key,
      "--tls-ca-cert-file",
      ca,
      "--tls-auth-clients",
      "no",
    ],
    ["--tls", "--cacert", ca],
  );
  // The least the service needs: its own keys and channels, pub/sub, scripts, and the few commands ioredis sends.
  const acl = new OwnRedis(
    freePort(),
    [
      "--user",
      "default",
      "off",
      "--user",
      "chat",
      "on",
      ">s3cret-pass",
      "~chat:*",
      "&chat:*",
      "-@all",
      "+@connection",
      "+@pubsub",
      "+@scripting",
      "+info",
      "+hgetall",
      // what the presence scripts call
      "+zadd",
      "+zrem",
      "+zrangebyscore",
      "+zremrangebyscore",
      "+hget",
      "+hset",
      "+pexpire",
      "+exists",
      "+time",
    ],
    ["--user", "chat", "--pass", "s3cret-pass", "--no-auth-warning"],
  );
  beforeAll(async () => {
    const made = Bun.spawnSync(
      [
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        key,
        "-out",
        ca,
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
      ],
      { stderr: "pipe" },
    );
    if (made.exitCode !== 0) throw new Error(`openssl failed: ${made.stderr.toString()}`);
    await Promise.all([tls.start(), acl.start()]);
  }, 30_000);
  afterAll(async () => {
    await Promise.all([tls.remove(), acl.remove()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const crossInstance = async (a: App, b: App) => {
    const pair = await createPair();
    const onA = await join(a, pair.sessionId, pair.inviter.token);
    const onB = await join(b, pair.sessionId, pair.invitee.token);
    onA.send({ type: "message", content: "across" });
    expect((await onB.next("message")).content).toBe("across");
    await Promise.all([onA.close(), onB.close()]);
  };

  test("rediss:// with REDIS_TLS_CA_FILE: instances bridge over TLS; without the CA the certificate is refused", async () => {
    const url = `rediss://127.0.0.1:${tlsPort}`;
    const [a, b] = await Promise.all([
      servers.start({ redisUrl: url, redisTlsCaFile: ca }),
      servers.start({ redisUrl: url, redisTlsCaFile: ca }),
    ]);
    expect(((await (await fetch(`${a.httpUrl}/readyz`)).json()) as { redis: string }).redis).toBe("up");
    await crossInstance(a, b);
    const untrusting = await servers.start({ redisUrl: url });
    expect(((await (await fetch(`${untrusting.httpUrl}/readyz`)).json()) as { status: string }).status).toBe("degraded");
  }, 30_000);

  test("an ACL user and password in the URL, limited to the service's keys, channels and commands", async () => {
    const url = `redis://chat:s3cret-pass@127.0.0.1:${acl.port}`;
    const [a, b] = await Promise.all([servers.start({ redisUrl: url }), servers.start({ redisUrl: url })]);
    await crossInstance(a, b);
    const pair = await createPair();
    const onA = await join(a, pair.sessionId, pair.inviter.token);
    await onA.next("presence", 1);
    const onB = await join(b, pair.sessionId, pair.invitee.token);
    expect(await onA.next("presence", 2)).toMatchObject({ user_id: pair.invitee.id, online: true });
    await Promise.all([onA.close(), onB.close()]);
  });

  test("refused credentials stop the start with a message naming REDIS_URL, never the password", async () => {
    const wrong = `redis://chat:not-the-password@127.0.0.1:${acl.port}`;
    const refused = await servers.start({ redisUrl: wrong }).then(
      () => null,
      (err: Error) => err,
    );
    expect(refused?.name).toBe("RedisAuthError");
    expect(refused?.message).toContain("REDIS_URL");
    expect(refused?.message).not.toContain("not-the-password");
    const child = Bun.spawn(["bun", MAIN, "serve"], {
      env: {
        ...(process.env as Record<string, string>),
        NODE_ENV: "test",
        PORT: "0",
        DATABASE_URL: env.databaseUrl,
        JWT_SECRET: SECRET,
        REDIS_URL: wrong,
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    expect(code).toBe(1);
    expect(out + err).toContain("Redis refused the credentials given in REDIS_URL");
    expect(out + err).not.toContain("not-the-password");
  }, 30_000);
});

/** Subscribers of a sharded channel on one node (PUBSUB SHARDNUMSUB). */
async function shardSubscribers(port: number, channel: string): Promise<number> {
  const p = Bun.spawn([REDIS_CLI!, "-p", String(port), "pubsub", "shardnumsub", channel], { stdout: "pipe" });
  const lines = (await new Response(p.stdout).text()).trim().split("\n");
  return Number(lines[1]);
}
