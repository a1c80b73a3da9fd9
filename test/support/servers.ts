/** Servers for the suite: in-process on ephemeral ports (useServers), or as processes of their own (spawnServer). */
import { afterAll } from "bun:test";
import { loadConfig, type Config } from "../../src/config/config.ts";
import { startApp, type App } from "../../src/app.ts";
import { createLogger } from "../../src/observability/log.ts";
import { SECRET, env, poolerEnvironment } from "./env.ts";

/**
 * Bulk tests send hundreds of frames and open many sockets at once, all from 127.0.0.1: rate limits
 * (per socket, per user, per IP) are lifted unless a test sets them.
 */
export const UNLIMITED: Record<string, string> = Object.fromEntries(
  [
    "MESSAGE_RATE_PER_SECOND",
    "MESSAGE_BURST",
    "TYPING_RATE_PER_SECOND",
    "TYPING_BURST",
    "USER_MESSAGE_RATE_PER_SECOND",
    "USER_MESSAGE_BURST",
    "MAX_PENDING_WRITES_PER_USER",
    "CONNECT_RATE_PER_SECOND",
    "CONNECT_BURST",
    "API_RATE_PER_SECOND",
    "API_BURST",
    "IP_RATE_PER_SECOND",
    "IP_BURST",
  ].map((name) => [name, "100000"]),
);

export function testConfig(overrides: Partial<Config> = {}, environment: Record<string, string> = {}): Config {
  return {
    ...loadConfig({ NODE_ENV: "test", JWT_SECRET: SECRET, ...UNLIMITED, ...poolerEnvironment(true), ...environment }),
    host: "127.0.0.1",
    port: 0,
    databaseUrl: env.databaseUrl,
    databasePoolMax: 2,
    shutdownPresenceGraceMs: 0, // a suite's servers stop at once (test/shutdown.test.ts sets its own)
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

/** A server running as its own process (`bun src/main.ts serve`, or the compiled binary). */
export type ServerProcess = {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  port: number;
  /** Where helpers such as sessionUrl() expect an App. */
  at: App;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
  /** Waits until it printed `text`. */
  printed(text: string, timeoutMs?: number): Promise<void>;
};

export const MAIN = `${import.meta.dir}/../../src/main.ts`;

/**
 * Starts a server process on a free port and resolves once it logged that it listens. Its output is
 * drained all along (a full pipe would block it). `command` defaults to `bun src/main.ts serve`.
 */
export async function spawnServer(
  environment: Record<string, string>,
  command = ["bun", MAIN, "serve"],
  cwd?: string,
): Promise<ServerProcess> {
  const proc = Bun.spawn(command, {
    cwd,
    env: {
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      SHUTDOWN_PRESENCE_GRACE_SECONDS: "0", // stopped at once, as the in-process ones (testConfig)
      ...(environment.DATABASE_URL === env.databaseUrl ? poolerEnvironment() : {}),
      ...environment,
    },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let text = "";
  const decoder = new TextDecoder();
  for (const stream of [proc.stdout, proc.stderr])
    void (async () => {
      for await (const chunk of stream) text += decoder.decode(chunk);
    })();
  const printed = async (wanted: string | RegExp, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(typeof wanted === "string" ? text.includes(wanted) : wanted.test(text))) {
      if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`the server never printed ${wanted}:\n${text.slice(-2000)}`);
      await Bun.sleep(25);
    }
  };
  try {
    await printed(/"url":"http:\/\/127\.0\.0\.1:\d+"/);
  } catch (err) {
    proc.kill("SIGKILL");
    throw err;
  }
  const port = Number(/"url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(text)![1]);
  const at = { wsUrl: `ws://127.0.0.1:${port}`, httpUrl: `http://127.0.0.1:${port}` } as App;
  return { proc, port, at, output: () => text, printed: (t, ms) => printed(t, ms) };
}
