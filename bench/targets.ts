/**
 * What a run measures: the bare baseline, the real server, two real instances bridged by Redis, or
 * an already running server (--target). Each started server is a child process whose CPU and RSS
 * the bench samples; its stderr (warnings and errors) goes to a log file the report mentions.
 */
import type { Subprocess } from "bun";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { spawnChild, stopChild } from "./lib/children.ts";
import { freePort, waitReady } from "./lib/net.ts";
import type { Role } from "./load/ipc.ts";
import type { Options } from "./options.ts";

/**
 * "notify": the real server with offline notifications on (a webhook to a sink in the bench process);
 * "presend": the real server with the backend's pre-send check (a check in the bench process that allows all).
 */
export type TargetKind = "bare" | "real" | "notify" | "presend" | "cluster";

export type Target = {
  kind: TargetKind;
  /** The ws:// base each role connects to (different instances in cluster mode). */
  wsBase: Record<Role, string>;
  /** Server processes to sample; empty for a --target server. */
  pids: number[];
  usesDatabase: boolean;
  /** Warning and error lines the servers logged so far. */
  logLines(): string[];
  stop(): Promise<void>;
};

const REPO_ROOT = new URL("..", import.meta.url).pathname;
const BARE_SERVER = new URL("./bare-server.ts", import.meta.url).pathname;
const READY_TIMEOUT_MS = 30_000;

type Instance = { child: Subprocess; port: number; logFile: string };

let started = 0;

export async function startTarget(kind: TargetKind, options: Options, logDir: string): Promise<Target> {
  if (kind === "bare") return targetOf(kind, [await startBare(logDir)], false);
  if (options.target) return externalTarget(options.target);
  if (kind === "real") return targetOf(kind, [await startReal(options, logDir, options.withRedis ? options.redisUrl : null)], true);
  if (kind === "notify") return targetOf(kind, [await startReal(options, logDir, null, notifyEnv())], true);
  if (kind === "presend") return targetOf(kind, [await startReal(options, logDir, null, presendEnv())], true);
  const a = await startReal(options, logDir, options.redisUrl);
  const b = await startReal(options, logDir, options.redisUrl).catch(async (err: unknown) => {
    await stopChild(a.child);
    throw err;
  });
  return targetOf(kind, [a, b], true);
}

function targetOf(kind: TargetKind, instances: Instance[], usesDatabase: boolean): Target {
  const base = (i: Instance) => `ws://127.0.0.1:${i.port}`;
  const last = instances[instances.length - 1]!;
  return {
    kind,
    // In cluster mode the inviter is on instance A and the invitee on B: every delivery crosses Redis.
    wsBase: { inviter: base(instances[0]!), invitee: base(last) },
    pids: instances.map((i) => i.child.pid),
    usesDatabase,
    logLines: () => instances.flatMap((i) => readLines(i.logFile)),
    stop: async () => {
      await Promise.all(instances.map((i) => stopChild(i.child)));
    },
  };
}

function externalTarget(wsBase: string): Target {
  return {
    kind: "real",
    wsBase: { inviter: wsBase, invitee: wsBase },
    pids: [],
    usesDatabase: true,
    logLines: () => [],
    stop: async () => {},
  };
}

async function startBare(logDir: string): Promise<Instance> {
  const port = freePort();
  const logFile = join(logDir, `bare-${++started}.stderr.log`);
  const child = spawnChild([process.execPath, BARE_SERVER], {
    env: baseEnv({ PORT: String(port), HOST: "127.0.0.1" }),
    stderrFile: logFile,
  });
  await readyOrStop({ child, port, logFile });
  return { child, port, logFile };
}

/**
 * Notifications on: every message queues its recipient in the batch's transaction, and the notifier
 * decides after a 1 s grace (the bench's participants are all connected, so nothing is delivered:
 * what is measured is the cost on the message path). The webhook points at a sink that answers 204.
 */
