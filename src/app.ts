/**
 * The composition root: the only module that knows every part. It picks the store (PostgreSQL, or
 * the embedded PGlite) and the bus (Redis, or in-process), wires them into the chat service and the
 * HTTP/WebSocket server, and owns the order of start-up and shutdown.
 */
import type { Server } from "bun";
import type { Sql } from "postgres";
import type { Config, NotifyConfig } from "./config/config.ts";
import { isLoopback } from "./config/env-schema.ts";
import type { AccessChange, Bus, ChangeRules, Presence } from "./chat/ports.ts";
import { Moderation, type DeliverChange } from "./chat/moderation.ts";
import type { ContentPolicy } from "./chat/content-screen.ts";
import { TermFilter } from "./chat/term-filter.ts";
import { presendCheck } from "./notify/presend-check.ts";
import { createPost } from "./notify/http-post.ts";
import { ChatService } from "./chat/chat-service.ts";
import { ChatApi } from "./chat/chat-api.ts";
import { createVerifier } from "./auth/tokens.ts";
import { createMessaging, type Messaging } from "./bus/create-bus.ts";
import { PostgresStore } from "./store/postgres-store.ts";
import { connect, databaseAddresses } from "./store/connect.ts";
import { migrate, pendingMigrations } from "./store/migrations.ts";
import { startEmbeddedPostgres, type DatabaseAddress, type EmbeddedPostgres } from "./store/embedded-postgres.ts";
import { AccessFeed } from "./store/access-feed.ts";
import { startHttpServer, type HttpServer } from "./transport/http-server.ts";
import type { SocketData } from "./transport/types.ts";
import { CloseCode } from "./protocol/codes.ts";
import type { Logger } from "./observability/log.ts";
import { Metrics } from "./observability/metrics.ts";
import { registerProcessMetrics } from "./observability/process-metrics.ts";
import { observe, observeOutbox } from "./app-metrics.ts";
import { VERSION } from "./version.ts";
import { provisionDemo, type DemoAccess } from "./cli/demo.ts";
import { demoRoutes } from "./demo/routes.ts";
import { Notifier } from "./notify/notifier.ts";
import { deliveryTargets, queueEveryone, type DeliveryTargets } from "./notify/targets.ts";

export type App = {
  server: Server<SocketData>;
  /** ws:// base URL, e.g. ws://127.0.0.1:8000 */
  wsUrl: string;
  httpUrl: string;
  store: PostgresStore;
  bus: Bus;
  chat: ChatService;
  metrics: Metrics;
  /** Offline notifications (null: neither Web Push nor a webhook is configured). */
  notifier: Notifier | null;
  /** Creates (or finds) the demo climbers and their session in this app's database. */
  demoAccess(): Promise<DemoAccess>;
  /**
   * Graceful: /readyz answers 503 at once, serving goes on for SHUTDOWN_DELAY_SECONDS, then upgrades
   * are refused, writes finish, sockets get 1001, PostgreSQL and Redis are closed.
   */
  stop(): Promise<void>;
};

type Parts = {
  config: Config;
  log: Logger;
  sql: Sql;
  /** Where the access feed LISTENs (DATABASE_LISTEN_URL, else the database's own address). */
  listenAddress: DatabaseAddress;
  bus: Bus;
  presence: Presence;
  embedded: EmbeddedPostgres | null;
};

export async function startApp(config: Config, baseLog: Logger): Promise<App> {
  // One id per instance, in every log line (connection ids are counted per instance) and on the bus.
  const instanceId = crypto.randomUUID();
  const log = baseLog.child({ instance: instanceId.slice(0, 8) });
  let embedded: EmbeddedPostgres | null = null;
  let addresses = config.databaseUrl ? databaseAddresses({ ...config, databaseUrl: config.databaseUrl }) : null;
  if (!addresses) {
    embedded = await startEmbeddedPostgres(config.embeddedDbDir);
    addresses = { pool: embedded.address, listen: embedded.address, migrations: embedded.address };
    log.info("using embedded PostgreSQL (PGlite)", { dir: config.embeddedDbDir });
  }
  let messaging: Messaging | null = null;
  let sql: Sql | null = null;
  try {
    messaging = await createMessaging(config, log, instanceId);
    // The embedded database is this process's own: it always migrates.
    await runMigrations(addresses.migrations, log, config.migrateOnStart || embedded !== null);
    sql = connect({
      ...addresses.pool,
      poolMax: embedded ? 1 : config.databasePoolMax,
      statementTimeoutMs: config.limits.dbWriteTimeoutMs,
    });
    if (addresses.pool.transactionPooler) await warnWithoutStatementTimeout(sql, log);
    return await wire({ config, log, sql, listenAddress: addresses.listen, ...messaging, embedded });
  } catch (err) {
    await messaging?.presence.close();
    await messaging?.bus.close();
    await sql?.end({ timeout: 1 });
    await embedded?.stop();
    throw err;
  }
}

