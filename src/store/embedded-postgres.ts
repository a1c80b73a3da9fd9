/**
 * The embedded default: PGlite (PostgreSQL compiled to WebAssembly) in this process, served by
 * pglite-socket on a Unix socket in a private folder (mode 0700) so that the same postgres.js code
 * talks to it and no other local user can: PGlite has no passwords, so a loopback port would let
 * anyone on the machine read the chat.
 * PGlite is a single backend: the pool in front of it must have exactly one connection.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
// Embedded as files so that `bun build --compile` carries them: PGlite cannot find them by itself
// inside the single binary.
import pgliteWasm from "@electric-sql/pglite/pglite.wasm" with { type: "file" };
import initdbWasm from "@electric-sql/pglite/initdb.wasm" with { type: "file" };
import pgliteData from "@electric-sql/pglite/pglite.data" with { type: "file" };

/**
 * How postgres.js reaches a database: a URL, for a Unix socket the socket's path, whether the URL is
 * a transaction-mode pooler, and the CA (PEM) its TLS certificate must chain to.
 */
export type DatabaseAddress = { url: string; socketPath?: string; transactionPooler?: boolean; caPem?: string };

export type EmbeddedPostgres = { address: DatabaseAddress; stop(): Promise<void> };

export type EmbeddedOptions = {
  /**
   * > 1 only for the test suite, which shares one embedded database between many connections:
   * PGlite is one backend session, so the connections' protocol messages are serialised (see
   * `oneQueryAtATime`).
   */
  maxConnections?: number;
  /** The test suite shares one embedded database with server processes it spawns, by URL: loopback TCP. */
  tcp?: boolean;
};

/** `dir` is a folder that keeps the data across restarts, or "memory://". */
export async function startEmbeddedPostgres(
  dir: string,
  { maxConnections = 1, tcp = false }: EmbeddedOptions = {},
): Promise<EmbeddedPostgres> {
  const releaseLock = dir.startsWith("memory://") ? () => {} : lockDataDir(dir);
  const [pgliteWasmModule, initdbWasmModule, fsBundle] = await Promise.all([
    WebAssembly.compile(await Bun.file(pgliteWasm).arrayBuffer()),
    WebAssembly.compile(await Bun.file(initdbWasm).arrayBuffer()),
    Bun.file(pgliteData)
      .arrayBuffer()
      .then((bytes) => new Blob([bytes])),
  ]);
  const db = await PGlite.create(dir, { pgliteWasmModule, initdbWasmModule, fsBundle });
  const socketDir = tcp ? null : mkdtempSync(join(tmpdir(), "sendbuddy-chat-pg-"));
  const socketPath = socketDir ? join(socketDir, ".s.PGSQL.5432") : undefined;
  const server = new PGLiteSocketServer({ db, maxConnections, ...(socketPath ? { path: socketPath } : { host: "127.0.0.1", port: 0 }) });
  if (maxConnections > 1) oneQueryAtATime(server);
  await server.start();
  return {
    address: socketPath
      ? { url: "postgres://postgres@localhost/postgres", socketPath }
      : { url: `postgres://postgres@${server.getServerConn()}/postgres` },
    async stop() {
      await server.stop();
      await db.close();
      if (socketDir) rmSync(socketDir, { recursive: true, force: true });
      releaseLock();
    },
  };
}

type QueuedMessage = {
  handlerId: number;
  message: Uint8Array;
  resolve(bytes: number): void;
  reject(err: unknown): void;
  onData(d: Uint8Array): void;
};
type QueryQueue = {
  queue: QueuedMessage[];
  processing: boolean;
  lastHandlerId: number | null;
  db: PGlite;
  processQueue(): Promise<void>;
  clearQueueForHandler(handlerId: number): void;
};

/** Protocol messages that end a query: Sync, a simple Query, Terminate (or a connection's startup packet, first byte 0). */
const ENDS_QUERY = new Set([0x53, 0x51, 0x58, 0x00]);

/**
 * pglite-socket (0.2) runs the connections' protocol messages one by one, in arrival order: the Bind
 * of one connection can land between another's Bind and Execute, and PGlite's single session then
 * loses the unnamed portal ("portal does not exist"). This keeps a connection's turn from its first
 * message to its Sync (and, as pglite-socket does, for the length of a transaction). The replacement
 * of the queue's `processQueue` is the same loop with that one rule added.
 */
function oneQueryAtATime(server: PGLiteSocketServer) {
  const q = (server as unknown as { queryQueue: QueryQueue }).queryQueue;
  let turn: number | null = null;
  q.processQueue = async function processQueue(this: QueryQueue) {
    if (this.processing) return;
    this.processing = true;
    while (this.queue.length > 0) {
      const owner = turn ?? (this.db.isInTransaction() ? this.lastHandlerId : null);
      const index = owner === null ? 0 : this.queue.findIndex((m) => m.handlerId === owner);
      if (index === -1) break; // the owner's next message is on its way: its enqueue resumes the loop
      const item = this.queue.splice(index, 1)[0]!;
      let bytes = 0;
      try {
        await this.db.runExclusive(() =>
          this.db.execProtocolRawStream(item.message, {
            onRawData: (data: Uint8Array) => {
              bytes += data.length;
              item.onData(data);
            },
          }),
        );
      } catch (err) {
        turn = null;
        item.reject(err);
        continue;
      }
      this.lastHandlerId = item.handlerId;
      turn = ENDS_QUERY.has(item.message[0]!) ? null : item.handlerId;
      item.resolve(bytes);
    }
    this.processing = false;
  };
  const clear = q.clearQueueForHandler.bind(q);
  q.clearQueueForHandler = (handlerId: number) => {
    if (turn === handlerId) turn = null;
    clear(handlerId);
    void q.processQueue();
  };
}

/** PGlite does not guard its folder: two processes on one folder would corrupt it. */
function lockDataDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const lockFile = join(dir, "chat-server.pid");
  const holder = Number(readFileSync(lockFile, { encoding: "utf8", flag: "a+" }).trim());
  if (holder && holder !== process.pid && isAlive(holder)) {
    throw new Error(`the embedded database in ${dir} is in use by process ${holder}: stop it, or set EMBEDDED_DB_DIR or DATABASE_URL`);
  }
  writeFileSync(lockFile, String(process.pid));
  return () => rmSync(lockFile, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === "EPERM";
  }
}
