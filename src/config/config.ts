/**
 * The service's configuration: one typed object built from the environment at start-up.
 * Nothing else in the code reads `process.env`.
 */
import * as v from "valibot";
import { DEFAULT_PUSH_HOSTS, EnvSchema, type Env } from "./env-schema.ts";
import { parseTrustedProxies, type TrustedProxies } from "./trusted-proxies.ts";

export const DEV_JWT_SECRET = "sendbuddy-dev-secret-change-me-0123456789";

export type JwtConfig = {
  /** HS256 secret (SimpleJWT's SIGNING_KEY); used unless a public key or a JWKS URL is set. */
  secret: string;
  /** True when JWT_SECRET was not set and the development default is used. */
  secretIsDefault: boolean;
  /** While rotating: the backend's previous HS256 secret, still accepted (JWT_SECRET_PREVIOUS); null otherwise. */
  previousSecret: string | null;
  publicKeyPem: string | null;
  jwksUrl: string | null;
  /** Accepted algorithms; default HS256, or RS256/ES256/EdDSA with a public key or JWKS. */
  algorithms: string[];
  issuer: string | null;
  audience: string | null;
  clockSkewSeconds: number;
};

export type Limits = {
  maxFrameBytes: number;
  idleTimeoutSeconds: number;
  /** Outgoing bytes queued for a slow reader before its connection is cut. */
  backpressureLimitBytes: number;
  messageRatePerSecond: number;
  messageBurst: number;
  typingRatePerSecond: number;
  typingBurst: number;
  /** Rate-limited frames tolerated (refilling at a tenth of this per second) before closing with 1008. */
  rateLimitStrikes: number;
  maxConnectionsPerUser: number;
  /** Message frames of all of a user's sockets on this instance together. */
  userMessageRatePerSecond: number;
  userMessageBurst: number;
  /** Messages of one user waiting for the database; more are refused with `rate_limited`. */
  maxPendingWritesPerUser: number;
  /** How long after sending a message its sender may edit it. */
  editWindowMs: number;
  /** Distinct emoji one message may carry. */
  maxReactionsPerMessage: number;
  /** Connection attempts (upgrades) per user, after the token is verified. */
  connectRatePerSecond: number;
  connectBurst: number;
  /** HTTP API requests per user, and how many may be in flight at once. */
  apiRatePerSecond: number;
  apiBurst: number;
  apiConcurrencyPerUser: number;
  /** HTTP API requests and upgrades per client IP address, before any authentication. */
  ipRatePerSecond: number;
  ipBurst: number;
  /** Largest history page body (bytes of message JSON); beyond it the page is cut and `has_more` says so. */
  historyPageMaxBytes: number;
  /** A write not committed within this time fails with `unavailable`. */
  dbWriteTimeoutMs: number;
  /** Messages waiting for the database beyond this are refused at once with `unavailable`. */
  maxPendingWrites: number;
};

/** Offline notifications; null in Config when neither Web Push nor a webhook is configured. */
export type NotifyConfig = {
  vapid: { publicKey: string; privateKey: string; subject: string } | null;
  /** Hosts push subscriptions may point at (and their subdomains): the server POSTs there. */
  pushHosts: string[];
  webhook: { url: string; secret: string } | null;
  /** A recipient reconnecting within this time is not notified. */
  graceMs: number;
  /** At most one notification per recipient and session per quiet period. */
  quietMs: number;
  maxAttempts: number;
  /** PEM file of CAs trusted besides the system's (push services, webhook). */
  extraCaFile: string | null;
};

