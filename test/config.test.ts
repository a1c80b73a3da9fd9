/** Configuration from the environment: defaults, and a clear message for each bad value. */
import { describe, expect, test } from "bun:test";
import { ConfigError, DEV_JWT_SECRET, loadConfig } from "../src/config/config.ts";

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe("configuration", () => {
  test("defaults: port 8000, embedded database, no Redis, development secret flagged", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 8000,
      host: "0.0.0.0",
      databaseUrl: null,
      redisUrl: null,
      env: "development",
      embeddedDbDir: ".data/pglite",
    });
    expect(c.jwt).toMatchObject({ secret: DEV_JWT_SECRET, secretIsDefault: true, algorithms: ["HS256"], clockSkewSeconds: 5 });
    expect(c.allowedOrigins).toBeNull();
    expect(c.limits).toMatchObject({ maxFrameBytes: 65536, messageRatePerSecond: 10, messageBurst: 30, maxConnectionsPerUser: 20 });
  });

  test("values are read and converted", () => {
    const c = loadConfig({
      PORT: "9001",
      HOST: "127.0.0.1",
      DATABASE_URL: "postgres://u@db:5432/x",
      REDIS_URL: "redis://cache:6379/0",
      JWT_SECRET: "s".repeat(40),
      NODE_ENV: "production",
      MAX_FRAME_BYTES: "32768",
    });
    expect(c).toMatchObject({ port: 9001, host: "127.0.0.1", databaseUrl: "postgres://u@db:5432/x", redisUrl: "redis://cache:6379/0" });
    expect(c.limits.maxFrameBytes).toBe(32768);
    expect(c.jwt.secretIsDefault).toBe(false);
    expect(c.databaseListenUrl).toBe("postgres://u@db:5432/x");
    expect(c.shutdownDelayMs).toBe(0);
    expect(loadConfig({ SHUTDOWN_DELAY_SECONDS: "15" }).shutdownDelayMs).toBe(15_000); // the feed LISTENs on DATABASE_URL unless told otherwise
    const direct = "postgres://u@db-direct:5432/x";
    const pooled = { DATABASE_URL: "postgres://u@pooler:6432/x", DATABASE_LISTEN_URL: direct, JWT_SECRET: "s".repeat(40) };
    expect(loadConfig(pooled).databaseListenUrl).toBe(direct);
    expect(loadConfig({ ALLOWED_ORIGINS: "https://a.example, https://b.example" }).allowedOrigins).toEqual([
      "https://a.example",
      "https://b.example",
    ]);
  });

  test("SHUTDOWN_PRESENCE_GRACE_SECONDS: 5 s by default, and it must end before SHUTDOWN_TIMEOUT_MS", () => {
    expect(loadConfig({}).shutdownPresenceGraceMs).toBe(5000);
    expect(loadConfig({ SHUTDOWN_PRESENCE_GRACE_SECONDS: "0", SHUTDOWN_TIMEOUT_MS: "100" }).shutdownPresenceGraceMs).toBe(0);
    expect(problems({ SHUTDOWN_TIMEOUT_MS: "5000" })).toEqual([
      "SHUTDOWN_PRESENCE_GRACE_SECONDS must end before SHUTDOWN_TIMEOUT_MS, else the departures never run",
    ]);
    expect(problems({ SHUTDOWN_PRESENCE_GRACE_SECONDS: "61" })).toHaveLength(1);
  });

  test("JWT_SECRET_PREVIOUS goes with a new JWT_SECRET, never alone or with a public key", () => {
    const old = "o".repeat(40);
    expect(loadConfig({ JWT_SECRET: "n".repeat(40), JWT_SECRET_PREVIOUS: old }).jwt.previousSecret).toBe(old);
    expect(loadConfig({}).jwt.previousSecret).toBeNull();
    expect(problems({ JWT_SECRET_PREVIOUS: old })).toEqual([
      "JWT_SECRET_PREVIOUS is for rotating JWT_SECRET: set the new one in JWT_SECRET (and no public key or JWKS)",
    ]);
  });

  test("empty values count as unset", () => {
    expect(loadConfig({ DATABASE_URL: "", REDIS_URL: "" })).toMatchObject({ databaseUrl: null, redisUrl: null });
  });

  test("each bad value is named in the error", () => {
    expect(problems({ PORT: "eighty" })).toEqual(["PORT must be a whole number"]);
    expect(problems({ PORT: "70000" })).toEqual(["PORT must be at most 65535"]);
    expect(problems({ DATABASE_URL: "mysql://x" })).toEqual(["DATABASE_URL must be a URL starting with postgres:// or postgresql://"]);
    expect(problems({ REDIS_URL: "not a url" })).toEqual(["REDIS_URL must be a URL starting with redis:// or rediss://"]);
    expect(problems({ REDIS_URL: "redis://cache:6379", REDIS_TLS_CA_FILE: "/etc/ca.pem" })).toEqual([
      "REDIS_TLS_CA_FILE is for TLS: give REDIS_URL as rediss://… (a redis:// URL is never switched to TLS)",
    ]);
    expect(problems({ REDIS_URL: "rediss://cache:6380", REDIS_TLS_CA_FILE: "/etc/ca.pem" })).toEqual([]);
    expect(problems({ JWT_SECRET: "short" })).toEqual(["JWT_SECRET must be at least 32 characters"]);
    expect(problems({ NODE_ENV: "staging" })).toEqual(["NODE_ENV must be development, production or test"]);
    expect(problems({ LOG_LEVEL: "loud" })).toHaveLength(1);
    expect(problems({ PORT: "x", REDIS_URL: "y" })).toHaveLength(2);
  });

  test("production, or any real database, requires a JWT key: the development secret is for the embedded database only", () => {
    for (const env of [
      { NODE_ENV: "production" },
      { DATABASE_URL: "postgres://u@db:5432/x" },
      { NODE_ENV: "development", DATABASE_URL: "postgres://u@db:5432/x" },
    ] as Record<string, string>[]) {
      const [problem] = problems(env);
      for (const name of ["JWT_SECRET", "JWT_PUBLIC_KEY", "JWT_JWKS_URL"]) expect(problem).toContain(name);
    }
    expect(problems({ DATABASE_URL: "postgres://u@db:5432/x", JWT_SECRET: "s".repeat(32) })).toEqual([]);
    expect(problems({ DATABASE_URL: "postgres://u@db:5432/x", JWT_JWKS_URL: "https://keys.example/jwks.json" })).toEqual([]);
    // Commands that verify no token (migrate, healthcheck) need no key.
    expect(() => loadConfig({ DATABASE_URL: "postgres://u@db:5432/x" }, { requireKey: false })).not.toThrow();
  });

  test("the demo routes are on only in development on the embedded database", () => {
    expect(loadConfig({})).toMatchObject({ devRoutes: true, demoPage: true });
    expect(loadConfig({ DATABASE_URL: "postgres://u@db:5432/x", JWT_SECRET: "s".repeat(32) })).toMatchObject({
      devRoutes: false,
      demoPage: false,
    });
    expect(loadConfig({ NODE_ENV: "test" })).toMatchObject({ devRoutes: false, demoPage: false });
  });

  test("a JWKS URL must be https, except on this machine", () => {
    expect(problems({ JWT_JWKS_URL: "http://keys.example/jwks.json" })).toEqual([
      "JWT_JWKS_URL must use https:// (plain http:// only on this machine: localhost, 127.0.0.1, ::1)",
    ]);
    for (const url of ["https://keys.example/jwks.json", "http://127.0.0.1:9000/jwks.json", "http://localhost/jwks", "http://[::1]:81/k"]) {
      expect(problems({ JWT_JWKS_URL: url })).toEqual([]);
    }
  });

  test("notifications are off unless VAPID keys or a webhook are set; each needs all of its parts", () => {
    expect(loadConfig({}).notify).toBeNull();
    const vapid = {
      VAPID_PUBLIC_KEY: Buffer.from(new Uint8Array(65).fill(4)).toString("base64url"),
      VAPID_PRIVATE_KEY: Buffer.from(new Uint8Array(32).fill(7)).toString("base64url"),
      VAPID_SUBJECT: "mailto:ops@sendbuddy.test",
    };
    expect(loadConfig(vapid).notify).toMatchObject({
      vapid: { subject: "mailto:ops@sendbuddy.test" },
      webhook: null,
      graceMs: 5000,
      quietMs: 10_000,
      maxAttempts: 8,
      pushHosts: expect.arrayContaining(["fcm.googleapis.com", "push.services.mozilla.com", "push.apple.com"]),
    });
    expect(problems({ VAPID_PUBLIC_KEY: vapid.VAPID_PUBLIC_KEY })).toEqual([
      "Web Push needs all three of VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT",
    ]);
    expect(problems({ ...vapid, VAPID_PRIVATE_KEY: "short" })).toEqual(["VAPID_PRIVATE_KEY must be 32 bytes, URL-safe base64"]);
    expect(problems({ ...vapid, VAPID_SUBJECT: "ops@sendbuddy.test" })).toEqual(["VAPID_SUBJECT must be a mailto: or https: URL"]);
    const secret = "w".repeat(40);
    expect(problems({ NOTIFY_WEBHOOK_URL: "http://backend.example/hooks/chat", NOTIFY_WEBHOOK_SECRET: secret })).toEqual([
      "NOTIFY_WEBHOOK_URL must use https:// (plain http:// only on this machine: localhost, 127.0.0.1, ::1)",
    ]);
    expect(problems({ NOTIFY_WEBHOOK_URL: "https://user:pw@backend.example/hooks", NOTIFY_WEBHOOK_SECRET: secret })).toEqual([
      "NOTIFY_WEBHOOK_URL must not carry credentials (the signature authenticates)",
    ]);
    expect(problems({ NOTIFY_WEBHOOK_URL: "http://127.0.0.1:9000/hooks", NOTIFY_WEBHOOK_SECRET: secret })).toEqual([]);
    expect(problems({ NOTIFY_WEBHOOK_URL: "https://backend.example/hooks/chat" })).toEqual([
      "the notification webhook needs both NOTIFY_WEBHOOK_URL and NOTIFY_WEBHOOK_SECRET",
    ]);
    expect(problems({ NOTIFY_WEBHOOK_URL: "https://backend.example/hooks/chat", NOTIFY_WEBHOOK_SECRET: "short" })).toEqual([
      "NOTIFY_WEBHOOK_SECRET must be at least 32 characters",
    ]);
    const hook = loadConfig({
      NOTIFY_WEBHOOK_URL: "https://backend.example/hooks/chat",
      NOTIFY_WEBHOOK_SECRET: "x".repeat(32),
      NOTIFY_GRACE_SECONDS: "0.5",
      NOTIFY_QUIET_SECONDS: "30",
      PUSH_ENDPOINT_HOSTS: "Push.Example",
    }).notify;
    expect(hook).toMatchObject({
      vapid: null,
      webhook: { url: "https://backend.example/hooks/chat" },
      graceMs: 500,
      quietMs: 30_000,
      pushHosts: ["push.example"],
    });
    expect(problems({ NOTIFY_GRACE_SECONDS: "soon" })).toEqual(["NOTIFY_GRACE_SECONDS must be a number of seconds"]);
  });
});
