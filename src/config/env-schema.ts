/**
 * The environment variables the service reads, with their defaults and valid ranges: one valibot
 * schema (config.ts turns its output into the typed Config).
 */
import * as v from "valibot";

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

/** An URL that carries a key or content: https, or plain http on this machine only. */
const secureUrl = (name: string) =>
  v.pipe(
    url(name, ["https:", "http:"]),
    v.check(
      (s) => new URL(s).protocol === "https:" || isLoopback(new URL(s).hostname),
      `${name} must use https:// (plain http:// only on this machine: localhost, 127.0.0.1, ::1)`,
    ),
  );

const list = v.pipe(
  v.string(),
  v.transform((s) =>
    s
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
  ),
);

export const EnvSchema = v.object({
  NODE_ENV: v.optional(
    v.picklist(["development", "production", "test"], "NODE_ENV must be development, production or test"),
    "development",
  ),
  PORT: v.optional(integer("PORT", 0, 65535), "8000"),
  HOST: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1, "HOST must not be empty")), "0.0.0.0"),
  DATABASE_URL: v.optional(url("DATABASE_URL", ["postgres:", "postgresql:"])),
  DATABASE_LISTEN_URL: v.optional(url("DATABASE_LISTEN_URL", ["postgres:", "postgresql:"])),
  DATABASE_POOL_MAX: v.optional(integer("DATABASE_POOL_MAX", 1, 100), "10"),
  DATABASE_POOLER: v.optional(v.picklist(["none", "transaction"], "DATABASE_POOLER must be none or transaction"), "none"),
  DATABASE_TLS_CA_FILE: v.optional(v.pipe(v.string(), v.minLength(1))),
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
  JWT_SECRET_PREVIOUS: v.optional(v.pipe(v.string(), v.minLength(32, "JWT_SECRET_PREVIOUS must be at least 32 characters"))),
  JWT_PUBLIC_KEY: v.optional(
    v.pipe(v.string(), v.includes("-----BEGIN PUBLIC KEY-----", "JWT_PUBLIC_KEY must be a PEM (SPKI) public key")),
  ),
  JWT_JWKS_URL: v.optional(secureUrl("JWT_JWKS_URL")),
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
  EDIT_WINDOW_SECONDS: v.optional(integer("EDIT_WINDOW_SECONDS", 0, 31_536_000), "900"),
  MAX_REACTIONS_PER_MESSAGE: v.optional(integer("MAX_REACTIONS_PER_MESSAGE", 1, 100), "12"),
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
  SHUTDOWN_DELAY_SECONDS: v.optional(seconds("SHUTDOWN_DELAY_SECONDS", 300), "0"),
  SHUTDOWN_PRESENCE_GRACE_SECONDS: v.optional(seconds("SHUTDOWN_PRESENCE_GRACE_SECONDS", 60), "5"),
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
      secureUrl("NOTIFY_WEBHOOK_URL"),
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
  REDIS_KEY_PREFIX: v.optional(
    v.pipe(v.string(), v.regex(/^[a-z0-9_-]{1,32}$/, "REDIS_KEY_PREFIX must be 1 to 32 of a-z, 0-9, _ and -")),
    "chat",
  ),
  MIGRATE_ON_START: v.optional(v.picklist(["true", "false"], "MIGRATE_ON_START must be true or false"), "true"),
  BLOCKED_TERMS_FILE: v.optional(v.pipe(v.string(), v.minLength(1))),
  BLOCKED_TERMS_POLICY: v.optional(v.picklist(["reject", "mask"], "BLOCKED_TERMS_POLICY must be reject or mask"), "reject"),
  PRESEND_CHECK_URL: v.optional(secureUrl("PRESEND_CHECK_URL")),
  PRESEND_CHECK_SECRET: v.optional(v.pipe(v.string(), v.minLength(32, "PRESEND_CHECK_SECRET must be at least 32 characters"))),
  PRESEND_CHECK_TIMEOUT_MS: v.optional(integer("PRESEND_CHECK_TIMEOUT_MS", 10, 10000), "500"),
  PRESEND_CHECK_FAILURE: v.optional(v.picklist(["open", "closed"], "PRESEND_CHECK_FAILURE must be open or closed"), "closed"),
  SERVER_API_KEY: v.optional(v.pipe(v.string(), v.minLength(32, "SERVER_API_KEY must be at least 32 characters"))),
});

export type Env = v.InferOutput<typeof EnvSchema>;
