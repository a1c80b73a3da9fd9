/**
 * The newcomer's path on the real command line: `serve` on embedded defaults prints wscat lines that
 * work, `demo` asks the running server, SIGTERM stops it cleanly, and the data survives a restart.
 * Also `migrate`, `token` and configuration errors.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";
import { Client, SECRET, createUser, env, rawHttp } from "./helpers.ts";
import { hs256Verifier } from "../src/auth/tokens.ts";
import { loadConfig } from "../src/config/config.ts";

const MAIN = joinPath(import.meta.dir, "..", "src", "main.ts");
const dataDir = mkdtempSync(joinPath(tmpdir(), "chat-embedded-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** Environment without the runner's database/Redis settings: the embedded defaults. */
function bareEnv(extra: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !["DATABASE_URL", "REDIS_URL", "NODE_ENV", "JWT_SECRET"].includes(k)) out[k] = v;
  return { ...out, ...extra };
}

type Served = { proc: Bun.Subprocess<"ignore", "pipe", "pipe">; output: () => string; port: number; wscat: string[] };

async function serve(extraEnv: Record<string, string>): Promise<Served> {
  const proc = Bun.spawn(["bun", MAIN, "serve"], {
    env: bareEnv({ PORT: "0", HOST: "127.0.0.1", EMBEDDED_DB_DIR: dataDir, ...extraEnv }),
    stdout: "pipe",
    stderr: "pipe",
  });
  let text = "";
  const decoder = new TextDecoder();
  void (async () => {
    for await (const chunk of proc.stdout) text += decoder.decode(chunk);
  })();
  const deadline = Date.now() + 30_000;
  while (!/then type:/.test(text)) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`server did not start: ${text}`);
    await Bun.sleep(50);
  }
  const port = Number(/"url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(text)![1]);
  const wscat = [...text.matchAll(/wscat -c '([^']+)'/g)].map((m) => m[1]!);
  return { proc, output: () => text, port, wscat };
}

