/**
 * The service's configuration: one typed object built from the environment at start-up.
 * Nothing else in the code reads `process.env`.
 */
import * as v from "valibot";
import { parseTrustedProxies, type TrustedProxies } from "./trusted-proxies.ts";

export const DEV_JWT_SECRET = "sendbuddy-dev-secret-change-me-0123456789";

const integer = (name: string, min: number, max: number) =>
  v.pipe(
    v.string(),
    v.trim(),
    v.regex(/^\d+$/, `${name} must be a whole number`),
    v.transform(Number),
    v.minValue(min, `${name} must be at least ${min}`),
    v.maxValue(max, `${name} must be at most ${max}`),
  );

/** Seconds, fractions allowed (tests use short periods): given in ms. */
const seconds = (name: string, max: number) =>
  v.pipe(
    v.string(),
    v.trim(),
    v.regex(/^\d+(\.\d{1,3})?$/, `${name} must be a number of seconds`),
    v.transform((x) => Math.round(Number(x) * 1000)),
    v.maxValue(max * 1000, `${name} must be at most ${max}`),
  );

const base64url = (name: string, bytes: number) =>
  v.pipe(
    v.string(),
    v.trim(),
    v.check(
      (s) => /^[A-Za-z0-9_-]+={0,2}$/.test(s) && Buffer.from(s, "base64url").length === bytes,
      `${name} must be ${bytes} bytes, URL-safe base64`,
    ),
  );

/** Push services of the browsers that support Web Push (a host matches itself and its subdomains). */
export const DEFAULT_PUSH_HOSTS = [
  "fcm.googleapis.com",
  "android.googleapis.com",
  "push.services.mozilla.com",
  "notify.windows.com",
  "push.apple.com",
];

const url = (name: string, schemes: string[]) =>
  v.pipe(
    v.string(),
    v.trim(),
    v.check(
      (s) => {
        try {
          return schemes.includes(new URL(s).protocol);
        } catch {
          return false;
        }
      },
      `${name} must be a URL starting with ${schemes.map((s) => s + "//").join(" or ")}`,
    ),
  );

