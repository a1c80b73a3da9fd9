/**
 * The service's configuration: one typed object built from the environment at start-up.
 * Nothing else in the code reads `process.env`.
 */
import * as v from "valibot";

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

const url = (name: string, schemes: string[]) =>
  v.pipe(
    v.string(),
    v.trim(),
    v.check((s) => {
      try {
        return schemes.includes(new URL(s).protocol);
      } catch {
        return false;
      }
    }, `${name} must be a URL starting with ${schemes.map((s) => s + "//").join(" or ")}`),
  );

const EnvSchema = v.object({
  NODE_ENV: v.optional(v.picklist(["development", "production", "test"], "NODE_ENV must be development, production or test"), "development"),
  PORT: v.optional(integer("PORT", 0, 65535), "8000"),
  HOST: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1, "HOST must not be empty")), "0.0.0.0"),
  DATABASE_URL: v.optional(url("DATABASE_URL", ["postgres:", "postgresql:"])),
  DATABASE_POOL_MAX: v.optional(integer("DATABASE_POOL_MAX", 1, 100), "10"),
  EMBEDDED_DB_DIR: v.optional(v.pipe(v.string(), v.minLength(1, "EMBEDDED_DB_DIR must not be empty")), ".data/pglite"),
  REDIS_URL: v.optional(url("REDIS_URL", ["redis:", "rediss:"])),
  JWT_SECRET: v.optional(v.pipe(v.string(), v.minLength(32, "JWT_SECRET must be at least 32 characters"))),
  MAX_FRAME_BYTES: v.optional(integer("MAX_FRAME_BYTES", 1024, 16 * 1024 * 1024), "65536"),
  WS_IDLE_TIMEOUT_SECONDS: v.optional(integer("WS_IDLE_TIMEOUT_SECONDS", 5, 960), "60"),
  WS_BACKPRESSURE_LIMIT_BYTES: v.optional(integer("WS_BACKPRESSURE_LIMIT_BYTES", 64 * 1024, 64 * 1024 * 1024), "1048576"),
  SHUTDOWN_TIMEOUT_MS: v.optional(integer("SHUTDOWN_TIMEOUT_MS", 0, 600_000), "10000"),
  PRESENCE_TTL_SECONDS: v.optional(integer("PRESENCE_TTL_SECONDS", 1, 3600), "30"),
  LOG_LEVEL: v.optional(v.picklist(["debug", "info", "warn", "error", "silent"], "LOG_LEVEL must be debug, info, warn, error or silent"), "info"),
});

export type Config = {
  env: "development" | "production" | "test";
  port: number;
  host: string;
  /** null: embedded PostgreSQL (PGlite) in `embeddedDbDir` ("memory://" keeps nothing). */
  databaseUrl: string | null;
  databasePoolMax: number;
  embeddedDbDir: string;
  /** null: single instance, in-process pub/sub. */
  redisUrl: string | null;
  jwtSecret: string;
  /** True when JWT_SECRET was not set and the development default is used. */
  jwtSecretIsDefault: boolean;
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
  maxFrameBytes: number;
  idleTimeoutSeconds: number;
  backpressureLimitBytes: number;
  shutdownTimeoutMs: number;
  /** With Redis: a dead instance's users go offline within ttl + ttl/3. */
  presenceTtlMs: number;
};

export class ConfigError extends Error {
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

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = v.safeParse(EnvSchema, present(env));
  if (!parsed.success) {
    throw new ConfigError(parsed.issues.map((issue) => issue.message));
  }
  const e = parsed.output;
  if (e.NODE_ENV === "production" && !e.JWT_SECRET) {
    throw new ConfigError(["JWT_SECRET is required when NODE_ENV=production"]);
  }
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL ?? null,
    databasePoolMax: e.DATABASE_POOL_MAX,
    embeddedDbDir: e.EMBEDDED_DB_DIR,
    redisUrl: e.REDIS_URL ?? null,
    jwtSecret: e.JWT_SECRET ?? DEV_JWT_SECRET,
    jwtSecretIsDefault: !e.JWT_SECRET,
    logLevel: e.LOG_LEVEL,
    maxFrameBytes: e.MAX_FRAME_BYTES,
    idleTimeoutSeconds: e.WS_IDLE_TIMEOUT_SECONDS,
    backpressureLimitBytes: e.WS_BACKPRESSURE_LIMIT_BYTES,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    presenceTtlMs: e.PRESENCE_TTL_SECONDS * 1000,
  };
}
