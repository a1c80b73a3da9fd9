/**
 * One storm client process' sockets. Each socket behaves as the client package's connection does
 * (src/client/connection.ts, send-queue.ts): every connection carries `after=<last seq seen>`, is
 * "joined" when its `resumed` frame arrives, and reconnects after a close with the package's own
 * policy (src/client/reconnect-policy.ts: 1001 → at once with 0–250 ms of jitter, then jittered
 * exponential backoff from 500 ms); messages carry a `client_id`, wait while the socket is not joined,
 * go out again with the same `client_id` after a reconnection until their echo arrives (at most 20 on
 * the wire), and `unavailable`/`rate_limited` refusals are retried with backoff, 5 times at most.
 * Messages are de-duplicated by seq, as the package does; what would have been a duplicate or a
 * reorder is counted. First connections go to instance A, every reconnection to instance B.
 */
// The client package's own values, as a real client behaves.
import { JOIN_TIMEOUT_MS, STABLE_CONNECTION_MS } from "../../src/client/connection.ts";
import { MAX_IN_FLIGHT, MAX_SEND_RETRIES } from "../../src/client/send-queue.ts";
import { backoffDelay, planAfterClose, reconnectDelay } from "../../src/client/reconnect-policy.ts";
import { RETRYABLE_ERRORS } from "../../src/protocol/codes.ts";
import { percentile } from "./stats.ts";
import { wallNow, type StormConnectResult, type StormRequests, type StormResult, type StormSocketSpec } from "./storm-ipc.ts";

const POLL_MS = 10;
const MIN_WAIT_MS = 1;

type Msg = {
  clientId: string;
  content: string;
  sender: StormSocket;
  attemptAt: number;
  lastWireAt: number;
  /** On the current connection's wire, unacknowledged. */
  wired: boolean;
  wires: number;
  /** Held by the sender's reconnection: attempted while not joined, or unacknowledged when the socket was cut. */
  held: boolean;
  /** Attempted while the sender's socket was not joined. */
  queued: boolean;
  acked: boolean;
  seq: number | null;
  deliveredAt: number | null;
  /** When the receiving socket's connection (the one the message arrived on) had opened. */
  receiverOpenAt: number | null;
  errorRetries: number;
  retryTimer: Timer | null;
};

type Frame = {
  type?: unknown;
  seq?: number;
  message_id?: string;
  client_id?: string;
  code?: string;
  replayed?: number;
  complete?: boolean;
};

class StormSocket {
  peer: StormSocket | null = null;
  ws: WebSocket | null = null;
  joined = false;
  joinedAt = 0;
  lastSeq = 0;
  readonly seen = new Set<number>();
  /** Consecutive failures, as the client package counts them (reset after a connection that lasted 10 s). */
  failures = 0;
  connOpenAt: number | null = null;
  cutAt: number | null = null;
  firstRetryAt: number | null = null;
  openAt: number | null = null;
  resumedAt: number | null = null;
  gaveUp = false;
  readonly pending = new Map<string, Msg>();
  onWire = 0;
  joinTimer: Timer | null = null;
  waiter: { resolve(): void; reject(err: Error): void } | null = null;

  constructor(readonly spec: StormSocketSpec) {}
}

export class StormClient {
  private phase: "connecting" | "running" | "closing" = "connecting";
  private sockets: StormSocket[] = [];
  private chatters: StormSocket[] = [];
  private baseA = "";
  private baseB = "";
  private jitterMs: number | null = null;
  private readonly tag = crypto.randomUUID().slice(0, 8);
  private readonly messages = new Map<string, Msg>();
  private readonly sent: Msg[] = [];
  private chatDone: Promise<number[]> = Promise.resolve([]);
  private cpuAtChat = process.cpuUsage();
  private chatStartedAt = 0;
  /** Sockets resumed after their cut, or given up: the storm is over when they are all. */
  private settled = 0;
  private readonly r = {
    cutCodes: {} as Record<string, number>,
    failedAttempts: {} as Record<string, number>,
    gaveUp: {} as Record<string, number>,
    errors: {} as Record<string, number>,
    closedAgain: 0,
    replayed: 0,
    incompleteReplays: 0,
    retryAnswers: 0,
    duplicated: 0,
    outOfOrder: 0,
    doubled: 0,
    unknownMessages: 0,
    messageIds: [] as string[],
  };

