/**
 * Every open socket of this instance: connection counts per user, and a sweep each second that
 * closes sockets whose token expired (4003, unless refreshed in-band). Slow readers are Bun's job
 * (closeOnBackpressureLimit): asking each socket for its buffered amount here would cost a native
 * call per socket per second.
 */
import { CloseCode, CloseReason } from "../protocol/codes.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { ChatSocket } from "./types.ts";

const SWEEP_MS = 1000;

export class SocketRegistry {
  readonly sockets = new Set<ChatSocket>();
  private readonly perUser = new Map<string, number>();
  private readonly timer: Timer;

  constructor(
    private readonly clockSkewMs: number,
    private readonly metrics: Metrics,
  ) {
    this.timer = setInterval(() => this.sweep(), SWEEP_MS);
  }

  connectionsOf(userId: string): number {
    return this.perUser.get(userId) ?? 0;
  }

  add(ws: ChatSocket, userId: string): void {
    this.sockets.add(ws);
    this.perUser.set(userId, this.connectionsOf(userId) + 1);
  }

  remove(ws: ChatSocket, userId: string): void {
    if (!this.sockets.delete(ws)) return;
    const n = this.connectionsOf(userId) - 1;
    if (n > 0) this.perUser.set(userId, n);
    else this.perUser.delete(userId);
  }

  close(ws: ChatSocket, code: CloseCode): void {
    this.metrics.socketsClosedByServer.inc({ code: String(code) });
    ws.close(code, CloseReason[code]);
  }

  closeAll(code: CloseCode): void {
    for (const ws of this.sockets) this.close(ws, code);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sweep() {
    const now = Date.now();
    for (const ws of this.sockets) {
      const { outcome } = ws.data;
      if (outcome.ok && now > outcome.expiresAt + this.clockSkewMs) this.close(ws, CloseCode.InvalidToken);
    }
  }
}
