/** What the storm mode's orchestrator (bench/modes/storm.ts) and its client processes (storm-worker.ts) exchange. */

/** One socket: both participants of a pair live in the same client process (one clock for latency). */
export type StormSocketSpec = {
  pair: number;
  role: "inviter" | "invitee";
  sessionId: string;
  userId: string;
  token: string;
  /** Its pair chats through the whole run. */
  chatting: boolean;
};

export type StormRequests = {
  /** Opens every socket on instance A (with `after=0`, as the client package does) and waits for each one's `resumed` frame. */
  connect: {
    sockets: StormSocketSpec[];
    /** ws://127.0.0.1:PORT of instance A (first connections) and B (every reconnection). */
    baseA: string;
    baseB: string;
    concurrency: number;
    timeoutMs: number;
    /** The first retry after a 1001 waits uniformly 0–this ms; null: the client package's policy (src/client/reconnect-policy.ts). */
    jitterMs: number | null;
  };
  /** Starts the chatting pairs' open-loop sends at `startAt` (wall clock, ms) for `durationMs`; answers at once. */
  chat: { ratePerParticipant: number; startAt: number; durationMs: number };
  /** Waits until the chat ended, every socket resumed (or `stormTimeoutMs` after the SIGTERM), and what is in flight arrived (or `graceMs`). */
  finish: { sigtermAt: number; stormTimeoutMs: number; graceMs: number };
  close: Record<string, never>;
};

export type StormConnectResult = { opened: number; failed: number; elapsedMs: number; failures: string[] };

/** One client process' raw figures. Times are wall-clock ms (performance.timeOrigin + performance.now()). */
export type StormResult = {
  sockets: number;
  /** Per socket (same order): when the 1001 (or any first close after the chat started) arrived, when its first reconnection began, when the connection that resumed opened, and when its `resumed` frame arrived; null when it never happened. */
  cutAt: (number | null)[];
  firstRetryAt: (number | null)[];
  openAt: (number | null)[];
  resumedAt: (number | null)[];
  /** Close codes of the first close after the chat started. */
  cutCodes: Record<string, number>;
  /** Reconnection attempts that did not reach `resumed`, by close code ("1006", "join timeout"…). */
  failedAttempts: Record<string, number>;
  /** Sockets whose close code means "do not reconnect" (src/client/reconnect-policy.ts), by code. */
  gaveUp: Record<string, number>;
  /** Resumed sockets that were closed again afterwards. */
  closedAgain: number;
  /** Messages replayed to resuming sockets (`resumed.replayed`), and `resumed` frames with complete: false. */
  replayed: number;
  incompleteReplays: number;
  /** `error` frames by code. */
  errors: Record<string, number>;
  /** Chatting: messages attempted, acknowledged (the echo with their client_id), received by the other participant. */
  sent: number;
  acked: number;
  delivered: number;
  /** Sent again with the same client_id (unacknowledged when the socket was cut, or answered `unavailable`). */
  retried: number;
  /** Messages attempted while the sender's socket was not joined (queued until its `resumed`). */
  queued: number;
  /** A retried message answered again to its sender with a seq it already had (de-duplicated by seq, as the client package does). */
  retryAnswers: number;
  /** A seq a socket had already received (not a retry answer); a seq below one it had (late); a message received under two seqs. */
  duplicated: number;
  outOfOrder: number;
  doubled: number;
  /** Frames no message of this process matches. */
  unknownMessages: number;
  /** Per message (same order): attempt time, the moment it last left the sender, whether the sender's reconnect held it (queued or retried), the other participant's receipt (null: never). */
  msgAttemptAt: number[];
  msgLastWireAt: number[];
  msgHeld: boolean[];
  msgDeliveredAt: (number | null)[];
  /** When the receiver's connection that got the message had opened (null: not received). */
  msgReceiverOpenAt: (number | null)[];
  /** client_id and content of every message attempted (the database check), message_id of every one received. */
  clientIds: string[];
  contents: string[];
  messageIds: string[];
  /** Per chatting socket: its session, the highest seq it holds and how many distinct seqs it received. */
  chatters: { sessionId: string; lastSeq: number; distinct: number }[];
  /** This process' CPU from the chat's start to the end, in % of one core. */
  clientCpuPct: number;
  /** How late sends left their open-loop schedule (p99, max). */
  sendLagP99Ms: number;
  sendLagMaxMs: number;
};

export type StormResults = { connect: StormConnectResult; chat: null; finish: StormResult; close: null };

export type StormRequestType = keyof StormRequests;

export type StormWorkerRequest = { [K in StormRequestType]: { id: number; type: K; body: StormRequests[K] } }[StormRequestType];

export type StormWorkerResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

/** Wall-clock ms with sub-ms resolution, comparable across the bench's processes. */
export const wallNow = (): number => performance.timeOrigin + performance.now();
