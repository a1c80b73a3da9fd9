/**
 * Behind a transaction-mode pooler (PgBouncer): the configuration it needs, and, on the suite's
 * pooler pass (`bun run test:pooler` with DATABASE_POOLER=transaction, see README), a server
 * started through it. The pass runs the core test files through PgBouncer; this file adds what
 * only that setup has.
 */
import { describe, expect, spyOn, test } from "bun:test";
import { ConfigError, loadConfig } from "../src/config/config.ts";
import { connect, databaseAddresses } from "../src/store/connect.ts";
import { createPair, db, env, joinBoth, SECRET, useServers } from "./helpers.ts";

const servers = useServers();
const pooler = "postgres://chat@pgbouncer:6432/chat";
const direct = "postgres://chat@db:5432/chat";

describe("the configuration for a transaction pooler", () => {
  test("DATABASE_POOLER=transaction needs DATABASE_LISTEN_URL, the direct address for LISTEN and migrations", () => {
    const base = { NODE_ENV: "test", JWT_SECRET: SECRET, DATABASE_POOLER: "transaction" };
    expect(() => loadConfig({ ...base, DATABASE_URL: pooler })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, DATABASE_URL: pooler })).toThrow(/DATABASE_LISTEN_URL/);
    expect(() => loadConfig({ ...base })).toThrow(/DATABASE_POOLER=transaction needs DATABASE_URL/);
    expect(() => loadConfig({ ...base, DATABASE_POOLER: "session", DATABASE_URL: pooler })).toThrow(/none or transaction/);
  });

  test("the pool goes through the pooler without prepared statements; migrations and LISTEN go direct (without a pooler, migrations use DATABASE_URL)", () => {
    const config = loadConfig({
      NODE_ENV: "test",
      JWT_SECRET: SECRET,
      DATABASE_POOLER: "transaction",
      DATABASE_URL: pooler,
      DATABASE_LISTEN_URL: direct,
    });
    expect(databaseAddresses({ ...config, databaseUrl: pooler })).toEqual({
      pool: { url: pooler, transactionPooler: true },
      listen: { url: direct },
      migrations: { url: direct },
    });
    const plain = loadConfig({ NODE_ENV: "test", JWT_SECRET: SECRET, DATABASE_URL: direct, DATABASE_LISTEN_URL: pooler });
    expect(databaseAddresses({ ...plain, databaseUrl: direct })).toEqual({
      pool: { url: direct, transactionPooler: false },
      listen: { url: pooler },
      migrations: { url: direct },
    });
  });
});

if (env.poolerListenUrl) {
  describe("through PgBouncer in transaction mode", () => {
    test("a server chats through it and says when the role sets no statement_timeout", async () => {
      const lines: string[] = [];
      // Warnings go to stderr.
      const spy = spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
        lines.push(String(chunk));
        return true;
      });
      try {
        const app = await servers.start({ logLevel: "warn" });
        const pair = await createPair();
        const { a, b } = await joinBoth(app, pair);
        a.send({ type: "message", content: "through the pooler" });
        expect((await b.next("message")).content).toBe("through the pooler");
        a.close();
        b.close();
      } finally {
        spy.mockRestore();
      }
      const [role] = await db<{ statement_timeout: string }[]>`SHOW statement_timeout`;
      const warned = lines.some((l) => l.includes("no statement_timeout behind the transaction pooler"));
      expect(warned).toBe(role!.statement_timeout === "0");
    });

    test("queries of every shape at once all get their answer: none is pipelined behind another (PgBouncer would lose its reply)", async () => {
      // A query without parameters leaves its connection open to pipelining; the next one, with
      // parameters, starts with a Describe that PgBouncer 1.18 forwards and then, on the first
      // query's ReadyForQuery, drops the answer of: that connection would wait forever.
      const sql = connect({ url: env.databaseUrl!, transactionPooler: true, poolMax: 2 });
      const shapes = [
        // Bounded: the table's size (a development database collects users) must not time the test.
        () => sql`SELECT count(*)::int AS n FROM (SELECT 1 FROM users LIMIT 100) AS u`,
        () => sql`SELECT ${1}::int AS one`,
        () => sql.begin(async (tx) => [await tx`SELECT ${2}::int AS two`, await tx`SELECT 3 AS three`]),
      ];
      try {
        const work: Promise<unknown>[] = [];
        for (let i = 0; i < 600; i++) {
          work.push(shapes[i % shapes.length]!());
          if (i % 5 === 0) await Bun.sleep(1);
        }
        const outcome = await Promise.race([Promise.all(work).then(() => "answered"), Bun.sleep(15_000).then(() => "stuck")]);
        expect(outcome).toBe("answered");
      } finally {
        await sql.end({ timeout: 1 });
      }
    });
  });
}
