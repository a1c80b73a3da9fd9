/**
 * The single binary: built with `bun build --compile`, it migrates and serves with environment
 * variables only (PostgreSQL, or its embedded PGlite), chats, and exits cleanly on SIGTERM.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";
import { Client, SECRET, createPair, env, sessionUrl } from "./helpers.ts";
import type { App } from "../src/app.ts";

const dir = mkdtempSync(joinPath(tmpdir(), "chat-binary-"));
const binary = joinPath(dir, "sendbuddy-chat");
const root = joinPath(import.meta.dir, "..");

beforeAll(async () => {
  const build = Bun.spawn(["bun", "run", "build", "--outfile", binary], { cwd: root, stdout: "pipe", stderr: "pipe" });
  const [code, err] = await Promise.all([build.exited, new Response(build.stderr).text()]);
  if (code !== 0) throw new Error(`bun run build failed: ${err}`);
  console.log(`[binary] ${(statSync(binary).size / 1024 / 1024).toFixed(1)} MB`);
}, 120_000);
const children = new Set<Bun.Subprocess>();
afterAll(() => {
  for (const child of children) child.kill("SIGKILL"); // only those a failed test left running
  rmSync(dir, { recursive: true, force: true });
});

/** Starts the binary; resolves once it logs that it listens, with its port and start-up time. */
async function start(extra: Record<string, string>) {
  const started = performance.now();
  const proc = Bun.spawn([binary, "serve"], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...extra },
    stdout: "pipe",
    stderr: "pipe",
  });
  children.add(proc);
  void proc.exited.then(() => children.delete(proc));
  let text = "";
  const decoder = new TextDecoder();
  for (const stream of [proc.stdout, proc.stderr])
    void (async () => {
      for await (const chunk of stream) text += decoder.decode(chunk);
    })();
  for (let i = 0; i < 400; i++) {
    const match = /"url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(text);
    if (match) return { proc, port: Number(match[1]), startupMs: performance.now() - started, output: () => text };
    if (proc.exitCode !== null) break;
    await Bun.sleep(50);
  }
  proc.kill("SIGKILL");
  throw new Error(`the binary did not start: ${text}`);
}

test("production: migrates, serves, chats, and exits 0 on SIGTERM", async () => {
  const server = await start({ NODE_ENV: "production", DATABASE_URL: env.databaseUrl, JWT_SECRET: SECRET });
  console.log(`[binary] ready on PostgreSQL in ${server.startupMs.toFixed(0)} ms`);
  const base = { wsUrl: `ws://127.0.0.1:${server.port}` } as App;
  const pair = await createPair();
  const a = await Client.open(sessionUrl(base, pair.sessionId, pair.inviter.token));
  const b = await Client.open(sessionUrl(base, pair.sessionId, pair.invitee.token));
  a.send({ type: "message", content: "from the binary" });
  expect(await b.next("message")).toMatchObject({ content: "from the binary", sender_id: pair.inviter.id, seq: 1 });
  expect((await fetch(`http://127.0.0.1:${server.port}/demo`)).status).toBe(404); // never in production
  server.proc.kill("SIGTERM");
  expect((await a.closed).code).toBe(1001);
  expect(await server.proc.exited).toBe(0);
  expect(server.output()).toContain('"msg":"stopped"');
}, 30_000);

test("with no DATABASE_URL it runs its embedded PostgreSQL from inside the binary", async () => {
  const server = await start({ NODE_ENV: "development", EMBEDDED_DB_DIR: joinPath(dir, "data") });
  console.log(`[binary] ready on embedded PGlite in ${server.startupMs.toFixed(0)} ms`);
  const ready = await fetch(`http://127.0.0.1:${server.port}/readyz`);
  expect(await ready.json()).toEqual({ status: "ok", database: "up", redis: "local" });
  for (let i = 0; i < 100 && !server.output().includes("then type:"); i++) await Bun.sleep(50);
  const [alex, sam] = [...server.output().matchAll(/wscat -c '([^']+)'/g)].map((m) => m[1]!);
  const a = await Client.open(alex!);
  const b = await Client.open(sam!);
  a.send({ type: "message", content: "embedded" });
  expect((await b.next("message")).content).toBe("embedded");
  server.proc.kill("SIGTERM");
  expect(await server.proc.exited).toBe(0);
}, 60_000);

test("the migrate sub-command applies the schema and exits", async () => {
  const proc = Bun.spawn([binary, "migrate"], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", DATABASE_URL: env.databaseUrl },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, out] = await Promise.all([proc.exited, new Response(proc.stdout).text()]);
  expect(code).toBe(0);
  expect(out).toContain("database schema is up to date");
}, 30_000);