/** Loopback host names: the only ones where a key may travel without TLS. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}

const list = v.pipe(
  v.string(),
  v.transform((s) =>
    s
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
  ),
);

const EnvSchema = v.object({
  NODE_ENV: v.optional(
    v.picklist(["development", "production", "test"], "NODE_ENV must be development, production or test"),
    "development",
  ),
  PORT: v.optional(integer("PORT", 0, 65535), "8000"),
  HOST: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1, "HOST must not be empty")), "0.0.0.0"),
  DATABASE_URL: v.optional(url("DATABASE_URL", ["postgres:", "postgresql:"])),
  DATABASE_LISTEN_URL: v.optional(url("DATABASE_LISTEN_URL", ["postgres:", "postgresql:"])),
  DATABASE_POOL_MAX: v.optional(integer("DATABASE_POOL_MAX", 1, 100), "10"),
  DB_WRITE_TIMEOUT_MS: v.optional(integer("DB_WRITE_TIMEOUT_MS", 100, 60_000), "5000"),
  MAX_PENDING_WRITES: v.optional(integer("MAX_PENDING_WRITES", 10, 1_000_000), "20000"),
  EMBEDDED_DB_DIR: v.optional(v.pipe(v.string(), v.minLength(1, "EMBEDDED_DB_DIR must not be empty")), ".data/pglite"),
  REDIS_URL: v.optional(url("REDIS_URL", ["redis:", "rediss:"])),
  REDIS_CLUSTER_NODES: v.optional(
    v.pipe(
      list,
      v.check(
        (seeds) => seeds.every((s) => /^(\[[0-9a-fA-F:]+\]|[^\s:/]+):\d{1,5}$/.test(s)),
        "REDIS_CLUSTER_NODES must be comma-separated host:port seeds",
      ),
    ),
  ),
  REDIS_TLS_CA_FILE: v.optional(v.pipe(v.string(), v.minLength(1))),
  JWT_SECRET: v.optional(v.pipe(v.string(), v.minLength(32, "JWT_SECRET must be at least 32 characters"))),
  JWT_PUBLIC_KEY: v.optional(
    v.pipe(v.string(), v.includes("-----BEGIN PUBLIC KEY-----", "JWT_PUBLIC_KEY must be a PEM (SPKI) public key")),
  ),
  JWT_JWKS_URL: v.optional(
    v.pipe(
      url("JWT_JWKS_URL", ["https:", "http:"]),
      v.check(
        (s) => new URL(s).protocol === "https:" || isLoopback(new URL(s).hostname),
        "JWT_JWKS_URL must use https:// (plain http:// only on this machine: localhost, 127.0.0.1, ::1)",
      ),
    ),
  ),
  JWT_ALGORITHMS: v.optional(list),
  JWT_ISSUER: v.optional(v.string()),
  JWT_AUDIENCE: v.optional(v.string()),
  JWT_CLOCK_SKEW_SECONDS: v.optional(integer("JWT_CLOCK_SKEW_SECONDS", 0, 300), "5"),
  ALLOWED_ORIGINS: v.optional(list),
  MAX_FRAME_BYTES: v.optional(integer("MAX_FRAME_BYTES", 1024, 16 * 1024 * 1024), "65536"),
  WS_IDLE_TIMEOUT_SECONDS: v.optional(integer("WS_IDLE_TIMEOUT_SECONDS", 5, 960), "60"),
  WS_BACKPRESSURE_LIMIT_BYTES: v.optional(integer("WS_BACKPRESSURE_LIMIT_BYTES", 64 * 1024, 64 * 1024 * 1024), "1048576"),
  MESSAGE_RATE_PER_SECOND: v.optional(integer("MESSAGE_RATE_PER_SECOND", 1, 100_000), "10"),
  MESSAGE_BURST: v.optional(integer("MESSAGE_BURST", 1, 100_000), "30"),
  TYPING_RATE_PER_SECOND: v.optional(integer("TYPING_RATE_PER_SECOND", 1, 100_000), "4"),
  TYPING_BURST: v.optional(integer("TYPING_BURST", 1, 100_000), "10"),
  RATE_LIMIT_STRIKES: v.optional(integer("RATE_LIMIT_STRIKES", 1, 100_000), "50"),
  MAX_CONNECTIONS_PER_USER: v.optional(integer("MAX_CONNECTIONS_PER_USER", 1, 100_000), "20"),
  USER_MESSAGE_RATE_PER_SECOND: v.optional(integer("USER_MESSAGE_RATE_PER_SECOND", 1, 1_000_000), "20"),
  USER_MESSAGE_BURST: v.optional(integer("USER_MESSAGE_BURST", 1, 1_000_000), "60"),
  MAX_PENDING_WRITES_PER_USER: v.optional(integer("MAX_PENDING_WRITES_PER_USER", 1, 1_000_000), "200"),
  CONNECT_RATE_PER_SECOND: v.optional(integer("CONNECT_RATE_PER_SECOND", 1, 1_000_000), "2"),
  CONNECT_BURST: v.optional(integer("CONNECT_BURST", 1, 1_000_000), "40"),
  API_RATE_PER_SECOND: v.optional(integer("API_RATE_PER_SECOND", 1, 1_000_000), "10"),
  API_BURST: v.optional(integer("API_BURST", 1, 1_000_000), "40"),
  API_CONCURRENCY_PER_USER: v.optional(integer("API_CONCURRENCY_PER_USER", 1, 10_000), "4"),
  IP_RATE_PER_SECOND: v.optional(integer("IP_RATE_PER_SECOND", 1, 1_000_000), "50"),
  IP_BURST: v.optional(integer("IP_BURST", 1, 1_000_000), "200"),
  TRUST_PROXY: v.optional(list),
  HISTORY_PAGE_MAX_BYTES: v.optional(integer("HISTORY_PAGE_MAX_BYTES", 16 * 1024, 64 * 1024 * 1024), "524288"),
  SHUTDOWN_TIMEOUT_MS: v.optional(integer("SHUTDOWN_TIMEOUT_MS", 0, 600_000), "10000"),
  PRESENCE_TTL_SECONDS: v.optional(integer("PRESENCE_TTL_SECONDS", 1, 3600), "30"),
  LOG_LEVEL: v.optional(
    v.picklist(["debug", "info", "warn", "error", "silent"], "LOG_LEVEL must be debug, info, warn, error or silent"),
    "info",
  ),
  DEMO_PAGE: v.optional(v.picklist(["on", "off"], "DEMO_PAGE must be on or off")),
  VAPID_PUBLIC_KEY: v.optional(base64url("VAPID_PUBLIC_KEY", 65)),
  VAPID_PRIVATE_KEY: v.optional(base64url("VAPID_PRIVATE_KEY", 32)),
  VAPID_SUBJECT: v.optional(
    v.pipe(v.string(), v.trim(), v.regex(/^(mailto:\S+@\S+|https:\/\/\S+)$/, "VAPID_SUBJECT must be a mailto: or https: URL")),
  ),
  PUSH_ENDPOINT_HOSTS: v.optional(list),
  NOTIFY_WEBHOOK_URL: v.optional(
    v.pipe(
      url("NOTIFY_WEBHOOK_URL", ["https:", "http:"]),
      v.check(
        (s) => new URL(s).protocol === "https:" || isLoopback(new URL(s).hostname),
        "NOTIFY_WEBHOOK_URL must use https:// (plain http:// only on this machine: localhost, 127.0.0.1, ::1)",
      ),
      v.check(
        (s) => !new URL(s).username && !new URL(s).password,
        "NOTIFY_WEBHOOK_URL must not carry credentials (the signature authenticates)",
      ),
    ),
  ),
  NOTIFY_WEBHOOK_SECRET: v.optional(v.pipe(v.string(), v.minLength(32, "NOTIFY_WEBHOOK_SECRET must be at least 32 characters"))),
  NOTIFY_QUIET_SECONDS: v.optional(seconds("NOTIFY_QUIET_SECONDS", 3600), "10"),
  NOTIFY_GRACE_SECONDS: v.optional(seconds("NOTIFY_GRACE_SECONDS", 600), "5"),
  NOTIFY_MAX_ATTEMPTS: v.optional(integer("NOTIFY_MAX_ATTEMPTS", 1, 100), "8"),
  NODE_EXTRA_CA_CERTS: v.optional(v.pipe(v.string(), v.minLength(1))),
});

export type JwtConfig = {
  /** HS256 secret (SimpleJWT's SIGNING_KEY); used unless a public key or a JWKS URL is set. */
  secret: string;
  /** True when JWT_SECRET was not set and the development default is used. */
  secretIsDefault: boolean;
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
  /** Where the access change feed LISTENs: a direct (session-mode) address when DATABASE_URL goes through a transaction pooler. */
  databaseListenUrl: string | null;
  databasePoolMax: number;
  embeddedDbDir: string;
  /** null (and no cluster nodes): single instance, in-process pub/sub. */
  redisUrl: string | null;
  /** host:port seeds of a Redis Cluster (cluster mode without detection); credentials and TLS from REDIS_URL. */
  redisClusterNodes: string[] | null;
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
    embeddedDbDir: e.EMBEDDED_DB_DIR,
    redisUrl: e.REDIS_URL ?? null,
    redisClusterNodes: e.REDIS_CLUSTER_NODES ?? null,
    redisTlsCaFile: e.REDIS_TLS_CA_FILE ?? null,
    jwt: {
      secret: e.JWT_SECRET ?? DEV_JWT_SECRET,
      secretIsDefault: keyless,
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
    presenceTtlMs: e.PRESENCE_TTL_SECONDS * 1000,
    devRoutes: e.NODE_ENV === "development" && !e.DATABASE_URL,
    demoPage: e.DEMO_PAGE ? e.DEMO_PAGE === "on" : e.NODE_ENV === "development" && !e.DATABASE_URL,
    notify,
  };
}

function notifyConfig(e: v.InferOutput<typeof EnvSchema>, problems: string[]): NotifyConfig | null {
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