export type Config = {
  env: "development" | "production" | "test";
  port: number;
  host: string;
  /** null: embedded PostgreSQL (PGlite) in `embeddedDbDir` ("memory://" keeps nothing). */
  databaseUrl: string | null;
  /**
   * A direct (session-mode) address: where the access change feed LISTENs and migrations hold their
   * advisory lock, when DATABASE_URL goes through a transaction pooler.
   */
  databaseListenUrl: string | null;
  databasePoolMax: number;
  /** "transaction": DATABASE_URL is a transaction-mode pooler (PgBouncer): no prepared statements, no startup parameters. */
  databasePooler: "none" | "transaction";
  /** CA certificate (PEM file) that DATABASE_URL's server certificate must chain to (sslmode=verify-full). */
  databaseTlsCaFile: string | null;
  embeddedDbDir: string;
  /** null (and no cluster nodes): single instance, in-process pub/sub. */
  redisUrl: string | null;
  /** host:port seeds of a Redis Cluster (cluster mode without detection); credentials and TLS from REDIS_URL. */
  redisClusterNodes: string[] | null;
  /** What every channel and key this deployment uses in Redis starts with ("<prefix>:"): two deployments can share one Redis. */
  redisKeyPrefix: string;
  /** CA certificate (PEM file) for rediss://. */
  redisTlsCaFile: string | null;
  jwt: JwtConfig;
  /** null: same-origin browsers only (and clients without Origin); ["*"]: any origin. */
  allowedOrigins: string[] | null;
  /** Proxies whose X-Forwarded-For names the client (per-IP limits); null: the TCP peer is the client. */
  trustedProxies: TrustedProxies | null;
  limits: Limits;
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
  shutdownTimeoutMs: number;
  /** On SIGTERM, how long /readyz answers 503 while the instance still serves, before sockets are told 1001 (ms). */
  shutdownDelayMs: number;
  /** On shutdown, how long after the 1001s the closed sockets leave presence (ms); below shutdownTimeoutMs. */
  shutdownPresenceGraceMs: number;
  /** With Redis: a dead instance's users go offline within ttl + ttl/3. */
  presenceTtlMs: number;
  /**
   * `POST /dev/demo` (demo accounts and tokens): only in development on the embedded database, the
   * only setup where the development secret is accepted too.
   */
  devRoutes: boolean;
  /** Serve the demo chat page at /demo; default: when devRoutes is on. */
  demoPage: boolean;
  notify: NotifyConfig | null;
  /** The backend's key for the server API (/api/server/, moderation); null: the API is off. */
  serverApiKey: string | null;
  /** Apply missing migrations at start (the default); false: refuse to start while any is missing (`bun run migrate` runs them). */
  migrateOnStart: boolean;
  /** The backend's pre-send check of every message and edit; null: none. */
  presendCheck: { url: string; secret: string; timeoutMs: number; failure: "open" | "closed" } | null;
  /** A list of blocked terms (read at start) and what a message with one gets; null: no filter. */
  blockedTerms: { file: string; policy: "reject" | "mask" } | null;
};

export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
  }
}

/** Empty strings count as unset, as in most twelve-factor tooling. */
function present(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(EnvSchema.entries)) {
    const value = env[key];
    if (value !== undefined && value !== "") out[key] = value;
  }
  return out;
}

