#!/usr/bin/env bun
/**
 * The command line, also the compiled binary's entry point:
 *   serve (default)  run the server
 *   migrate          apply database migrations and exit
 *   demo             create two demo users and a session, print wscat lines
 *   token <user-id>  mint an access token (development)
 *   healthcheck      exit 0 when the server on HOST:PORT is ready (for container health checks)
 *   vapid            print a new VAPID key pair for Web Push (VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY)
 *   ban <user-id> [until]  ban a user (until an ISO 8601 time, or for good); unban <user-id> lifts it
 *   erase-user <user-id>   erase a user's messages and reactions (account deletion), and ban them
 *   --version, --help  need no configuration
 */
import { loadConfig, ConfigError, type Config } from "./config/config.ts";
import { createLogger, type Logger } from "./observability/log.ts";
import { moderationOf, startApp } from "./app.ts";
import { PostgresStore } from "./store/postgres-store.ts";
import { connect, databaseAddresses } from "./store/connect.ts";
import { migrate } from "./store/migrations.ts";
import { startEmbeddedPostgres } from "./store/embedded-postgres.ts";
import { mintAccessToken } from "./auth/tokens.ts";
import { provisionDemo, wscatLines, type DemoAccess } from "./cli/demo.ts";
import { generateVapidKeys } from "./notify/web-push-sender.ts";
import { VERSION } from "./version.ts";

const USAGE = `usage: sendbuddy-chat [serve | migrate | demo | token <user-uuid> | healthcheck | vapid | ban <user-uuid> [until] | unban <user-uuid> | erase-user <user-uuid> | --version | --help]`;

async function main(argv: string[]): Promise<number> {
  const [command = "serve", ...args] = argv;
  // Commands that need no configuration: they work on a machine where none is set yet.
  if (command === "vapid") return vapid();
  if (command === "--version" || command === "version") {
    console.log(VERSION);
    return 0;
  }
  if (command === "--help" || command === "help") {
    console.log(USAGE);
    return 0;
  }
  let config: Config;
  try {
    config = loadConfig(process.env, { requireKey: !["migrate", "healthcheck", ...MODERATION_COMMANDS].includes(command) });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    return 2;
  }
  const log = createLogger(config.logLevel, { service: "sendbuddy-chat" });
  switch (command) {
    case "serve":
      return serve(config, log);
    case "migrate":
      return migrateCommand(config, log);
    case "demo":
      return demo(config);
    case "token":
      return token(config, args[0]);
    case "healthcheck":
      return healthcheck(config);
    case "ban":
    case "unban":
    case "erase-user":
      return moderate(config, command, args);
    default:
      console.error(USAGE);
      return 2;
  }
}

/** A new key pair, as lines for an env file: the private key never leaves this terminal. */
function vapid(): number {
  const { publicKey, privateKey } = generateVapidKeys();
  console.log(`VAPID_PUBLIC_KEY=${publicKey}\nVAPID_PRIVATE_KEY=${privateKey}\nVAPID_SUBJECT=mailto:you@example.com`);
  return 0;
}

