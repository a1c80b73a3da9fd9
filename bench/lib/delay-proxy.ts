/**
 * A TCP proxy on loopback that holds every chunk it reads for `delayMs / 2` in each direction, so
 * each round trip through it takes `delayMs` longer: a server on another host, on this machine.
 * Timers fire at 1 ms at best, so the last stretch before a chunk is due is polled with setImmediate
 * (CPU spent only while something is held). It counts the chunks it reads from clients (a large
 * write may come in several; a client that waits for each answer sends at least one per command).
 */
import type { Socket, TCPSocketListener } from "bun";

type Held = { due: number; data: Uint8Array };
/** One direction of one connection: chunks held, then written to `to` in order. */
type Lane = { to: Socket<End> | null; held: Held[]; unwritten: Uint8Array | null; closed: boolean };
type Pair = { up: Lane; down: Lane };
type End = { pair: Pair };

export class DelayProxy {
  private listener: TCPSocketListener<End> | null = null;
  private readonly busy = new Set<Lane>();
  private pumping = false;
  /** Chunks read from clients. */
  clientReads = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    private readonly delayMs: number,
  ) {}

  /** Listens on 127.0.0.1 (a free port); returns the port. */
  start(): number {
    this.listener = Bun.listen<End>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open: (client) => this.accept(client),
        data: (client, data) => {
          this.clientReads++;
          this.hold(client.data.pair.up, data);
        },
        drain: (client) => this.resume(client.data.pair.down),
        close: (client) => this.drop(client.data.pair),
        error: (client) => this.drop(client.data.pair),
      },
    });
    return this.listener.port;
  }

  stop(): void {
    this.listener?.stop(true);
  }

  private accept(client: Socket<End>) {
    const pair: Pair = { up: lane(null), down: lane(client) };
    client.data = { pair };
    void Bun.connect<End>({
      hostname: this.targetHost,
      port: this.targetPort,
      data: { pair },
      socket: {
        open: (upstream) => {
          pair.up.to = upstream;
          this.resume(pair.up);
        },
        data: (_upstream, data) => this.hold(pair.down, data),
        drain: () => this.resume(pair.up),
        close: () => this.drop(pair),
        error: () => this.drop(pair),
      },
    }).catch(() => this.drop(pair));
  }

  private hold(lane: Lane, data: Uint8Array) {
    lane.held.push({ due: performance.now() + this.delayMs / 2, data: new Uint8Array(data) });
    if (this.delayMs === 0) return this.write(lane);
    this.busy.add(lane);
    this.schedule(lane.held[0]!.due);
  }

  /** A lane that can take writes again (connected, drained). */
  private resume(lane: Lane) {
    this.write(lane);
    if (lane.held.length === 0 || lane.unwritten) return;
    this.busy.add(lane);
    this.schedule(lane.held[0]!.due);
  }

  private schedule(due: number) {
    if (this.pumping) return;
    this.pumping = true;
    const wait = due - performance.now();
    if (wait > 1.5) setTimeout(this.pump, Math.floor(wait - 1));
    else setImmediate(this.pump);
  }

  /** Writes what is due on every lane; comes back when the next chunk is due. A lane waiting for its drain leaves the round. */
  private pump = () => {
    this.pumping = false;
    let next = Number.POSITIVE_INFINITY;
    for (const lane of this.busy) {
      this.write(lane);
      if (lane.held.length === 0 || lane.unwritten || lane.closed) this.busy.delete(lane);
      else next = Math.min(next, lane.held[0]!.due);
    }
    if (next < Number.POSITIVE_INFINITY) this.schedule(next);
  };

  /** Writes the lane's due chunks in order until the socket takes no more. */
  private write(lane: Lane) {
    if (!lane.to || lane.closed) return;
    if (lane.unwritten && !this.send(lane, lane.unwritten)) return;
    const now = performance.now();
    while (lane.held.length > 0 && lane.held[0]!.due <= now) {
      if (!this.send(lane, lane.held.shift()!.data)) return;
    }
  }

  private send(lane: Lane, data: Uint8Array): boolean {
    const written = lane.to!.write(data);
    lane.unwritten = written < data.length ? data.subarray(Math.max(0, written)) : null;
    return lane.unwritten === null;
  }

  private drop(pair: Pair) {
    for (const lane of [pair.up, pair.down]) {
      lane.closed = true;
      lane.to?.end();
      this.busy.delete(lane);
    }
  }
}

function lane(to: Socket<End> | null): Lane {
  return { to, held: [], unwritten: null, closed: false };
}

export type ProxyRequest = { type: "start"; host: string; port: number; delayMs: number } | { type: "stop" };

export type ProxyThread = { port: number; stop(): Promise<void> };

/** A DelayProxy in a thread of its own, so that its polling and copying do not run on the caller's event loop. */
export async function startDelayProxyThread(host: string, port: number, delayMs: number): Promise<ProxyThread> {
  const worker = new Worker(new URL("./delay-proxy-thread.ts", import.meta.url).href);
  const ask = <T>(request: ProxyRequest) =>
    new Promise<T>((resolve) => {
      worker.addEventListener("message", (event) => resolve((event as MessageEvent<T>).data), { once: true });
      worker.postMessage(request);
    });
  const started = await ask<{ port: number }>({ type: "start", host, port, delayMs });
  return {
    port: started.port,
    stop: async () => {
      await ask({ type: "stop" });
      worker.terminate();
    },
  };
}
