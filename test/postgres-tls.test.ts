/**
 * PostgreSQL over TLS: the suite's PostgreSQL is given a certificate from a self-signed CA for the
 * length of this file (ALTER SYSTEM, then a reload), and the service connects with
 * sslmode=verify-full and DATABASE_TLS_CA_FILE. PGlite has no TLS: on the embedded pass the
 * configuration checks run alone.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";
import postgres from "postgres";
import { ConfigError, loadConfig } from "../src/config/config.ts";
import { connect } from "../src/store/connect.ts";
import { createPair, directDatabaseUrl, env, joinBoth, SECRET, useServers } from "./helpers.ts";

const servers = useServers();
const realPostgres = env.databaseKind.startsWith("PostgreSQL");
const dir = mkdtempSync(joinPath(tmpdir(), "chat-pg-tls-"));
const [ca, key, otherCa, otherKey] = ["ca.crt", "server.key", "other.crt", "other.key"].map((f) => joinPath(dir, f)) as [
  string,
  string,
  string,
  string,
];

/** A self-signed certificate for localhost and 127.0.0.1: the server's, and the CA that signs it. */
function selfSigned(certFile: string, keyFile: string) {
  const made = Bun.spawnSync(
    ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "1"].concat([
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ]),
    { stderr: "pipe" },
  );
  if (made.exitCode !== 0) throw new Error(`openssl failed: ${made.stderr.toString()}`);
}

/** The direct address of the suite's PostgreSQL (not a pooler), by host name so that verify-full checks it. */
function tlsUrl(): string {
  const url = new URL(directDatabaseUrl);
  url.hostname = "localhost";
  url.searchParams.set("sslmode", "verify-full");
  return url.toString();
}

const admin = realPostgres ? postgres(directDatabaseUrl, { max: 1, onnotice: () => {} }) : null;

async function reloadWith(settings: Record<string, string | null>) {
  for (const [name, value] of Object.entries(settings)) {
    await admin!.unsafe(value === null ? `ALTER SYSTEM RESET ${name}` : `ALTER SYSTEM SET ${name} = '${value}'`);
  }
  await admin!`SELECT pg_reload_conf()`;
  await Bun.sleep(300); // the postmaster reloads asynchronously; new connections see it then
}

describe("PostgreSQL over TLS", () => {
  beforeAll(async () => {
    selfSigned(ca, key);
    selfSigned(otherCa, otherKey);
    if (!realPostgres) return;
    // The server reads the key as its own user: owned by postgres, readable by no one else.
    const postgresUid = Number(Bun.spawnSync(["id", "-u", "postgres"]).stdout.toString().trim());
    chmodSync(dir, 0o755);
    chownSync(key, postgresUid, -1);
    chmodSync(key, 0o600);
    await reloadWith({ ssl_cert_file: ca, ssl_key_file: key, ssl: "on" });
  }, 30_000);

  afterAll(async () => {
    if (admin) {
      await reloadWith({ ssl: null, ssl_cert_file: null, ssl_key_file: null });
      await admin.end();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test("DATABASE_TLS_CA_FILE needs sslmode=verify-full in each database URL: a URL is never switched to TLS", () => {
    const base = { NODE_ENV: "test", JWT_SECRET: SECRET, DATABASE_TLS_CA_FILE: ca };
    const plain = "postgres://db.internal:5432/chat";
    const verified = `${plain}?sslmode=verify-full`;
    expect(() => loadConfig({ ...base, DATABASE_URL: plain })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, DATABASE_URL: `${plain}?sslmode=require` })).toThrow(/DATABASE_URL with \?sslmode=verify-full/);
    expect(() => loadConfig({ ...base, DATABASE_URL: verified, DATABASE_LISTEN_URL: plain })).toThrow(/DATABASE_LISTEN_URL/);
    expect(loadConfig({ ...base, DATABASE_URL: verified }).databaseTlsCaFile).toBe(ca);
  });

  if (!realPostgres) return; // PGlite has no TLS

  test("the service connects with the CA, verifies the server, and chats over TLS", async () => {
    const app = await servers.start({ databaseUrl: tlsUrl(), databaseListenUrl: tlsUrl(), databaseTlsCaFile: ca, databasePooler: "none" });
    const pair = await createPair();
    const { a, b } = await joinBoth(app, pair);
    a.send({ type: "message", content: "over TLS" });
    expect((await b.next("message")).content).toBe("over TLS");
    const [row] = await admin!<{ encrypted: number }[]>`
      SELECT count(*)::int AS encrypted FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
      WHERE ssl AND application_name = 'postgres.js'`;
    expect(row!.encrypted).toBeGreaterThan(0);
    a.close();
    b.close();
  });

  test("a server whose certificate does not chain to the CA is refused: the start fails", async () => {
    const sql = connect({ url: tlsUrl(), caPem: await Bun.file(otherCa).text(), poolMax: 1 });
    try {
      await expect(sql`SELECT 1`).rejects.toThrow();
    } finally {
      await sql.end({ timeout: 1 });
    }
    await expect(servers.start({ databaseUrl: tlsUrl(), databaseListenUrl: tlsUrl(), databaseTlsCaFile: otherCa })).rejects.toThrow();
  });
});
