/**
 * A TCP proxy on loopback that a test can break: "up" forwards, "down" cuts every connection and
 * refuses new ones, "blackhole" keeps connections open but forwards nothing (a silent network).
 */
import type { Socket, TCPSocketListener } from "bun";

type Mode = "up" | "down" | "blackhole";
type Pair = { client: Socket<Link>; upstream: Socket<Link> | null; pending: Uint8Array[] };
type Link = { pair: Pair };

export class TcpProxy {
  private mode: Mode = "up";
  private readonly pairs = new Set<Pair>();
  private listener: TCPSocketListener<Link> | null = null;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  get port(): number {
    return this.listener!.port;
  }

  start(): void {
    this.listener = Bun.listen<Link>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open: (client) => void this.accept(client),
        data: (client, data) => this.forward(client.data.pair, "up", data),
        close: (client) => this.drop(client.data?.pair),
        error: (client) => this.drop(client.data?.pair),
      },
    });
  }

  set(mode: Mode): void {
    this.mode = mode;
    if (mode === "down") for (const pair of [...this.pairs]) this.drop(pair);
  }

  stop(): void {
    this.set("down");
    this.listener?.stop(true);
  }

  private accept(client: Socket<Link>) {
    const pair: Pair = { client, upstream: null, pending: [] };
    client.data = { pair };
    if (this.mode === "down") return client.end();
    this.pairs.add(pair);
    void Bun.connect<Link>({
      hostname: this.targetHost,
      port: this.targetPort,
      socket: {
        open: (upstream) => {
          upstream.data = { pair };
          pair.upstream = upstream;
          for (const chunk of pair.pending.splice(0)) upstream.write(chunk);
        },
        data: (_upstream, data) => this.forward(pair, "down", data),
        close: () => this.drop(pair),
        error: () => this.drop(pair),
      },
    }).catch(() => this.drop(pair));
  }

  private forward(pair: Pair, direction: "up" | "down", data: Uint8Array) {
    if (this.mode !== "up") return; // blackhole: swallowed
    if (direction === "down") pair.client.write(data);
    else if (pair.upstream) pair.upstream.write(data);
    else pair.pending.push(new Uint8Array(data));
  }

  private drop(pair: Pair | undefined) {
    if (!pair || !this.pairs.delete(pair)) return;
    pair.client.end();
    pair.upstream?.end();
  }
}