/**
 * Applies what is missing, or (MIGRATE_ON_START=false) refuses to start while anything is. On a direct
 * connection of their own: the advisory lock needs a session, and a long backfill must not hit the
 * pool's statement timeout.
 */
async function runMigrations(address: DatabaseAddress, log: Logger, apply: boolean) {
  const sql = connect({ ...address, poolMax: 1 });
  try {
    if (!apply) {
      const pending = await pendingMigrations(sql);
      if (pending.length > 0) {
        throw new Error(`the database lacks migration(s) ${pending.join(", ")}: run \`bun run migrate\` first (MIGRATE_ON_START=false)`);
      }
      return;
    }
    const applied = await migrate(sql);
    if (applied.length > 0) log.info("migrations applied", { versions: applied });
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Behind a transaction pooler the pool cannot set statement_timeout: the role's own setting bounds each statement. */
async function warnWithoutStatementTimeout(sql: Sql, log: Logger) {
  const [row] = await sql<{ statement_timeout: string }[]>`SHOW statement_timeout`;
  if (row?.statement_timeout === "0") {
    log.warn("no statement_timeout behind the transaction pooler: set one on the role (ALTER ROLE … SET statement_timeout = '5s')");
  }
}

async function wire({ config, log, sql, listenAddress, bus, presence, embedded }: Parts): Promise<App> {
  // Before anything starts: a list that cannot be read stops the start with nothing to undo.
  const contentPolicy = config.blockedTerms ? await contentPolicyOf(config.blockedTerms, log) : null;
  const metrics = new Metrics();
  const targets = config.notify ? deliveryTargets(config.notify) : null;
  const store = new PostgresStore(sql, {
    timeoutMs: config.limits.dbWriteTimeoutMs,
    maxPending: config.limits.maxPendingWrites,
    onBatch: (rows) => metrics.writeBatchSize.observe(rows),
    ...(config.notify && targets ? { notify: { graceMs: config.notify.graceMs, everyone: queueEveryone(targets) } } : {}),
    reportsToWebhook: Boolean(config.notify?.webhook),
  });
  await store.tickets.start();
  let server: Server<SocketData> | null = null;
  let http: HttpServer | null = null;
  const chat = new ChatService({
    store,
    bus,
    presence,
    metrics,
    log,
    fanout: (topic, frame) => server?.publish(topic, frame),
    maxPendingPerUser: config.limits.maxPendingWritesPerUser,
    changeRules: changeRulesOf(config),
    blocks: store.blocks,
    ...(contentPolicy ? { contentPolicy } : {}),
    ...(config.presendCheck
      ? { contentCheck: presendCheck(config.presendCheck, createPost(config.notify?.extraCaFile ?? null, config.presendCheck.timeoutMs)) }
      : {}),
    onAccessChange: (change) => http?.access.changed(change),
  });
  observe(metrics, { store, bus, chat, poolMax: embedded ? 1 : config.databasePoolMax });
  const stopOutboxGauges = observeOutbox(metrics, config.notify ? store : null, log);
  const stopProcessMetrics = registerProcessMetrics(metrics, VERSION);
  const notifier = config.notify && targets ? startNotifier(config.notify, targets, { store, presence, log, metrics }) : null;

  let accepting = true;
  let draining = false;
  const accessFeed = new AccessFeed(sql, log);
  http = startHttpServer({
    settings: {
      host: config.host,
      port: config.port,
      limits: config.limits,
      allowedOrigins: config.allowedOrigins,
      trustedProxies: config.trustedProxies,
      clockSkewSeconds: config.jwt.clockSkewSeconds,
    },
    api: new ChatApi({
      directory: store,
      queries: store,
      tickets: store.tickets,
      presence,
      reports: store.reports,
      blocks: store.blocks,
      onBlockChanged: (userIds) => chat.blocksChanged(userIds).catch((err) => log.warn("blocks not read again", { err })),
    }),
    chat,
    admission: { directory: store, tickets: store.tickets },
    accessSnapshot: (sessionIds, userIds) => accessFeed.snapshot(sessionIds, userIds),
    health: { pingDatabase: () => store.ping(), redis: () => bus.status(), accepting: () => accepting, draining: () => draining },
    serverApi: {
      key: config.serverApiKey,
      moderation: moderationOf(config, store, {
        change: (changed) => chat.changedByBackend(changed),
        message: (appended) => chat.storedByBackend(appended),
      }),
      reports: store.reports,
    },
    verify: createVerifier(config.jwt),
    log,
    metrics,
    push: config.notify?.vapid
      ? { subscriptions: store.notifications, vapidPublicKey: config.notify.vapid.publicKey, hosts: config.notify.pushHosts }
      : null,
    dev: {
      pages: config.demoPage ? demoRoutes : {},
      ...(config.devRoutes
        ? { route: (req: Request, url: URL, srv: Server<SocketData>) => demoRoute(req, url, srv, sql, config.jwt.secret) }
        : {}),
    },
  });
  server = http.server;
  try {
    const blocksChanged = (userIds?: readonly [string, string]) =>
      void chat.blocksChanged(userIds).catch((err) => log.warn("blocks not read again", { err }));
    const changed = (change: AccessChange) => (change.kind === "block" ? blocksChanged(change.userIds) : http.access.changed(change));
    const resync = () => {
      void http.access.resync();
      blocksChanged();
    };
    await accessFeed.start({ changed, resync }, (events) => connect({ ...listenAddress, poolMax: 1, ...events }));
  } catch (err) {
    await http.server.stop(true);
    http.registry.stop();
    await notifier?.stop();
    throw err;
  }
  const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  const base = `${host}:${server.port}`;

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      // Readiness fails first, while this instance still serves, so that a load balancer (or
      // Kubernetes' endpoint removal) stops sending it clients before they are told to go.
      draining = true;
      if (config.shutdownDelayMs > 0) await Bun.sleep(config.shutdownDelayMs);
      accepting = false;
      await store.drainWrites();
      presence.drain(Date.now() + config.shutdownPresenceGraceMs);
      const departed = http.registry.closeAll(CloseCode.GoingAway, config.shutdownPresenceGraceMs);
      http.registry.stop();
      await http.server.stop(true);
      await notifier?.stop();
      stopOutboxGauges();
      await accessFeed.close();
      await departed;
      // Writes that arrived while sockets were closing commit and are published before the bus goes.
      await store.close();
      await chat.inboxes.stop();
      await presence.close();
      await bus.close();
      await embedded?.stop();
      stopProcessMetrics();
    })());

  const demoAccess = () => provisionDemo(sql, config.jwt.secret);
  return { server, wsUrl: `ws://${base}`, httpUrl: `http://${base}`, store, bus, chat, metrics, notifier, demoAccess, stop };
}

