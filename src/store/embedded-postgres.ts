/**
 * The embedded default: PGlite (PostgreSQL compiled to WebAssembly) in this process, served on a
 * loopback port by pglite-socket so that the same postgres.js code talks to it.
 * PGlite is a single backend: the pool in front of it must have exactly one connection.
 */
import { mkdirSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

export type EmbeddedPostgres = { url: string; stop(): Promise<void> };

/**
 * `dir` is a folder that keeps the data across restarts, or "memory://".
 * `maxConnections` > 1 only for the test suite, whose instances each use single statements: PGlite
 * interleaves the connections' queries, so transactions on different connections are not isolated.
 */
export async function startEmbeddedPostgres(dir: string, maxConnections = 1): Promise<EmbeddedPostgres> {
  if (!dir.startsWith("memory://")) mkdirSync(dir, { recursive: true });
  const db = await PGlite.create(dir);
  const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections });
  await server.start();
  return {
    url: `postgres://postgres@${server.getServerConn()}/postgres`,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