async function serve(config: Config, log: Logger): Promise<number> {
  if (config.jwt.secretIsDefault) {
    log.warn("JWT_SECRET is not set: using the public development secret. Never do this in production.");
  }
  let app;
  try {
    app = await startApp(config, log);
  } catch (err) {
    log.error("cannot start", { err });
    return 1;
  }
  log.info("listening", {
    url: app.httpUrl,
    database: config.databaseUrl ? "postgres" : "embedded",
    redis: config.redisUrl || config.redisClusterNodes ? "on" : "off",
  });
  if (config.devRoutes) {
    console.log("\n" + wscatLines(app.wsUrl, await app.demoAccess()) + "\n");
  }
  // A stray rejection (e.g. a driver's background reconnect) is logged, never fatal to every socket.
  process.on("unhandledRejection", (err) => log.error("unhandled rejection", { err }));
  const shutdown = (signal: string) => {
    log.info("shutting down", { signal });
    const deadline = setTimeout(() => {
      log.error("shutdown deadline passed, exiting");
      process.exit(1);
    }, config.shutdownDelayMs + config.shutdownTimeoutMs);
    app.stop().then(() => {
      clearTimeout(deadline);
      log.info("stopped");
      process.exit(0);
    });
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
  return -1; // keep running
}

async function withDatabase<T>(config: Config, work: (sql: ReturnType<typeof connect>) => Promise<T>): Promise<T> {
  const embedded = config.databaseUrl ? null : await startEmbeddedPostgres(config.embeddedDbDir);
  const address = config.databaseUrl ? databaseAddresses({ ...config, databaseUrl: config.databaseUrl }).migrations : embedded!.address;
  const sql = connect({ ...address, poolMax: 1 });
  try {
    await migrate(sql);
    return await work(sql);
  } finally {
    await sql.end({ timeout: 5 });
    await embedded?.stop();
  }
}

const MODERATION_COMMANDS = ["ban", "unban", "erase-user"];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The operators' moderation, on the database: a ban closes the user's sockets on every running
 * instance through the access feed; an erasure reaches open sockets at their next connection or page.
 */
async function moderate(config: Config, command: string, [userId, until]: string[]): Promise<number> {
  if (!userId || !UUID.test(userId)) {
    console.error(`usage: ${command} <user-uuid>${command === "ban" ? " [until, ISO 8601]" : ""}`);
    return 2;
  }
  const untilDate = until ? new Date(until) : null;
  if (untilDate && (Number.isNaN(untilDate.getTime()) || untilDate.getTime() <= Date.now())) {
    console.error("until must be an ISO 8601 time in the future");
    return 2;
  }
  const id = userId.toLowerCase();
  return withDatabase(config, async (sql) => {
    const store = new PostgresStore(sql, { timeoutMs: 30_000, maxPending: 1 });
    try {
      const moderation = moderationOf(config, store, null);
      const outcome =
        command === "ban"
          ? (await moderation.ban(id, untilDate)) && { banned: true, until: untilDate?.toISOString() ?? null }
          : command === "unban"
            ? { unbanned: await moderation.unban(id) }
            : await moderation.eraseUser(id);
      if (!outcome) {
        console.error("no such user");
        return 1;
      }
      console.log(JSON.stringify({ user_id: id, ...outcome }));
      return 0;
    } finally {
      await store.close();
    }
  });
}

async function migrateCommand(config: Config, log: Logger): Promise<number> {
  await withDatabase(config, async () => log.info("database schema is up to date"));
  return 0;
}

async function demo(config: Config): Promise<number> {
  const wsBase = `ws://localhost:${config.port}`;
  let access: DemoAccess;
  if (config.databaseUrl) {
    access = await withDatabase(config, (sql) => provisionDemo(sql, config.jwt.secret));
  } else {
    // The embedded database belongs to the running server: ask it.
    const res = await fetch(`http://127.0.0.1:${config.port}/dev/demo`, { method: "POST" }).catch(() => null);
    if (!res?.ok) {
      console.error(`No server answered on port ${config.port}. Start it first with: bun run dev`);
      return 1;
    }
    access = (await res.json()) as DemoAccess;
  }
  console.log(wscatLines(wsBase, access));
  return 0;
}

async function token(config: Config, userId: string | undefined): Promise<number> {
  if (!userId) {
    console.error("usage: token <user-uuid>");
    return 2;
  }
  console.log(await mintAccessToken(config.jwt.secret, userId));
  return 0;
}

/** Asks the server where it listens: HOST (a wildcard address means this machine). */
async function healthcheck(config: Config): Promise<number> {
  const res = await fetch(`http://${reachableHost(config.host)}:${config.port}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(
    () => null,
  );
  return res?.ok ? 0 : 1;
}

function reachableHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

const code = await main(process.argv.slice(2));
if (code >= 0) process.exit(code);
