/** Real servers on ephemeral ports, real WebSocket clients, real databases: the suite's toolkit. */
import { afterAll, describe } from "bun:test";
import { loadConfig, type Config } from "../src/config/config.ts";
import { startApp, type App } from "../src/app.ts";
import { createLogger } from "../src/observability/log.ts";
import { connect } from "../src/store/postgres-store.ts";
import { mintAccessToken } from "../src/auth/tokens.ts";
import { upsertSession, upsertUser } from "../src/store/directory.ts";

export const SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
export const env = globalThis.__chatTest;

/** A connection for assertions, shared by every file (test/setup.ts ends it). */
export const db = (globalThis.__chatTestDb ??= connect({ url: env.databaseUrl, poolMax: 2 }));
declare global {
  var __chatTestDb: ReturnType<typeof connect> | undefined;
}

/** Bulk tests send hundreds of frames at once: per-socket rate limits are lifted unless a test sets them. */
const UNLIMITED = { MESSAGE_RATE_PER_SECOND: "100000", MESSAGE_BURST: "100000", TYPING_RATE_PER_SECOND: "100000", TYPING_BURST: "100000" };

export function testConfig(overrides: Partial<Config> = {}, environment: Record<string, string> = {}): Config {
  return {
    ...loadConfig({ NODE_ENV: "test", JWT_SECRET: SECRET, ...UNLIMITED, ...environment }),
    host: "127.0.0.1",
    port: 0,
    databaseUrl: env.databaseUrl,
    databasePoolMax: 2,
    logLevel: (process.env.TEST_LOG_LEVEL as Config["logLevel"]) ?? "silent",
    ...overrides,
  };
}

/**
 * Call at the top level of a test file: servers started through it are stopped after that file.
 * (Hooks in this shared module itself would attach to whichever file imported it first.)
 */
export function useServers() {
  const started: App[] = [];
  afterAll(async () => {
    await Promise.allSettled(started.map((a) => a.stop()));
  });
  return {
    /** `environment` goes through loadConfig like the real one; `overrides` replace fields after it. */
    async start(overrides: Partial<Config> = {}, environment: Record<string, string> = {}): Promise<App> {
      const config = testConfig(overrides, environment);
      const app = await startApp(config, createLogger(config.logLevel, { instance: started.length }));
      started.push(app);
      return app;
    },
  };
}

/** Runs the group only where Redis is reachable (never skipped in CI: test/setup.ts fails first). */
export function describeWithRedis(name: string, body: () => void) {
  if (env.redisUrl) return describe(name, body);
  env.skipped.push(name);
  // Justified skip: a bare machine has no Redis; CI=true makes setup.ts fail rather than skip.
  return describe.skip(name, body);
}

export type TestUser = { id: string; name: string; token: string };
export type Pair = { sessionId: string; inviter: TestUser; invitee: TestUser };

export async function createUser(name = "Climber"): Promise<TestUser> {
  const id = crypto.randomUUID();
  const display = `${name} ${id.slice(0, 4)}`;
  await upsertUser(db, { id, email: `${id}@test.invalid`, display_name: display });
  return { id, name: display, token: await mintAccessToken(SECRET, id) };
}

export async function createPair(): Promise<Pair> {
  const [inviter, invitee] = await Promise.all([createUser("Inviter"), createUser("Invitee")]);
  const sessionId = crypto.randomUUID();
  await upsertSession(db, { id: sessionId, inviter_id: inviter.id, invitee_id: invitee.id });
  return { sessionId, inviter, invitee };
}

export const sessionUrl = (app: App, sessionId: string, token?: string, extra = "") =>
  `${app.wsUrl}/ws/sessions/${sessionId}/${token === undefined ? "" : `?token=${encodeURIComponent(token)}`}${extra}`;

export type Frame = { type: string; [key: string]: unknown };

/** A real WebSocket client that records every frame it receives. */
export class Client {
  readonly frames: Frame[] = [];
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: (() => void)[] = [];

  constructor(url: string, options?: { headers?: Record<string, string> }) {
    this.ws = new WebSocket(url, options as never);
    this.opened = new Promise((resolve, reject) => {
      this.ws.addEventListener("open", () => resolve(), { once: true });
      this.ws.addEventListener("error", () => reject(new Error("websocket error before open")), { once: true });
    });
    this.closed = new Promise((resolve) => this.ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason }), { once: true }));
    this.ws.addEventListener("message", (e) => {
      this.frames.push(JSON.parse(String(e.data)));
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed.then(() => {
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async open(url: string, options?: { headers?: Record<string, string> }): Promise<Client> {
    const c = new Client(url, options);
    await c.opened;
    return c;
  }

  send(frame: unknown) {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  of(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }

  /** Waits until `predicate` holds over the recorded frames. */
  async until(predicate: (frames: Frame[]) => boolean, what = "frames", timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.frames)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.frames.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The first frame of `type` received after the `skip` first ones. */
  async next(type: string, index = 0, timeoutMs = 5000): Promise<Frame> {
    await this.until((f) => f.filter((x) => x.type === type).length > index, `${type} #${index}`, timeoutMs);
    return this.of(type)[index]!;
  }

  close() {
    this.ws.close();
    return this.closed;
  }
}

/** Opens and waits for the server to have joined the socket to its room. */
export async function join(app: App, sessionId: string, token: string): Promise<Client> {
  const c = await Client.open(sessionUrl(app, sessionId, token));
  return c;
}

/** Resolves after the current burst of network events settled: for asserting that nothing more arrives. */
export const settle = (ms = 150) => Bun.sleep(ms);