let sink: ReturnType<typeof Bun.serve> | null = null;
function notifyEnv(): Record<string, string> {
  sink ??= Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(null, { status: 204 }) });
  return {
    NOTIFY_WEBHOOK_URL: `http://127.0.0.1:${sink.port}/hook`,
    NOTIFY_WEBHOOK_SECRET: "sendbuddy-chat-bench-webhook-secret-0123456789",
    NOTIFY_GRACE_SECONDS: "1",
  };
}

/** The backend's pre-send check, answering every message at once: what is measured is the round trip on the message path. */
let checker: ReturnType<typeof Bun.serve> | null = null;
function presendEnv(): Record<string, string> {
  checker ??= Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => Response.json({ action: "allow" }) });
  return {
    PRESEND_CHECK_URL: `http://127.0.0.1:${checker.port}/check`,
    PRESEND_CHECK_SECRET: "sendbuddy-chat-bench-presend-secret-0123456789",
  };
}

async function startReal(options: Options, logDir: string, redisUrl: string | null, extra: Record<string, string> = {}): Promise<Instance> {
  const port = freePort();
  const logFile = join(logDir, `real-${++started}.stderr.log`);
  const env = baseEnv({
    PORT: String(port),
    HOST: "127.0.0.1",
    NODE_ENV: "test",
    LOG_LEVEL: "warn",
    JWT_SECRET: options.jwtSecret,
    DATABASE_URL: options.databaseUrl,
    SHUTDOWN_TIMEOUT_MS: "15000", // after SHUTDOWN_PRESENCE_GRACE_SECONDS (5 s by default): the storm's A
    // The bench measures throughput, not the rate limiters (per socket, per user, per IP: every
    // socket comes from 127.0.0.1): lift them as far as they go.
    ...Object.fromEntries(
      ["MESSAGE", "USER_MESSAGE", "CONNECT", "IP"].flatMap((k) => [
        [`${k}_RATE_PER_SECOND`, "100000"],
        [`${k}_BURST`, "100000"],
      ]),
    ),
    MAX_PENDING_WRITES_PER_USER: "100000",
    ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
    ...extra,
  });
  const profile = options.cpuProfDir
    ? ["--cpu-prof", "--cpu-prof-interval=250", "--cpu-prof-md", `--cpu-prof-dir=${options.cpuProfDir}`]
    : [];
  const child = spawnChild([process.execPath, ...profile, "src/main.ts", "serve"], { env, cwd: REPO_ROOT, stderrFile: logFile });
  // With Redis, wait until the bridge is up: a degraded instance would not deliver across instances.
  const accept = redisUrl ? (body: unknown) => (body as { redis?: string } | null)?.redis === "up" : undefined;
  await readyOrStop({ child, port, logFile }, accept);
  return { child, port, logFile };
}

async function readyOrStop(instance: Instance, accept?: (body: unknown) => boolean): Promise<void> {
  try {
    await waitReady(`http://127.0.0.1:${instance.port}`, { timeoutMs: READY_TIMEOUT_MS, exited: () => exitOf(instance.child), accept });
  } catch (err) {
    await stopChild(instance.child);
    const tail = readLines(instance.logFile).slice(-10).join("\n");
    throw new Error(`${(err as Error).message}${tail ? `\nits stderr:\n${tail}` : ""}`);
  }
}

function exitOf(child: Subprocess): string | null {
  if (child.signalCode !== null) return `killed by ${child.signalCode}`;
  return child.exitCode === null ? null : `exit code ${child.exitCode}`;
}

/** Only what the servers need: the parent's DATABASE_URL or REDIS_URL must not leak in. */
function baseEnv(vars: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...vars };
}

function readLines(file: string): string[] {
  try {
    return readFileSync(file, "utf8")
      .split("\n")
      .filter((line) => line.trim() !== "");
  } catch {
    return [];
  }
}
