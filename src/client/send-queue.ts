/**
 * Frames sent and not yet acknowledged: messages (keyed by `client_id`) and changes (keyed by
 * `change_id`). Each keeps its id across reconnections and is sent again on the next socket (a
 * message is stored once whatever happened to the first attempt; a change is made so that applying
 * it twice is harmless); at most MAX_IN_FLIGHT are on the wire unacknowledged, so a backlog stays
 * under the server's rate limit. `unavailable` and `rate_limited` refusals are retried with backoff,
 * MAX_SEND_RETRIES times.
 */
import { RETRYABLE_ERRORS } from "../protocol/codes.ts";
import { newClientId } from "./client-id.ts";
import { deferred } from "./deferred.ts";
import { backoffDelay, type BackoffOptions } from "./reconnect-policy.ts";
import type { ChatError, ErrorFrame } from "./types.ts";

export const MAX_SEND_RETRIES = 5;
export const MAX_IN_FLIGHT = 20;

type Pending<R> = {
  id: string;
  /** The frame as sent, with its id. */
  text: string;
  /** Refusals that mean the wanted state holds already (a deletion of a deleted message): done, not failed. */
  doneOn: ReadonlySet<string> | undefined;
  promise: Promise<R>;
  resolve: (r: R) => void;
  reject: (e: ChatError) => void;
  /** The socket it was last sent on; null: to be sent on the next one. */
  sentOn: WebSocket | null;
  retries: number;
  retryTimer: ReturnType<typeof setTimeout> | null;
  answerTimer: ReturnType<typeof setTimeout> | null;
};

export type SendQueueOptions = {
  /** The frame's field that carries the id, which the server echoes: `client_id` or `change_id`. */
  idField: "client_id" | "change_id";
  backoff?: BackoffOptions;
  /**
   * Sent on an open socket and not answered within this time: sent again (counts as a retry). For
   * changes, whose answer a busy room can fold into a later one; messages are always answered.
   */
  answerTimeoutMs?: number;
};

export class SendQueue<R> {
  private readonly pending = new Map<string, Pending<R>>();

  constructor(
    /** The joined socket, or null while there is none: sends wait. */
    private readonly socket: () => WebSocket | null,
    private readonly options: SendQueueOptions,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  /** Queues a frame (once per id) and sends what the window allows. `doneOn` only where R is void. */
  add(frame: Record<string, unknown>, id = newClientId(), doneOn?: ReadonlySet<string>): Promise<R> {
    const existing = this.pending.get(id);
    if (existing) return existing.promise;
    const { promise, resolve, reject } = deferred<R, ChatError>();
    const text = JSON.stringify({ ...frame, [this.options.idField]: id });
    this.pending.set(id, { id, text, doneOn, promise, resolve, reject, sentOn: null, retries: 0, retryTimer: null, answerTimer: null });
    this.pump();
    return promise;
  }

  /** The frame that carries one of our ids (or a retry's answer): that one is acknowledged. */
  acknowledged(id: string | undefined, result: R): void {
    const p = id === undefined ? undefined : this.pending.get(id);
    if (!p) return;
    this.settle(p);
    p.resolve(result);
  }

  /** An error frame for one of our ids: retried later, done (see `doneOn`), or failed. False: not ours. */
  refused(frame: ErrorFrame, error: ChatError): boolean {
    const id = frame[this.options.idField];
    const p = id === undefined ? undefined : this.pending.get(id);
    if (!p) return false;
    if (RETRYABLE_ERRORS.has(frame.code) && p.retries < MAX_SEND_RETRIES) {
      this.retryLater(p);
      return true;
    }
    this.settle(p);
    if (p.doneOn?.has(frame.code)) p.resolve(undefined as R);
    else p.reject(error);
    return true;
  }

  /** The socket is gone: everything unacknowledged goes out again on the next one. */
  unsent(): void {
    for (const p of this.pending.values()) {
      p.sentOn = null;
      this.stopWaiting(p);
    }
  }

  rejectAll(error: ChatError): void {
    for (const p of this.pending.values()) {
      if (p.retryTimer) clearTimeout(p.retryTimer);
      this.stopWaiting(p);
      p.reject(error);
    }
    this.pending.clear();
  }

  /** Sends the pending frames not yet sent on this socket, oldest first, within the in-flight window. */
  pump(): void {
    const ws = this.socket();
    if (!ws) return;
    let inFlight = 0;
    for (const p of this.pending.values()) if (p.sentOn === ws) inFlight++;
    for (const p of this.pending.values()) {
      if (inFlight >= MAX_IN_FLIGHT) return;
      if (p.sentOn === ws || p.retryTimer) continue;
      ws.send(p.text);
      p.sentOn = ws;
      inFlight++;
      this.awaitAnswer(p, ws);
    }
  }

  private awaitAnswer(p: Pending<R>, ws: WebSocket) {
    const timeout = this.options.answerTimeoutMs;
    if (timeout === undefined || p.retries >= MAX_SEND_RETRIES) return;
    p.answerTimer = setTimeout(() => {
      p.answerTimer = null;
      if (p.sentOn !== ws || !this.pending.has(p.id)) return;
      p.retries++;
      p.sentOn = null;
      this.pump();
    }, timeout);
  }

  private stopWaiting(p: Pending<R>) {
    if (p.answerTimer) clearTimeout(p.answerTimer);
    p.answerTimer = null;
  }

  private retryLater(p: Pending<R>) {
    this.stopWaiting(p);
    p.sentOn = null;
    p.retryTimer = setTimeout(
      () => {
        p.retryTimer = null;
        this.pump();
      },
      backoffDelay(p.retries++, this.options.backoff),
    );
  }

  private settle(p: Pending<R>) {
    this.pending.delete(p.id);
    if (p.retryTimer) clearTimeout(p.retryTimer);
    this.stopWaiting(p);
    this.pump();
  }
}