  async connect({ sockets, baseA, baseB, concurrency, timeoutMs, jitterMs }: StormRequests["connect"]): Promise<StormConnectResult> {
    this.baseA = baseA;
    this.baseB = baseB;
    this.jitterMs = jitterMs;
    const all = sockets.map((spec) => new StormSocket(spec));
    const opened: StormSocket[] = [];
    const failures: string[] = [];
    let next = 0;
    const lane = async () => {
      while (next < all.length) {
        const s = all[next++]!;
        try {
          await new Promise<void>((resolve, reject) => {
            s.waiter = { resolve, reject };
            this.dial(s, this.baseA, timeoutMs);
          });
          opened.push(s);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: Math.min(concurrency, all.length) }, lane));
    const elapsedMs = performance.now() - started;
    this.sockets = opened;
    this.chatters = pairUp(opened);
    this.phase = "running";
    return { opened: opened.length, failed: failures.length, elapsedMs, failures: [...new Set(failures)].slice(0, 5) };
  }

  chat({ ratePerParticipant, startAt, durationMs }: StormRequests["chat"]): null {
    this.chatStartedAt = startAt;
    const startPerf = startAt - performance.timeOrigin;
    void Bun.sleep(Math.max(0, startPerf - performance.now())).then(() => (this.cpuAtChat = process.cpuUsage()));
    this.chatDone = openLoop(this.chatters, ratePerParticipant * this.chatters.length, startPerf, durationMs, (s) => this.attempt(s));
    return null;
  }

  async finish({ sigtermAt, stormTimeoutMs, graceMs }: StormRequests["finish"]): Promise<StormResult> {
    const lags = await this.chatDone;
    const stormDeadline = sigtermAt + stormTimeoutMs;
    await waitUntil(() => this.settled === this.sockets.length, stormDeadline - wallNow());
    await waitUntil(() => this.sent.every((m) => m.acked && m.deliveredAt !== null), graceMs);
    const cpu = process.cpuUsage(this.cpuAtChat);
    const elapsedMs = wallNow() - this.chatStartedAt;
    const { messageIds, ...counters } = this.r;
    return {
      sockets: this.sockets.length,
      cutAt: this.sockets.map((s) => s.cutAt),
      firstRetryAt: this.sockets.map((s) => s.firstRetryAt),
      openAt: this.sockets.map((s) => s.openAt),
      resumedAt: this.sockets.map((s) => s.resumedAt),
      ...counters,
      sent: this.sent.length,
      acked: this.sent.filter((m) => m.acked).length,
      delivered: this.sent.filter((m) => m.deliveredAt !== null).length,
      retried: this.sent.filter((m) => m.wires > 1).length,
      queued: this.sent.filter((m) => m.queued).length,
      msgAttemptAt: this.sent.map((m) => m.attemptAt),
      msgLastWireAt: this.sent.map((m) => m.lastWireAt),
      msgHeld: this.sent.map((m) => m.held),
      msgDeliveredAt: this.sent.map((m) => m.deliveredAt),
      msgReceiverOpenAt: this.sent.map((m) => m.receiverOpenAt),
      clientIds: this.sent.map((m) => m.clientId),
      contents: this.sent.map((m) => m.content),
      messageIds,
      chatters: this.chatters.map((s) => ({ sessionId: s.spec.sessionId, lastSeq: s.lastSeq, distinct: s.seen.size })),
      clientCpuPct: elapsedMs > 0 ? ((cpu.user + cpu.system) / 1000 / elapsedMs) * 100 : 0,
      sendLagP99Ms: percentile(lags, 99),
      sendLagMaxMs: lags.reduce((a, b) => Math.max(a, b), 0),
    };
  }

