/**
 * Messages sent and not yet acknowledged. Each keeps its `client_id` across reconnections and is sent
 * again on the next socket (the server stores it once whatever happened to the first attempt); at
 * most MAX_IN_FLIGHT are on the wire unacknowledged, so a backlog stays under the server's rate
 * limit. `unavailable` and `rate_limited` refusals are retried with backoff, MAX_SEND_RETRIES times.
 */
import { RETRYABLE_ERRORS } from "../protocol/codes.ts";
import { newClientId } from "./client-id.ts";
import { deferred } from "./deferred.ts";
import { backoffDelay, type BackoffOptions } from "./reconnect-policy.ts";
import type { ChatError, ChatMessage, ErrorFrame } from "./types.ts";

const MAX_SEND_RETRIES = 5;
const MAX_IN_FLIGHT = 20;

type Pending = {
  clientId: string;
  content: string;
  promise: Promise<ChatMessage>;
  resolve: (m: ChatMessage) => void;
  reject: (e: ChatError) => void;
  /** The socket it was last sent on; null: to be sent on the next one. */
  sentOn: WebSocket | null;
  retries: number;
  retryTimer: ReturnType<typeof setTimeout> | null;
};

export class SendQueue {
  private readonly pending = new Map<string, Pending>();

  constructor(
    /** The joined socket, or null while there is none: sends wait. */
    private readonly socket: () => WebSocket | null,
    private readonly backoff: BackoffOptions | undefined,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  /** Queues a message (once per client_id) and sends what the window allows. */
  add(content: string, clientId = newClientId()): Promise<ChatMessage> {
    const existing = this.pending.get(clientId);
    if (existing) return existing.promise;
    const { promise, resolve, reject } = deferred<ChatMessage, ChatError>();
    this.pending.set(clientId, { clientId, content, promise, resolve, reject, sentOn: null, retries: 0, retryTimer: null });
    this.pump();
    return promise;
  }

  /** A broadcast carrying one of our client_ids (or a retry's answer): that send is acknowledged. */
  acknowledged(message: ChatMessage): void {
    const p = message.client_id === undefined ? undefined : this.pending.get(message.client_id);
    if (!p) return;
    this.pending.delete(p.clientId);
    if (p.retryTimer) clearTimeout(p.retryTimer);
    p.resolve(message);
    this.pump();
  }

  /** An error frame for one of our client_ids: retried later, or the send fails. False: not ours. */
  refused(frame: ErrorFrame, error: ChatError): boolean {
    const p = frame.client_id === undefined ? undefined : this.pending.get(frame.client_id);
    if (!p) return false;
    if (RETRYABLE_ERRORS.has(frame.code) && p.retries < MAX_SEND_RETRIES) {
      p.sentOn = null;
      p.retryTimer = setTimeout(
        () => {
          p.retryTimer = null;
          this.pump();
        },
        backoffDelay(p.retries++, this.backoff),
      );
      return true;
    }
    this.pending.delete(p.clientId);
    p.reject(error);
    this.pump();
    return true;
  }

  /** The socket is gone: everything unacknowledged goes out again on the next one. */
  unsent(): void {
    for (const p of this.pending.values()) p.sentOn = null;
  }

  rejectAll(error: ChatError): void {
    for (const p of this.pending.values()) {
      if (p.retryTimer) clearTimeout(p.retryTimer);
      p.reject(error);
    }
    this.pending.clear();
  }

  /** Sends the pending messages not yet sent on this socket, oldest first, within the in-flight window. */
  pump(): void {
    const ws = this.socket();
    if (!ws) return;
    let inFlight = 0;
    for (const p of this.pending.values()) if (p.sentOn === ws) inFlight++;
    for (const p of this.pending.values()) {
      if (inFlight >= MAX_IN_FLIGHT) return;
      if (p.sentOn === ws || p.retryTimer) continue;
      ws.send(JSON.stringify({ type: "message", content: p.content, client_id: p.clientId }));
      p.sentOn = ws;
      inFlight++;
    }
  }
}
