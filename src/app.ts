/**
 * The composition root: the only module that knows every part. It picks the store (PostgreSQL, or
 * the embedded PGlite) and the bus (Redis, or in-process), wires them into the chat service and the
 * HTTP/WebSocket server, and owns the order of start-up and shutdown.
 */
import type { Server } from "bun";
import type { Config } from "./config/config.ts";
import type { Bus } from "./chat/ports.ts";
import { ChatService } from "./chat/chat-service.ts";
import { hs256Verifier } from "./auth/tokens.ts";
import { LocalBus } from "./bus/local-bus.ts";
import { RedisBus } from "./bus/redis-bus.ts";
import { LocalPresence } from "./bus/local-presence.ts";
import { RedisPresence } from "./bus/redis-presence.ts";
import { connect, PostgresStore } from "./store/postgres-store.ts";
import { migrate } from "./store/migrations.ts";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "./store/embedded-postgres.ts";
import { startHttpServer } from "./transport/http-server.ts";
import type { SocketData } from "./transport/websocket.ts";
import { CloseCode, CloseReason } from "./protocol/codes.ts";
import type { Logger } from "./observability/log.ts";
import { provisionDemo } from "./cli/demo.ts";
import type { Sql } from "postgres";

export type App = {
  server: Server<SocketData>;
  /** ws:// base URL, e.g. ws://127.0.0.1:8000 */
  wsUrl: string;
  httpUrl: string;
  store: PostgresStore;
  bus: Bus;
  chat: ChatService;
  /** Graceful: refuse upgrades, finish writes, close sockets with 1001, close PostgreSQL and Redis. */
  stop(): Promise<void>;
};

export async function startApp(config: Config, log: Logger): Promise<App> {
  let embedded: EmbeddedPostgres | null = null;
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    embedded = await startEmbeddedPostgres(config.embeddedDbDir);
    databaseUrl = embedded.url;
    log.info("using embedded PostgreSQL (PGlite)", { dir: config.embeddedDbDir });
  }
  const sql = connect({ url: databaseUrl, poolMax: embedded ? 1 : config.databasePoolMax });
  const bus = config.redisUrl ? new RedisBus(config.redisUrl, log) : new LocalBus();
  try {
    return await wire(config, log, sql, bus, embedded);
  } catch (err) {
    await bus.close();
    await sql.end({ timeout: 1 });
    await embedded?.stop();
    throw err;
  }
}

async function wire(config: Config, log: Logger, sql: Sql, bus: Bus, embedded: EmbeddedPostgres | null): Promise<App> {
  const applied = await migrate(sql);
  if (applied.length > 0) log.info("migrations applied", { versions: applied });
  const store = new PostgresStore(sql);
  if (bus instanceof RedisBus) {
    await bus.ready().catch(() => log.warn("redis not reachable at start-up: running degraded until it is"));
  }

  const presence = bus instanceof RedisBus ? new RedisPresence(bus.commands, bus.origin, config.presenceTtlMs, log) : new LocalPresence();
  let server: Server<SocketData> | null = null;
  const chat = new ChatService({ store, bus, presence, fanout: (topic, frame) => server?.publish(topic, frame), log });
  let accepting = true;
  const http = startHttpServer({
    host: config.host,
    port: config.port,
    store,
    bus,
    chat,
    verify: hs256Verifier(config.jwtSecret),
    log,
    limits: {
      maxFrameBytes: config.maxFrameBytes,
      idleTimeoutSeconds: config.idleTimeoutSeconds,
      backpressureLimitBytes: config.backpressureLimitBytes,
    },
    accepting: () => accepting,
    devRoute: config.env === "development" ? (req, url, srv) => demoRoute(req, url, srv, sql, config.jwtSecret) : undefined,
  });
  server = http.server;
  const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  const base = `${host}:${server.port}`;

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      accepting = false;
      await store.drainWrites();
      for (const ws of http.sockets) ws.close(CloseCode.GoingAway, CloseReason[CloseCode.GoingAway]);
      await http.server.stop(true);
      await presence.close();
      await bus.close();
      await store.close();
      await embedded?.stop();
    })());

  return { server: http.server, wsUrl: `ws://${base}`, httpUrl: `http://${base}`, store, bus, chat, stop };
}

/** `POST /dev/demo` from this machine only: what `bun run cli demo` asks when the database is embedded. */
async function demoRoute(req: Request, url: URL, server: Server<SocketData>, sql: Sql, secret: string): Promise<Response | null> {
  if (url.pathname !== "/dev/demo" || req.method !== "POST") return null;
  const ip = server.requestIP(req)?.address ?? "";
  if (!["127.0.0.1", "::1", "::ffff:127.0.0.1"].includes(ip)) return null;
  return Response.json(await provisionDemo(sql, secret));
}
