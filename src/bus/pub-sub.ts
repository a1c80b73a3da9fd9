/**
 * One broadcast for local and remote delivery, in the manner of Phoenix.PubSub and the Socket.IO
 * adapters: `broadcast` hands the envelope to this instance's handler at once, synchronously (local
 * delivery never waits for the network), then gives it to the adapter, whose only job is to move it
 * to the other instances, where it reaches their handlers. Adapters: LocalBus (alone), MemoryBus
 * (several nodes in one process, for tests), RedisBus.
 */
import type { Bus, Envelope } from "../chat/ports.ts";

export abstract class PubSub implements Bus {
  /** This instance's handler: its own envelopes (inside broadcast) and other instances' (from the adapter). */
  protected deliver: (envelope: Envelope) => void = () => {};
  protected resynced: () => void = () => {};

  broadcast(envelope: Envelope): void {
    this.deliver(envelope);
    this.send(envelope);
  }

  onEnvelope(handler: (envelope: Envelope) => void): void {
    this.deliver = handler;
  }

  onResync(handler: () => void): void {
    this.resynced = handler;
  }

  /** Moves an envelope to the other instances (never back to this one). */
  protected abstract send(envelope: Envelope): void;

  abstract join(sessionId: string): Promise<void>;
  abstract leave(sessionId: string): void;
  abstract joinUser(userId: string): Promise<void>;
  abstract leaveUser(userId: string): void;
  abstract status(): "up" | "down" | "local";

  /** Nothing waits in an adapter that cannot be down. */
  backlog(): number {
    return 0;
  }
  abstract close(): Promise<void>;
}
