/**
 * A client process of the bench, spoken to over Bun's IPC: typed requests by id, each answered once
 * (or failed at its timeout, or when the process exits).
 */
import type { Subprocess } from "bun";
import { spawnChild } from "./children.ts";

export type IpcResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

type Pending = { resolve(result: unknown): void; reject(err: Error): void; timer: Timer };

export class IpcWorker<Requests, Results extends { [K in keyof Requests]: unknown }> {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  readonly process: Subprocess;

  /** `name` says whose errors they are ("load client", "storm client"). */
  constructor(
    path: string,
    lifetimeMs: number,
    private readonly name: string,
  ) {
    this.process = spawnChild([process.execPath, path, String(lifetimeMs)], {
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" },
      ipc: (message) => this.settle(message as IpcResponse),
    });
    void this.process.exited.then((code) => {
      for (const id of [...this.pending.keys()]) this.settle({ id, ok: false, error: `${this.name} exited (${code})` });
    });
  }

  request<K extends keyof Requests & string>(type: K, body: Requests[K], timeoutMs: number): Promise<Results[K]> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => this.settle({ id, ok: false, error: `${this.name}: ${type} timed out after ${timeoutMs} ms` }),
        timeoutMs,
      );
      this.pending.set(id, { resolve: resolve as (r: unknown) => void, reject, timer });
      this.process.send({ id, type, body });
    });
  }

  private settle(response: IpcResponse) {
    const pending = this.pending.get(response.id);
    if (!pending) return;
    this.pending.delete(response.id);
    clearTimeout(pending.timer);
    if (response.ok) pending.resolve(response.result);
    else pending.reject(new Error(response.error));
  }
}