  async close(): Promise<null> {
    this.phase = "closing";
    const open = this.sockets.flatMap((s) => (s.ws ? [s.ws] : []));
    for (const s of this.sockets) if (s.joinTimer) clearTimeout(s.joinTimer);
    await Promise.all(
      open.map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (ws.readyState === WebSocket.CLOSED) return resolve();
            const timer = setTimeout(resolve, 2000);
            ws.addEventListener("close", () => {
              clearTimeout(timer);
              resolve();
            });
            ws.close(1000, "bench done");
          }),
      ),
    );
    return null;
  }

  private dial(s: StormSocket, base: string, joinTimeoutMs = JOIN_TIMEOUT_MS) {
    const url = `${base}/ws/sessions/${s.spec.sessionId}/?token=${encodeURIComponent(s.spec.token)}&after=${s.lastSeq}`;
    const ws = new WebSocket(url);
    s.ws = ws;
    s.joined = false;
    s.connOpenAt = null;
    ws.onopen = () => {
      if (s.ws === ws) s.connOpenAt = wallNow();
    };
    ws.onmessage = (e) => {
      if (s.ws === ws) this.onFrame(s, String(e.data));
    };
    ws.onclose = (e) => {
      if (s.ws !== ws) return;
      s.ws = null;
      this.lost(s, e.code, String(e.code));
    };
    s.joinTimer = setTimeout(() => {
      if (s.ws !== ws || s.joined) return;
      s.ws = null;
      ws.close();
      this.lost(s, 1006, "join timeout");
    }, joinTimeoutMs);
  }

  /** The connection ended or could not be made: the client package's decision, then a reconnection to B. */
  private lost(s: StormSocket, code: number, key: string) {
    const wasJoined = s.joined;
    s.joined = false;
    if (s.joinTimer) clearTimeout(s.joinTimer);
    s.joinTimer = null;
    for (const m of s.pending.values()) {
      if (!m.wired) continue;
      m.wired = false;
      m.held = true;
    }
    s.onWire = 0;
    if (this.phase === "connecting") {
      s.waiter?.reject(new Error(`closed before resumed (${key})`));
      s.waiter = null;
      return;
    }
    if (this.phase === "closing") return;
    const now = wallNow();
    if (s.cutAt === null) {
      s.cutAt = now;
      count(this.r.cutCodes, key);
    } else if (!wasJoined) count(this.r.failedAttempts, key);
    else this.r.closedAgain++;
    const plan = planAfterClose(code);
    if (!plan.reconnect) {
      s.gaveUp = true;
      if (s.resumedAt === null) this.settled++;
      count(this.r.gaveUp, key);
      return;
    }
    if (wasJoined && now - s.joinedAt >= STABLE_CONNECTION_MS) s.failures = 0;
    const delay =
      this.jitterMs !== null && plan.immediate && s.failures === 0 ? Math.random() * this.jitterMs : reconnectDelay(plan, s.failures);
    s.failures++;
    setTimeout(() => {
      if (this.phase !== "running") return;
      s.firstRetryAt ??= wallNow();
      this.dial(s, this.baseB);
    }, delay);
  }

  private onFrame(s: StormSocket, text: string) {
    const now = wallNow();
    let frame: Frame;
    try {
      frame = JSON.parse(text) as Frame;
    } catch {
      this.r.unknownMessages++;
      return;
    }
    if (frame.type === "message") this.onMessage(s, frame, now);
    else if (frame.type === "resumed") this.onResumed(s, frame, now);
    else if (frame.type === "error") this.onError(s, frame);
  }

  private onResumed(s: StormSocket, frame: Frame, now: number) {
    s.joined = true;
    s.joinedAt = now;
    if (s.joinTimer) clearTimeout(s.joinTimer);
    s.joinTimer = null;
    this.r.replayed += frame.replayed ?? 0;
    if (frame.complete === false) this.r.incompleteReplays++;
    if (this.phase === "connecting") {
      s.waiter?.resolve();
      s.waiter = null;
    } else if (s.cutAt !== null && s.resumedAt === null) {
      s.resumedAt = now;
      s.openAt = s.connOpenAt;
      if (!s.gaveUp) this.settled++;
    }
    this.pump(s, now);
  }

  private onMessage(s: StormSocket, frame: Frame, now: number) {
    const seq = Number(frame.seq);
    const m = frame.client_id === undefined ? undefined : this.messages.get(frame.client_id);
    const own = m !== undefined && m.sender === s ? m : null;
    if (s.seen.has(seq)) {
      // The answer to a retried client_id comes back to its sender even when it had the broadcast.
      if (own && own.wires > 1 && own.seq === seq) this.r.retryAnswers++;
      else this.r.duplicated++;
      if (own) this.ack(own, now);
      return;
    }
    s.seen.add(seq);
    if (seq < s.lastSeq) this.r.outOfOrder++;
    else s.lastSeq = seq;
    if (!m || m.sender.spec.sessionId !== s.spec.sessionId) {
      this.r.unknownMessages++;
      return;
    }
    if (m.seq === null) {
      m.seq = seq;
      if (frame.message_id) this.r.messageIds.push(frame.message_id);
    } else if (m.seq !== seq) this.r.doubled++;
    if (own) this.ack(own, now);
    else if (m.deliveredAt === null) {
      m.deliveredAt = now;
      m.receiverOpenAt = s.connOpenAt;
    }
  }

  private onError(s: StormSocket, frame: Frame) {
    const code = String(frame.code);
    count(this.r.errors, code);
    const m = frame.client_id === undefined ? undefined : this.messages.get(frame.client_id);
    if (!m || m.sender !== s || m.acked || !RETRYABLE_ERRORS.has(code) || m.errorRetries >= MAX_SEND_RETRIES) return;
    if (m.wired) {
      m.wired = false;
      s.onWire--;
    }
    m.retryTimer = setTimeout(
      () => {
        m.retryTimer = null;
        this.pump(s, wallNow());
      },
      backoffDelay(m.errorRetries++),
    );
  }

  private attempt(s: StormSocket) {
    const now = wallNow();
    const clientId = crypto.randomUUID();
    const m: Msg = {
      clientId,
      content: `storm ${this.tag} ${this.sent.length + 1}`,
      sender: s,
      attemptAt: now,
      lastWireAt: now,
      wired: false,
      wires: 0,
      held: !s.joined,
      queued: !s.joined,
      acked: false,
      seq: null,
      deliveredAt: null,
      receiverOpenAt: null,
      errorRetries: 0,
      retryTimer: null,
    };
    this.messages.set(clientId, m);
    this.sent.push(m);
    s.pending.set(clientId, m);
    this.pump(s, now);
  }

  private ack(m: Msg, _now: number) {
    if (m.acked) return;
    m.acked = true;
    const s = m.sender;
    s.pending.delete(m.clientId);
    if (m.retryTimer) clearTimeout(m.retryTimer);
    if (m.wired) {
      m.wired = false;
      s.onWire--;
    }
    this.pump(s, wallNow());
  }

  /** Sends the pending messages not yet on this connection's wire, oldest first, within the window. */
  private pump(s: StormSocket, now: number) {
    if (!s.joined || !s.ws) return;
    for (const m of s.pending.values()) {
      if (s.onWire >= MAX_IN_FLIGHT) return;
      if (m.wired || m.retryTimer) continue;
      s.ws.send(JSON.stringify({ type: "message", content: m.content, client_id: m.clientId }));
      m.wired = true;
      m.wires++;
      m.lastWireAt = now;
      s.onWire++;
    }
  }
}

