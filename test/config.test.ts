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
    expect(loadConfig({ ALLOWED_ORIGINS: "https://a.example, https://b.example" }).allowedOrigins).toEqual([
      "https://a.example",
      "https://b.example",
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
});
