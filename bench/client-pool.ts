/**
 * The load-client processes, seen from the orchestrator: spawns them, splits the pairs between them
 * (both participants of a pair in the same process, so that latency is measured on one clock), and
 * sends each request to all of them at once.
 */
import { stopChild } from "./lib/children.ts";
import { IpcWorker } from "./lib/ipc-worker.ts";
import type { ConnectResult, LoadRequest, LoadResult, Participant, ProbeResult, RequestType, Requests, Results } from "./load/ipc.ts";

const WORKER_PATH = new URL("./load/worker.ts", import.meta.url).pathname;

/** One load client process. */
type WorkerHandle = IpcWorker<Requests, Results>;

export type ConnectSummary = ConnectResult;

export class ClientPool {
  private constructor(private readonly workers: WorkerHandle[]) {}

  static start(count: number, lifetimeMs: number): ClientPool {
    return new ClientPool(Array.from({ length: count }, () => new IpcWorker<Requests, Results>(WORKER_PATH, lifetimeMs, "load client")));
  }

  get size(): number {
    return this.workers.length;
  }

  /** Pair i goes to process i mod size; the processes connect at the same time. */
  async connect(participants: Participant[], concurrency: number, timeoutMs: number): Promise<ConnectSummary> {
    const shares = this.workers.map(() => [] as Participant[]);
    for (const p of participants) shares[p.pair % this.workers.length]!.push(p);
    const perWorker = Math.max(1, Math.ceil(concurrency / this.workers.length));
    const results = await this.all(
      "connect",
      (i) => ({ participants: shares[i]!, concurrency: perWorker, timeoutMs }),
      timeoutMs * 4 + 60_000,
    );
    return mergeConnects(results);
  }

  load(request: LoadRequest): Promise<LoadResult[]> {
    const budget = request.warmupMs + request.measureMs + request.graceMs + 30_000;
    return this.all("load", () => request, budget);
  }

  /** `sessions` sessions in all, spread over the processes. */
  probe(sessions: number, timeoutMs: number): Promise<ProbeResult[]> {
    const perWorker = Math.max(1, Math.ceil(sessions / this.workers.length));
    return this.all("probe", () => ({ sessions: perWorker, timeoutMs }), timeoutMs + 10_000);
  }

  async close(): Promise<void> {
    await this.all("close", () => ({}), 10_000).catch(() => {});
    await Promise.all(this.workers.map((w) => stopChild(w.process, 2000)));
  }

  private all<K extends RequestType>(type: K, body: (worker: number) => Requests[K], timeoutMs: number): Promise<Results[K][]> {
    return Promise.all(this.workers.map((w, i) => w.request(type, body(i), timeoutMs)));
  }
}

function mergeConnects(results: ConnectResult[]): ConnectSummary {
  return {
    opened: results.reduce((n, r) => n + r.opened, 0),
    failed: results.reduce((n, r) => n + r.failed, 0),
    // The processes started together: the slowest one is when the last socket opened.
    elapsedMs: Math.max(...results.map((r) => r.elapsedMs)),
    failures: [...new Set(results.flatMap((r) => r.failures))].slice(0, 5),
    closedAfterOpen: results.reduce((n, r) => n + r.closedAfterOpen, 0),
  };
}