/** TCP ports a process listens on, from /proc (Linux): its socket inodes matched against /proc/net/tcp{,6}. */
function listeningTcpPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    const target = (() => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        return "";
      }
    })();
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode) inodes.add(inode);
  }
  const ports = new Set<number>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === "0A" && inodes.has(cols[9]!)) ports.add(parseInt(cols[1]!.split(":")[1]!, 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}

async function run(args: string[], extraEnv: Record<string, string>) {
  const proc = Bun.spawn(["bun", MAIN, ...args], { env: bareEnv(extraEnv), stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

describe("serve on embedded defaults", () => {
  test("prints wscat lines that chat, answers `demo`, stops on SIGTERM, keeps data across restarts", async () => {
    const first = await serve({});
    expect(first.wscat).toHaveLength(2);
    // Its embedded database is on a private Unix socket: the HTTP port is the only one it listens on.
    expect(listeningTcpPorts(first.proc.pid)).toEqual([first.port]);
    const [alex, sam] = await Promise.all(first.wscat.map((url) => Client.open(url)));
    alex!.send({ type: "message", content: "from the README's wscat line" });
    expect((await sam!.next("message")).content).toBe("from the README's wscat line");
    const seq = (await sam!.next("message")).seq as number;

    // A second server on the same data folder or port fails loudly instead of corrupting or sharing.
    const sameDir = await run(["serve"], { PORT: "0", EMBEDDED_DB_DIR: dataDir });
    expect(sameDir.code).toBe(1);
    expect(sameDir.stderr).toContain(`the embedded database in ${dataDir} is in use by process ${first.proc.pid}`);
    const samePort = await run(["serve"], { PORT: String(first.port), HOST: "127.0.0.1", EMBEDDED_DB_DIR: "memory://" });
    expect(samePort.code).toBe(1);
    expect(samePort.stderr).toContain(`Is port ${first.port} in use?`);

    const demo = await run(["demo"], { PORT: String(first.port) });
    expect(demo.code).toBe(0);
    expect(demo.stdout).toContain("wscat -c 'ws://localhost:");
    // The demo accounts route answers pages of this machine only: not a DNS-rebound name, not a cross-site post.
    const post = (headers: string) =>
      rawHttp(first.port, `POST /dev/demo HTTP/1.1\r\n${headers}Content-Length: 0\r\nConnection: close\r\n\r\n`);
    expect(await post(`Host: 127.0.0.1:${first.port}\r\n`)).toStartWith("HTTP/1.1 200");
    expect(await post(`Host: localhost:${first.port}\r\nOrigin: http://localhost:${first.port}\r\n`)).toStartWith("HTTP/1.1 200");
    expect(await post(`Host: rebind.attacker.example:${first.port}\r\n`)).toStartWith("HTTP/1.1 403");
    expect(await post(`Host: 127.0.0.1:${first.port}\r\nOrigin: https://attacker.example\r\n`)).toStartWith("HTTP/1.1 403");

    first.proc.kill("SIGTERM");
    expect(await first.proc.exited).toBe(0);
    expect((await alex!.closed).code).toBe(1001);

    const second = await serve({});
    const again = await Client.open(second.wscat[0]!);
    again.send({ type: "message", content: "after a restart" });
    expect((await again.next("message")).seq).toBe(seq + 1);
    second.proc.kill("SIGTERM");
    expect(await second.proc.exited).toBe(0);
  }, 90_000);
});

describe("commands", () => {
  test("a bad configuration stops the server with a message naming the variable", async () => {
    const r = await run(["serve"], { PORT: "eighty" });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("PORT must be a whole number");
  });

  test("production without a JWT key refuses to start", async () => {
    const r = await run(["serve"], { NODE_ENV: "production", DATABASE_URL: env.databaseUrl });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("a JWT key is required");
  });

  test("a real database without a JWT key refuses to start, whatever NODE_ENV says: the development secret is public", async () => {
    for (const extra of [{}, { NODE_ENV: "development" }] as Record<string, string>[]) {
      const r = await run(["serve"], { DATABASE_URL: env.databaseUrl, ...extra });
      expect(r.code).toBe(2);
      for (const name of ["JWT_SECRET", "JWT_PUBLIC_KEY", "JWT_JWKS_URL"]) expect(r.stderr).toContain(name);
    }
  });

  test("migrate is idempotent against the configured database", async () => {
    for (let i = 0; i < 2; i++) {
      const r = await run(["migrate"], { DATABASE_URL: env.databaseUrl, LOG_LEVEL: "info" });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("database schema is up to date");
    }
  });

  test("vapid prints a new Web Push key pair that the configuration accepts", async () => {
    const r = await run(["vapid"], {});
    expect(r.code).toBe(0);
    const pairs = Object.fromEntries(
      r.stdout
        .trim()
        .split("\n")
        .map((line) => line.split(/=(.*)/s).slice(0, 2)),
    );
    expect(Object.keys(pairs)).toEqual(["VAPID_PUBLIC_KEY", "VAPID_PRIVATE_KEY", "VAPID_SUBJECT"]);
    expect(loadConfig(pairs).notify?.vapid?.publicKey).toBe(pairs.VAPID_PUBLIC_KEY);
  });

  test("token mints a SimpleJWT-shaped access token for a user", async () => {
    const user = await createUser();
    const r = await run(["token", user.id], { JWT_SECRET: SECRET });
    expect(r.code).toBe(0);
    expect(await hs256Verifier(SECRET)(r.stdout.trim())).toMatchObject({ ok: true, userId: user.id });
  });

  test("demo against DATABASE_URL creates the demo session and prints its wscat lines", async () => {
    const r = await run(["demo"], { DATABASE_URL: env.databaseUrl, JWT_SECRET: SECRET, PORT: "8000" });
    expect(r.code).toBe(0);
    expect(r.stdout.match(/wscat -c 'ws:\/\/localhost:8000\/ws\/sessions\/5e55a0b1-0000-4000-8000-000000000001\/\?token=/g)).toHaveLength(
      2,
    );
  });

  test("--version and --help work without any configuration (even a broken one)", async () => {
    const pkg = (await Bun.file(`${import.meta.dir}/../package.json`).json()) as { version: string };
    const broken = { DATABASE_URL: "mysql://nope", PORT: "not a port" };
    const version = await run(["--version"], broken);
    expect({ code: version.code, out: version.stdout.trim() }).toEqual({ code: 0, out: pkg.version });
    const help = await run(["--help"], broken);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("usage:");
  });

  test("healthcheck asks the server where HOST says it listens", async () => {
    const server = Bun.serve({ hostname: "127.0.0.2", port: 0, fetch: () => Response.json({ status: "ok" }) });
    try {
      const here = await run(["healthcheck"], { HOST: "127.0.0.2", PORT: String(server.port) });
      expect(here.code).toBe(0);
      const elsewhere = await run(["healthcheck"], { HOST: "127.0.0.1", PORT: String(server.port) });
      expect(elsewhere.code).toBe(1);
    } finally {
      server.stop(true);
    }
  });

  test("unknown commands print the usage", async () => {
    const r = await run(["fly"], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("usage:");
  });
});