/** Links the two sockets of each session; returns the chatting participants of complete pairs (inviter, invitee, …). */
function pairUp(sockets: StormSocket[]): StormSocket[] {
  const bySession = new Map<string, StormSocket[]>();
  for (const s of sockets) {
    const group = bySession.get(s.spec.sessionId) ?? [];
    group.push(s);
    bySession.set(s.spec.sessionId, group);
  }
  const chatters: StormSocket[] = [];
  for (const group of bySession.values()) {
    const inviter = group.find((s) => s.spec.role === "inviter");
    const invitee = group.find((s) => s.spec.role === "invitee");
    if (!inviter || !invitee) continue;
    inviter.peer = invitee;
    invitee.peer = inviter;
    if (inviter.spec.chatting) chatters.push(inviter, invitee);
  }
  return chatters;
}

/**
 * The open-loop schedule (as bench/load/open-loop.ts): the k-th attempt is due at start + k / totalRate
 * and goes to socket k mod n, whatever the sockets' state. Resolves with each attempt's lateness.
 */
function openLoop(sockets: StormSocket[], totalRate: number, startPerf: number, durationMs: number, attempt: (s: StormSocket) => void) {
  const total = sockets.length === 0 || totalRate <= 0 ? 0 : Math.floor((totalRate * durationMs) / 1000);
  const intervalMs = 1000 / totalRate;
  const lags: number[] = [];
  let next = 0;
  return new Promise<number[]>((resolve) => {
    const tick = () => {
      const now = performance.now();
      for (; next < total; next++) {
        const due = startPerf + next * intervalMs;
        if (due > now) break;
        attempt(sockets[next % sockets.length]!);
        lags.push(now - due);
      }
      if (next >= total) resolve(lags);
      else setTimeout(tick, Math.max(MIN_WAIT_MS, startPerf + next * intervalMs - performance.now()));
    };
    tick();
  });
}

function count(into: Record<string, number>, key: string) {
  into[key] = (into[key] ?? 0) + 1;
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!done() && performance.now() < deadline) await Bun.sleep(POLL_MS);
}
