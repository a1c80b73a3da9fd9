/** What the orchestrator (bench/main.ts) and the load-client processes (load/worker.ts) exchange. */

export type Role = "inviter" | "invitee";

/** One socket to open: both participants of a pair always live in the same client process. */
export type Participant = { pair: number; role: Role; sessionId: string; userId: string; url: string };

/** A load's schedule starts this long after its request arrives: the orchestrator aligns its samples on it. */
export const LOAD_START_DELAY_MS = 20;

export type LoadRequest = {
  ratePerParticipant: number;
  warmupMs: number;
  measureMs: number;
  /** After the last send, how long to wait for outstanding receipts before counting them lost. */
  graceMs: number;
  /** Reactions per second per participant (toggled on the last message it received) beside the messages; 0: none. */
  changesPerParticipant?: number;
};

export type Requests = {
  connect: { participants: Participant[]; concurrency: number; timeoutMs: number };
  load: LoadRequest;
  probe: { sessions: number; timeoutMs: number };
  close: Record<string, never>;
};

export type ConnectResult = {
  opened: number;
  failed: number;
  elapsedMs: number;
  failures: string[];
  /** Opened, then closed by the server within a moment (a refused token closes after the upgrade). */
  closedAfterOpen: number;
};

export type LoadResult = {
  /** Every message sent by this load, warm-up included. */
  sent: number;
  sentInWindow: number;
  /** Receipts by the other participant during the measured window (of any message). */
  deliveredInWindow: number;
  windowMs: number;
  /** Send → other participant's receipt, for messages sent in the window. */
  latenciesMs: number[];
  /** Sent by this load and never received by the other participant (within the grace period). */
  lost: number;
  /** Sent by this load and never echoed back to the sender. */
  unechoed: number;
  duplicated: number;
  outOfOrder: number;
  errors: Record<string, number>;
  unknownFrames: number;
  /** Sockets closed by the other end since they were opened (not only during this load). */
  socketsClosed: number;
  /** How late sends left compared with the open-loop schedule: a lagging client shows here. */
  sendLagP99Ms: number;
  sendLagMaxMs: number;
  /** This process, during the measured window, in % of one core. */
  clientCpuPct: number;
  /** message_id of every message of this load that some socket received. */
  messageIds: string[];
  /** Reactions sent, and message_changed frames received (both participants receive each). */
  changesSent: number;
  changesReceived: number;
};

export type ProbeResult = { sessions: number; expected: number; reached: number; openSockets: number; sockets: number };

export type Results = {
  connect: ConnectResult;
  load: LoadResult;
  probe: ProbeResult;
  close: null;
};

export type RequestType = keyof Requests;

export type WorkerRequest = { [K in RequestType]: { id: number; type: K; body: Requests[K] } }[RequestType];

export type WorkerResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };
