/**
 * Redis servers a test owns: a single one it can stop and restart (outages), or a throwaway Redis
 * Cluster on loopback (masters with replicas) whose nodes it can kill (failover). Each lives in its
 * own temporary folder, on free ports, and is removed afterwards.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const REDIS_SERVER = Bun.which("redis-server");
export const REDIS_CLI = Bun.which("redis-cli");

const handedOut = new Set<number>();

/**
 * A port nothing listens on right now, below Linux's ephemeral range (32768+) so that no outgoing
 * connection of the suite holds it meanwhile, and never the same one twice in this process (a
 * cluster node's data port and another's bus port must differ).
 */
export function freePort(): number {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (handedOut.has(port)) continue;
    try {
      Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }).stop(true);
    } catch {
      continue;
    }
    handedOut.add(port);
    return port;
  }
}

async function answers(port: number, cliArgs: string[] = []): Promise<boolean> {
  const p = Bun.spawn([REDIS_CLI!, "-p", String(port), ...cliArgs, "ping"], { stdout: "pipe", stderr: "ignore" });
  return (await new Response(p.stdout).text()).includes("PONG");
}

async function cli(port: number, args: string[]): Promise<string> {
  const p = Bun.spawn([REDIS_CLI!, "-p", String(port), ...args], { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  await p.exited;
  return out + err;
}

/** One redis-server process with extra arguments (e.g. --requirepass, TLS). */
export class OwnRedis {
  private proc: Bun.Subprocess | null = null;
  readonly dir = mkdtempSync(join(tmpdir(), "chat-redis-"));

  constructor(
    readonly port = freePort(),
    private readonly extraArgs: string[] = [],
    /** redis-cli arguments that reach it (auth, TLS) for the readiness check. */
    private readonly cliArgs: string[] = [],
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (!REDIS_SERVER) throw new Error("redis-server is not installed");
    this.proc = Bun.spawn(
      [
        REDIS_SERVER,
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        this.dir,
        ...this.extraArgs,
      ],
      {
        stdout: "ignore",
        stderr: "ignore",
      },
    );
    for (let i = 0; i < 200; i++) {
      if (await answers(this.port, this.cliArgs)) return;
      await Bun.sleep(25);
    }
    throw new Error(`redis-server on ${this.port} did not start`);
  }

  async stop(): Promise<void> {
    this.proc?.kill("SIGKILL");
    await this.proc?.exited;
    this.proc = null;
  }

  async remove(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A Redis Cluster of `masters` masters with `replicas` replicas each, on loopback. */
export class OwnCluster {
  readonly nodes: OwnRedis[];

  constructor(
    readonly masters = 3,
    readonly replicas = 1,
  ) {
    this.nodes = Array.from({ length: masters * (1 + replicas) }, () => {
      const busPort = freePort();
      return new OwnRedis(freePort(), [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-node-timeout",
        "1000",
        "--cluster-port",
        String(busPort),
        // Replicas sync at once (Redis waits 5 s for more replicas by default): failover needs synced ones.
        "--repl-diskless-sync-delay",
        "0",
      ]);
    });
  }

  /** A seed URL: any node will do. */
  get url(): string {
    return this.nodes[0]!.url;
  }

  async start(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.start()));
    const out = await cli(this.nodes[0]!.port, [
      "--cluster",
      "create",
      ...this.nodes.map((n) => `127.0.0.1:${n.port}`),
      "--cluster-replicas",
      String(this.replicas),
      "--cluster-yes",
    ]);
    if (!out.includes("[OK] All 16384 slots covered")) throw new Error(`redis-cli --cluster create failed:\n${out}`);
    await this.waitHealthy();
    await this.waitReplicasSynced();
  }

  /** Every replica's link to its master is up: only a synced replica can take over. */
  async waitReplicasSynced(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const infos = await Promise.all(this.nodes.map((n) => cli(n.port, ["info", "replication"])));
      if (infos.every((i) => !i.includes("role:slave") || i.includes("master_link_status:up"))) return;
      if (Date.now() > deadline) throw new Error("replicas did not sync");
      await Bun.sleep(100);
    }
  }

  /** Every live node says cluster_state:ok and sees every slot served by a connected, non-failed master. */
  async waitHealthy(timeoutMs = 20_000, alive = this.nodes): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const views = await Promise.all(
        alive.map(async (n) => ({ info: await cli(n.port, ["cluster", "info"]), nodes: await cli(n.port, ["cluster", "nodes"]) })),
      );
      const servingMastersOk = (nodes: string) =>
        nodes
          .split("\n")
          .map((l) => l.trim().split(" "))
          .filter((f) => f.length > 8) // lines that own slot ranges
          .every((f) => f[2]!.includes("master") && !f[2]!.includes("fail") && f[7] === "connected");
      if (views.every((v) => v.info.includes("cluster_state:ok") && servingMastersOk(v.nodes))) return;
      if (Date.now() > deadline) throw new Error(`cluster not healthy:\n${views.map((v) => v.nodes).join("\n")}`);
      await Bun.sleep(100);
    }
  }

  /** The master node that owns `key`'s slot, as `CLUSTER NODES` on a live node says. */
  async masterOf(key: string, askNode = this.nodes[0]!): Promise<OwnRedis> {
    const slot = Number((await cli(askNode.port, ["cluster", "keyslot", key])).trim());
    for (const line of (await cli(askNode.port, ["cluster", "nodes"])).split("\n")) {
      const [, address, flags, , , , , , ...ranges] = line.trim().split(" ");
      if (!flags?.includes("master") || flags.includes("fail")) continue;
      for (const range of ranges) {
        const [from, to = from] = range.split("-").map(Number);
        if (slot >= from! && slot <= to!) return this.nodes.find((n) => n.port === Number(address!.split(":")[1]!.split("@")[0]))!;
      }
    }
    throw new Error(`no master found for slot ${slot}`);
  }

  /** Every node down at once: a full outage. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }

  /** Every node back, on the same ports with the same cluster configuration: the cluster reforms. */
  async restart(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.start()));
    await this.waitHealthy();
  }

  async remove(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.remove()));
  }
}
