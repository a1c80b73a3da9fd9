/**
 * Every open socket of this instance: connection counts per user, and a sweep each second that
 * closes sockets whose token expired (4003, unless refreshed in-band). Slow readers are Bun's job
 * (closeOnBackpressureLimit): asking each socket for its buffered amount here would cost a native
 * call per socket per second.
 */
import { CloseCode, CloseReason } from "../protocol/codes.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { ChatSocket } from "./types.ts";
import { Counts } from "../lib/counts.ts";
import { BurstCollector } from "./burst-collector.ts";

const SWEEP_MS = 1000;
const DEPARTURES_PER_TURN = 500;

export class SocketRegistry {
  /** Every open socket; each knows its slot (`ws.data.slot`), so removal swaps in the last one. An array, not a Set: 8 bytes a socket. */
  private readonly sockets: ChatSocket[] = [];
  private readonly perUser = new Counts();
  private readonly timer: Timer;
  private readonly collector = new BurstCollector();
  /** While closeAll tells every socket, what their closes leave to do waits here. */
  private departing: (() => unknown)[] | null = null;

  constructor(
    private readonly clockSkewMs: number,
    private readonly metrics: Metrics,
  ) {
    this.timer = setInterval(() => this.sweep(), SWEEP_MS);
  }

  connectionsOf(userId: string): number {
    return this.perUser.get(userId);
  }

  get size(): number {
    return this.sockets.length;
  }

  /** A copy of the list of open sockets (for the rare walk over all of them, e.g. access changes). */
  list(): ChatSocket[] {
    return this.sockets.slice();
  }

  add(ws: ChatSocket, userId: string): void {
    if (ws.data.slot >= 0) return;
    ws.data.slot = this.sockets.push(ws) - 1;
    this.collector.opened();
    this.perUser.increment(userId);
  }

  remove(ws: ChatSocket, userId: string): void {
    const { slot } = ws.data;
    if (slot < 0 || this.sockets[slot] !== ws) return;
    const last = this.sockets.pop()!;
    if (last !== ws) {
      this.sockets[slot] = last;
      last.data.slot = slot;
    }
    ws.data.slot = -1;
    this.perUser.decrement(userId);
  }

  close(ws: ChatSocket, code: CloseCode): void {
    this.metrics.socketsClosedByServer.inc({ code: String(code) });
    ws.close(code, CloseReason[code]);
  }

  /** What a socket's close leaves to do (leave its room, depart from presence): now, or after closeAll's grace. */
  departed(leave: () => unknown): void {
    if (this.departing) this.departing.push(leave);
    else void leave();
  }

  /**
   * Tells every socket `code` first, and only `graceMs` later does what their closes left to do.
   * Bun runs a close handler inside `close()`, and a departure costs more than the close (a
   * presence script, a room's unsubscription): 10,000 sockets were told over 1.5 s, now 0.4 s. A
   * user who reconnects elsewhere within the grace (a deploy) is not shown offline in between; one
   * who does not is, once the grace is over. Backwards: a socket removed while closing is replaced
   * by the last one, already visited. Resolves once every departure is decided and broadcast.
   */
  async closeAll(code: CloseCode, graceMs: number): Promise<void> {
    this.departing = [];
    for (let i = this.sockets.length - 1; i >= 0; i--) {
      const ws = this.sockets[i];
      if (ws) this.close(ws, code);
    }
    const left = this.departing;
    this.departing = null;
    if (left.length === 0) return;
    await Bun.sleep(graceMs);
    const done: unknown[] = [];
    for (let i = 0; i < left.length; i++) {
      done.push(left[i]!());
      if (i % DEPARTURES_PER_TURN === DEPARTURES_PER_TURN - 1) await Bun.sleep(0); // their Redis commands go out meanwhile
    }
    await Promise.allSettled(done);
  }

  stop(): void {
    clearInterval(this.timer);
    this.collector.stop();
  }

  private sweep() {
    const now = Date.now();
    for (let i = this.sockets.length - 1; i >= 0; i--) {
      const ws = this.sockets[i];
      if (!ws) continue;
      const { outcome } = ws.data;
      if (outcome.ok && now > outcome.expiresAt + this.clockSkewMs) this.close(ws, CloseCode.InvalidToken);
    }
  }
}