/**
 * `requireKey`: a server (and the token command) needs a real JWT key unless it runs on the embedded
 * database; `migrate` and `healthcheck` do not verify tokens.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env, { requireKey = true } = {}): Config {
  const parsed = v.safeParse(EnvSchema, present(env));
  if (!parsed.success) {
    throw new ConfigError(parsed.issues.map((issue) => issue.message));
  }
  const e = parsed.output;
  const asymmetric = Boolean(e.JWT_PUBLIC_KEY || e.JWT_JWKS_URL);
  const problems: string[] = [];
  const keyless = !e.JWT_SECRET && !asymmetric;
  if (requireKey && keyless && (e.NODE_ENV === "production" || e.DATABASE_URL)) {
    problems.push(
      `a JWT key is required ${e.DATABASE_URL ? "with DATABASE_URL" : "when NODE_ENV=production"}: set JWT_SECRET (the backend's SimpleJWT signing key), JWT_PUBLIC_KEY or JWT_JWKS_URL ` +
        "(the public development secret only works on the embedded database)",
    );
  }
  if (e.JWT_PUBLIC_KEY && e.JWT_JWKS_URL) problems.push("set JWT_PUBLIC_KEY or JWT_JWKS_URL, not both");
  if (e.REDIS_TLS_CA_FILE && !e.REDIS_URL?.startsWith("rediss://")) {
    problems.push("REDIS_TLS_CA_FILE is for TLS: give REDIS_URL as rediss://… (a redis:// URL is never switched to TLS)");
  }
  problems.push(...databaseProblems(e));
  if (Boolean(e.PRESEND_CHECK_URL) !== Boolean(e.PRESEND_CHECK_SECRET)) {
    problems.push("the pre-send check needs both PRESEND_CHECK_URL and PRESEND_CHECK_SECRET");
  }
  if (e.SERVER_API_KEY && [e.JWT_SECRET, e.JWT_SECRET_PREVIOUS, e.NOTIFY_WEBHOOK_SECRET].includes(e.SERVER_API_KEY)) {
    problems.push("SERVER_API_KEY must be a key of its own, not a JWT or webhook secret");
  }
  if (e.JWT_SECRET_PREVIOUS && (!e.JWT_SECRET || asymmetric)) {
    problems.push("JWT_SECRET_PREVIOUS is for rotating JWT_SECRET: set the new one in JWT_SECRET (and no public key or JWKS)");
  }
  if (e.SHUTDOWN_PRESENCE_GRACE_SECONDS > 0 && e.SHUTDOWN_PRESENCE_GRACE_SECONDS >= e.SHUTDOWN_TIMEOUT_MS) {
    problems.push("SHUTDOWN_PRESENCE_GRACE_SECONDS must end before SHUTDOWN_TIMEOUT_MS, else the departures never run");
  }
  const trustedProxies = e.TRUST_PROXY ? parseTrustedProxies(e.TRUST_PROXY) : null;
  if (typeof trustedProxies === "string") problems.push(trustedProxies);
  const notify = notifyConfig(e, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL ?? null,
    databaseListenUrl: e.DATABASE_LISTEN_URL ?? e.DATABASE_URL ?? null,
    databasePoolMax: e.DATABASE_POOL_MAX,
    databasePooler: e.DATABASE_POOLER,
    databaseTlsCaFile: e.DATABASE_TLS_CA_FILE ?? null,
    embeddedDbDir: e.EMBEDDED_DB_DIR,
    redisUrl: e.REDIS_URL ?? null,
    redisClusterNodes: e.REDIS_CLUSTER_NODES ?? null,
    redisTlsCaFile: e.REDIS_TLS_CA_FILE ?? null,
    jwt: {
      secret: e.JWT_SECRET ?? DEV_JWT_SECRET,
      secretIsDefault: keyless,
      previousSecret: e.JWT_SECRET_PREVIOUS ?? null,
      publicKeyPem: e.JWT_PUBLIC_KEY ?? null,
      jwksUrl: e.JWT_JWKS_URL ?? null,
      algorithms: e.JWT_ALGORITHMS ?? (asymmetric ? ["RS256", "ES256", "EdDSA"] : ["HS256"]),
      issuer: e.JWT_ISSUER ?? null,
      audience: e.JWT_AUDIENCE ?? null,
      clockSkewSeconds: e.JWT_CLOCK_SKEW_SECONDS,
    },
    allowedOrigins: e.ALLOWED_ORIGINS ?? null,
    trustedProxies: trustedProxies as TrustedProxies | null,
    limits: {
      maxFrameBytes: e.MAX_FRAME_BYTES,
      idleTimeoutSeconds: e.WS_IDLE_TIMEOUT_SECONDS,
      backpressureLimitBytes: e.WS_BACKPRESSURE_LIMIT_BYTES,
      messageRatePerSecond: e.MESSAGE_RATE_PER_SECOND,
      messageBurst: e.MESSAGE_BURST,
      typingRatePerSecond: e.TYPING_RATE_PER_SECOND,
      typingBurst: e.TYPING_BURST,
      rateLimitStrikes: e.RATE_LIMIT_STRIKES,
      maxConnectionsPerUser: e.MAX_CONNECTIONS_PER_USER,
      userMessageRatePerSecond: e.USER_MESSAGE_RATE_PER_SECOND,
      userMessageBurst: e.USER_MESSAGE_BURST,
      maxPendingWritesPerUser: e.MAX_PENDING_WRITES_PER_USER,
      editWindowMs: e.EDIT_WINDOW_SECONDS * 1000,
      maxReactionsPerMessage: e.MAX_REACTIONS_PER_MESSAGE,
      connectRatePerSecond: e.CONNECT_RATE_PER_SECOND,
      connectBurst: e.CONNECT_BURST,
      apiRatePerSecond: e.API_RATE_PER_SECOND,
      apiBurst: e.API_BURST,
      apiConcurrencyPerUser: e.API_CONCURRENCY_PER_USER,
      ipRatePerSecond: e.IP_RATE_PER_SECOND,
      ipBurst: e.IP_BURST,
      historyPageMaxBytes: e.HISTORY_PAGE_MAX_BYTES,
      dbWriteTimeoutMs: e.DB_WRITE_TIMEOUT_MS,
      maxPendingWrites: e.MAX_PENDING_WRITES,
    },
    logLevel: e.LOG_LEVEL,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    shutdownDelayMs: e.SHUTDOWN_DELAY_SECONDS,
    shutdownPresenceGraceMs: e.SHUTDOWN_PRESENCE_GRACE_SECONDS,
    presenceTtlMs: e.PRESENCE_TTL_SECONDS * 1000,
    devRoutes: e.NODE_ENV === "development" && !e.DATABASE_URL,
    demoPage: e.DEMO_PAGE ? e.DEMO_PAGE === "on" : e.NODE_ENV === "development" && !e.DATABASE_URL,
    notify,
    serverApiKey: e.SERVER_API_KEY ?? null,
    migrateOnStart: e.MIGRATE_ON_START === "true",
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    presendCheck:
      e.PRESEND_CHECK_URL && e.PRESEND_CHECK_SECRET
        ? {
            url: e.PRESEND_CHECK_URL,
            secret: e.PRESEND_CHECK_SECRET,
            timeoutMs: e.PRESEND_CHECK_TIMEOUT_MS,
            failure: e.PRESEND_CHECK_FAILURE,
          }
        : null,
    blockedTerms: e.BLOCKED_TERMS_FILE ? { file: e.BLOCKED_TERMS_FILE, policy: e.BLOCKED_TERMS_POLICY } : null,
  };
}

function notifyConfig(e: Env, problems: string[]): NotifyConfig | null {
  const vapidParts = [e.VAPID_PUBLIC_KEY, e.VAPID_PRIVATE_KEY, e.VAPID_SUBJECT];
  const vapidSet = vapidParts.filter(Boolean).length;
  if (vapidSet > 0 && vapidSet < 3) problems.push("Web Push needs all three of VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT");
  if (Boolean(e.NOTIFY_WEBHOOK_URL) !== Boolean(e.NOTIFY_WEBHOOK_SECRET)) {
    problems.push("the notification webhook needs both NOTIFY_WEBHOOK_URL and NOTIFY_WEBHOOK_SECRET");
  }
  const vapid = vapidSet === 3 ? { publicKey: e.VAPID_PUBLIC_KEY!, privateKey: e.VAPID_PRIVATE_KEY!, subject: e.VAPID_SUBJECT! } : null;
  const webhook = e.NOTIFY_WEBHOOK_URL && e.NOTIFY_WEBHOOK_SECRET ? { url: e.NOTIFY_WEBHOOK_URL, secret: e.NOTIFY_WEBHOOK_SECRET } : null;
  if (!vapid && !webhook) return null;
  return {
    vapid,
    pushHosts: (e.PUSH_ENDPOINT_HOSTS ?? DEFAULT_PUSH_HOSTS).map((h) => h.toLowerCase()),
    webhook,
    graceMs: e.NOTIFY_GRACE_SECONDS,
    quietMs: e.NOTIFY_QUIET_SECONDS,
    maxAttempts: e.NOTIFY_MAX_ATTEMPTS,
    extraCaFile: e.NODE_EXTRA_CA_CERTS ?? null,
  };
}

/** What a pooler or a CA file needs of the database addresses. */
function databaseProblems(e: Env): string[] {
  const problems: string[] = [];
  if (e.DATABASE_POOLER === "transaction" && (!e.DATABASE_URL || !e.DATABASE_LISTEN_URL)) {
    problems.push(
      "DATABASE_POOLER=transaction needs DATABASE_URL (the pooler) and DATABASE_LISTEN_URL (a direct, session-mode address for LISTEN and migrations)",
    );
  }
  if (e.DATABASE_TLS_CA_FILE) {
    const urls = { DATABASE_URL: e.DATABASE_URL, DATABASE_LISTEN_URL: e.DATABASE_LISTEN_URL };
    for (const [name, url] of Object.entries(urls)) {
      if ((url || name === "DATABASE_URL") && !verifiesFully(url)) {
        problems.push(`DATABASE_TLS_CA_FILE is for TLS: give ${name} with ?sslmode=verify-full (a URL is never switched to TLS)`);
      }
    }
  }
  return problems;
}

const verifiesFully = (url: string | undefined) => url !== undefined && new URL(url).searchParams.get("sslmode") === "verify-full";
