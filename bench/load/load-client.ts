/** The state of one load-client process: its sockets, the tracker, and the three things it does. */
import { type BenchSocket, openAll } from "./bench-socket.ts";
import { runOpenLoop } from "./open-loop.ts";
import { Tracker, type LoadCounters } from "./tracker.ts";
import { LOAD_START_DELAY_MS, type ConnectResult, type LoadRequest, type LoadResult, type ProbeResult, type Requests } from "./ipc.ts";
import { percentile } from "../lib/stats.ts";

const POLL_MS = 20;
/** After the last handshake, how long to wait for sockets the server closes right after accepting them. */
const CONNECT_SETTLE_MS = 300;

export class LoadClient {
  private readonly tracker = new Tracker();
  /** Makes contents unique across client processes and runs. */
  private readonly tag = crypto.randomUUID().slice(0, 8);
  private sent = 0;
  private sockets: BenchSocket[] = [];
  /** The inviter of every pair whose two sockets are open. */
  private pairs: BenchSocket[] = [];

  async connect({ participants, concurrency, timeoutMs }: Requests["connect"]): Promise<ConnectResult> {
    const opened = await openAll(participants, this.tracker.onFrame, { concurrency, timeoutMs });
    this.sockets = opened.sockets;
    this.pairs = pairUp(opened.sockets);
    await Bun.sleep(CONNECT_SETTLE_MS);
    return {
      opened: opened.sockets.length,
      failed: opened.failures.length,
      elapsedMs: opened.elapsedMs,
      failures: [...new Set(opened.failures)].slice(0, 5),
      closedAfterOpen: this.closedCount(),
    };
  }

  async load(request: LoadRequest): Promise<LoadResult> {
    const senders = this.pairs.flatMap((inviter) => [inviter, inviter.peer!]);
    const startAt = performance.now() + LOAD_START_DELAY_MS;
    const windowStart = startAt + request.warmupMs;
    const windowEnd = windowStart + request.measureMs;
    const load = this.tracker.beginLoad(windowStart, windowEnd);
    const cpu = measureCpuBetween(windowStart, windowEnd);
    const durationMs = request.warmupMs + request.measureMs;
    const changeRate = (request.changesPerParticipant ?? 0) * senders.length;
    let changesSent = 0;
    const changes =
      changeRate > 0
        ? runOpenLoop({ sockets: senders, totalRate: changeRate, startAt, durationMs, send: (s) => (changesSent += this.sendChange(s)) })
        : null;
    const lag = await runOpenLoop({
      sockets: senders,
      totalRate: request.ratePerParticipant * senders.length,
      startAt,
      durationMs,
      send: (socket, intendedAt) => this.sendMessage(socket, intendedAt),
    });
    await changes;
    const clientCpuPct = await cpu;
    await waitUntil(() => load.awaitingPeer === 0 && load.awaitingEcho === 0, request.graceMs);
    return resultOf(load, request.measureMs, {
      clientCpuPct,
      lagMs: lag.samplesMs,
      socketsClosed: this.closedCount(),
      changesSent,
    });
  }

  /** Fan-out check: the inviter of a few sessions sends one message; both participants should get it. */
  async probe({ sessions, timeoutMs }: Requests["probe"]): Promise<ProbeResult> {
    const chosen = this.pairs.slice(0, sessions);
    const load = this.tracker.beginLoad(0, 0);
    const now = performance.now();
    for (const inviter of chosen) this.sendMessage(inviter, now);
    await waitUntil(() => load.awaitingPeer === 0 && load.awaitingEcho === 0, timeoutMs);
    const reached = 2 * load.sent - load.awaitingPeer - load.awaitingEcho;
    return {
      sessions: chosen.length,
      expected: 2 * chosen.length,
      reached,
      openSockets: this.sockets.filter((s) => s.isOpen).length,
      sockets: this.sockets.length,
    };
  }

  async close(): Promise<null> {
    await Promise.all(this.sockets.map((s) => s.close()));
    return null;
  }

  private sendMessage(socket: BenchSocket, intendedAt: number) {
    const content = `bench ${this.tag} ${++this.sent}`;
    const sentAt = performance.now();
    socket.send(JSON.stringify({ type: "message", content }));
    this.tracker.recordSend(socket, content, sentAt, intendedAt);
  }

  /** Toggles the socket's 👍 on the last message it received; 1 when a change went out. */
  private sendChange(socket: BenchSocket): number {
    if (socket.lastSeq === 0) return 0;
    socket.send(JSON.stringify({ type: "react", seq: socket.lastSeq, emoji: "👍" }));
    return 1;
  }

  private closedCount(): number {
    return this.sockets.filter((s) => s.closedUnexpectedly).length;
  }
}

/** Links the two sockets of each session; returns the inviters of complete pairs. */
function pairUp(sockets: BenchSocket[]): BenchSocket[] {
  const bySession = new Map<string, BenchSocket[]>();
  for (const s of sockets) {
    const group = bySession.get(s.participant.sessionId) ?? [];
    group.push(s);
    bySession.set(s.participant.sessionId, group);
  }
  const inviters: BenchSocket[] = [];
  for (const group of bySession.values()) {
    const inviter = group.find((s) => s.participant.role === "inviter");
    const invitee = group.find((s) => s.participant.role === "invitee");
    if (!inviter || !invitee) continue;
    inviter.peer = invitee;
    invitee.peer = inviter;
    inviters.push(inviter);
  }
  return inviters;
}

/** This process' CPU between two instants on the performance clock, in % of one core. */
async function measureCpuBetween(start: number, end: number): Promise<number> {
  await Bun.sleep(Math.max(0, start - performance.now()));
  const before = process.cpuUsage();
  const startedAt = performance.now();
  await Bun.sleep(Math.max(0, end - performance.now()));
  const used = process.cpuUsage(before);
  const elapsedMs = performance.now() - startedAt;
  return elapsedMs > 0 ? ((used.user + used.system) / 1000 / elapsedMs) * 100 : 0;
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!done() && performance.now() < deadline) await Bun.sleep(POLL_MS);
}

function resultOf(
  load: LoadCounters,
  measureMs: number,
  extra: { clientCpuPct: number; lagMs: number[]; socketsClosed: number; changesSent: number },
): LoadResult {
  return {
    sent: load.sent,
    sentInWindow: load.sentInWindow,
    deliveredInWindow: load.deliveredInWindow,
    windowMs: measureMs,
    latenciesMs: load.latenciesMs,
    lost: load.awaitingPeer,
    unechoed: load.awaitingEcho,
    duplicated: load.duplicated,
    outOfOrder: load.outOfOrder,
    errors: load.errors,
    unknownFrames: load.unknownFrames,
    socketsClosed: extra.socketsClosed,
    sendLagP99Ms: percentile(extra.lagMs, 99),
    sendLagMaxMs: extra.lagMs.reduce((a, b) => Math.max(a, b), 0),
    clientCpuPct: extra.clientCpuPct,
    messageIds: load.messageIds,
    changesSent: extra.changesSent,
    changesReceived: load.changesReceived,
  };
}