/** Web Push and/or the webhook, drained by this instance as by every other. */
function startNotifier(
  notify: NotifyConfig,
  targets: DeliveryTargets,
  { store, presence, log, metrics }: { store: PostgresStore; presence: Presence; log: Logger; metrics: Metrics },
): Notifier {
  const notifier = new Notifier({
    outbox: store.notifications,
    presence,
    ...targets,
    log,
    metrics,
    quietMs: notify.quietMs,
    maxAttempts: notify.maxAttempts,
    pollMs: Math.min(1000, Math.max(50, notify.graceMs / 5)),
  });
  notifier.start();
  return notifier;
}

/**
 * `POST /dev/demo` from this machine only: what `bun run cli demo` asks when the database is
 * embedded. A loopback peer is not enough: the request must also name this machine in `Host` (a
 * DNS-rebound name does not) and come from the same origin or from no page at all (no cross-site post).
 */
async function demoRoute(req: Request, url: URL, server: Server<SocketData>, sql: Sql, secret: string): Promise<Response | null> {
  if (url.pathname !== "/dev/demo" || req.method !== "POST") return null;
  const ip = server.requestIP(req)?.address ?? "";
  if (!["127.0.0.1", "::1", "::ffff:127.0.0.1"].includes(ip)) return null;
  const origin = req.headers.get("origin");
  if (!isLoopback(url.hostname) || (origin !== null && origin !== url.origin)) {
    return Response.json({ error: "the demo accounts are for pages served by this machine only" }, { status: 403 });
  }
  return Response.json(await provisionDemo(sql, secret));
}

/** Larger term lists are refused: the filter checks every term against every message. */
const MAX_TERMS_FILE_BYTES = 1024 * 1024;

/** BLOCKED_TERMS_FILE, read once at start: a file that cannot be read stops the start. */
async function contentPolicyOf({ file, policy }: { file: string; policy: "reject" | "mask" }, log: Logger): Promise<ContentPolicy> {
  const f = Bun.file(file);
  if (!(await f.exists())) throw new Error(`BLOCKED_TERMS_FILE ${file} does not exist`);
  if (f.size > MAX_TERMS_FILE_BYTES) throw new Error(`BLOCKED_TERMS_FILE ${file} is larger than 1 MiB`);
  const filter = TermFilter.parse(await f.text());
  log.info("blocked terms loaded", { terms: filter.size, policy });
  return { filter, action: policy };
}

/** The backend's moderation over this store; `deliver` tells every instance (null in the CLI, where no socket is open). */
export function moderationOf(config: Config, store: PostgresStore, deliver: DeliverChange | null): Moderation {
  return new Moderation({ store: store.moderation, changes: store, messages: store, deliver, rules: changeRulesOf(config) });
}

const changeRulesOf = (config: Config): ChangeRules => ({
  editWindowMs: config.limits.editWindowMs,
  maxReactions: config.limits.maxReactionsPerMessage,
});
