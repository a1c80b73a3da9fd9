/** /healthz, /readyz and /metrics: what an operator and a load balancer read. */
import { beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join as joinPath } from "node:path";
import {
  Client,
  SECRET,
  createPair,
  createUser,
  describeWithRedis,
  env,
  join,
  sessionUrl,
  spawnServer,
  useServers,
  joinBoth,
} from "./helpers.ts";
import { createLogger } from "../src/observability/log.ts";
import type { App } from "../src/app.ts";
import { VERSION } from "../src/version.ts";

const servers = useServers();

async function metrics(app: App): Promise<Map<string, number>> {
  const res = await fetch(`${app.httpUrl}/metrics`);
  expect(res.headers.get("content-type")).toContain("text/plain");
  const values = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    values.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return values;
}

describe("metrics", () => {
  let app: App;
  beforeAll(async () => {
    app = await servers.start();
  });

  test("every metric docs/operations.md documents is rendered, and every rendered one is documented", async () => {
    const docs = readFileSync(joinPath(import.meta.dir, "..", "docs", "operations.md"), "utf8");
    const table = docs.slice(docs.indexOf("| metric | type | meaning |"));
    const documented = [...table.slice(0, table.indexOf("\n\n")).matchAll(/^ *\| `((?:chat|process)_[a-z_]+)[^`]*` \| (\w+) \|/gm)].map(
      (m) => `${m[1]} ${m[2]}`,
    );
    const text = await (await fetch(`${app.httpUrl}/metrics`)).text();
    const rendered = [...text.matchAll(/^# TYPE (\S+) (\w+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(rendered.sort()).toEqual(documented.sort());
    expect(documented.length).toBeGreaterThan(15);
  });

  test("counters and histograms follow what happens", async () => {
    const before = await metrics(app);
    const pair = await createPair();
    const { a, b } = await joinBoth(app, pair);
    a.send({ type: "message", content: "counted" });
    a.send({ type: "message", content: "" });
    await b.next("message");
    await a.next("error");
    const stranger = await createUser();
    await new Client(sessionUrl(app, pair.sessionId, stranger.token)).closed;
    const after = await metrics(app);
    const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
    expect(delta("chat_messages_received_total")).toBe(1);
    expect(delta("chat_messages_persisted_total")).toBe(1);
    expect(delta("chat_messages_delivered_total")).toBe(1);
    expect(delta('chat_frame_errors_total{code="empty_content"}')).toBe(1);
    expect(delta('chat_connections_refused_total{code="4004"}')).toBe(1);
    expect(delta("chat_connections_opened_total")).toBe(2);
    expect(after.get("chat_open_sockets")).toBe(2);
    expect(after.get("chat_rooms")).toBeGreaterThanOrEqual(1);
    expect(delta("chat_persist_seconds_count")).toBe(1);
    expect(delta("chat_message_seconds_count")).toBe(1);
    expect(after.get('chat_persist_seconds_bucket{le="+Inf"}')).toBe(after.get("chat_persist_seconds_count"));
    expect(after.get("chat_redis_configured")).toBe(0);
    expect(after.get("chat_redis_up")).toBe(0);
    expect(after.get("chat_bridge_unsent")).toBe(0);
    expect(after.get("chat_db_pool_max")).toBe(2);
    expect(after.has("chat_db_writes_pending")).toBe(true);
    await Promise.all([a.close(), b.close()]);
  });

  test("the process: memory, CPU, descriptors, start time, event-loop lag and the build, with sane values", async () => {
    await Bun.sleep(600); // one lag sample
    const values = await metrics(app);
    expect(values.get("process_resident_memory_bytes")).toBeGreaterThan(10 * 1024 * 1024);
    expect(values.get("process_cpu_seconds_total")).toBeGreaterThan(0);
    expect(values.get("process_open_fds")).toBeGreaterThan(3);
    expect(values.get("process_start_time_seconds")).toBeLessThanOrEqual(Date.now() / 1000);
    expect(values.get("chat_event_loop_lag_seconds")).toBeGreaterThanOrEqual(0);
    expect(values.get(`chat_build_info{version="${VERSION}"}`)).toBe(1);
  });

  test("a labelled counter has no sample before its first label (no stray unlabelled series)", async () => {
    const text = await (await fetch(`${app.httpUrl}/metrics`)).text();
    expect(text).not.toMatch(/^chat_sockets_closed_total 0$/m);
    expect(text).not.toMatch(/^chat_notification_deliveries_total 0$/m);
    expect(text).toMatch(/^chat_messages_received_total \d+$/m); // unlabelled ones start at 0
  });

  test("the exposition format is valid Prometheus text: HELP and TYPE before every metric", async () => {
    const text = await (await fetch(`${app.httpUrl}/metrics`)).text();
    const names = new Set<string>();
    for (const line of text.trim().split("\n")) {
      if (line.startsWith("# TYPE ")) names.add(line.split(" ")[2]!);
      else if (!line.startsWith("#")) {
        expect(line).toMatch(/^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+-]+$/);
        const base = line.split(/[{ ]/)[0]!.replace(/_(bucket|sum|count)$/, "");
        expect(names.has(base) || names.has(line.split(/[{ ]/)[0]!)).toBe(true);
      }
    }
  });
});

describeWithRedis("readiness with Redis", () => {
  test("/readyz reports PostgreSQL and Redis; /healthz only the process", async () => {
    const app = await servers.start({ redisUrl: env.redisUrl });
    expect(await (await fetch(`${app.httpUrl}/readyz`)).json()).toEqual({ status: "ok", database: "up", redis: "up" });
    expect(await (await fetch(`${app.httpUrl}/healthz`)).json()).toEqual({ status: "ok", version: VERSION });
    const values = await metrics(app);
    expect(values.get("chat_redis_up")).toBe(1);
    expect(values.get("chat_redis_configured")).toBe(1);
  });
});

describeWithRedis("logs", () => {
  test("one instance id in every line of an instance (sockets and bus alike); an API request line with status and duration, never the token or query; socket closes at info", async () => {
    const child = await spawnServer({
      ...(process.env as Record<string, string>),
      NODE_ENV: "test",
      DATABASE_URL: env.databaseUrl,
      REDIS_URL: env.redisUrl!,
      JWT_SECRET: SECRET,
      LOG_LEVEL: "info",
    });
    try {
      const pair = await createPair();
      const res = await fetch(`${child.at.httpUrl}/api/sessions/unread?secret=do-not-log`, {
        headers: { authorization: `Bearer ${pair.inviter.token}` },
      });
      expect(res.status).toBe(200);
      const c = await join(child.at, pair.sessionId, pair.inviter.token);
      await c.next("presence", 1);
      await c.close();
      await child.printed('"msg":"connection closed"');
      const lines = child
        .output()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const api = lines.find((l) => l.msg === "api request")!;
      expect(api).toMatchObject({ level: "info", method: "GET", path: "/api/sessions/unread", status: 200, user_id: pair.inviter.id });
      expect(typeof api.duration_ms).toBe("number");
      expect(lines.find((l) => l.msg === "connection closed")).toMatchObject({ level: "info" });
      const bridge = lines.find((l) => l.msg === "redis bridge")!;
      const opened = lines.find((l) => l.msg === "connection opened")!;
      expect(bridge.instance).toBeTruthy();
      expect(opened.instance).toBe(bridge.instance);
      expect(child.output()).not.toContain(pair.inviter.token);
      expect(child.output()).not.toContain("do-not-log");
    } finally {
      child.proc.kill("SIGTERM");
      await child.proc.exited;
    }
  });
});

test("an error in a log line keeps its stack", () => {
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => written.push(chunk) > 0) as typeof process.stderr.write;
  try {
    createLogger("info").error("failed", { err: new Error("boom") });
  } finally {
    process.stderr.write = write;
  }
  const line = JSON.parse(written[0]!) as { err: { message: string; stack: string } };
  expect(line.err.message).toBe("boom");
  expect(line.err.stack).toContain("observability.test.ts");
});
