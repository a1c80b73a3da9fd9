/**
 * A room's changes to messages (edits, deletions, reactions), in the session's change order: each
 * delivered once, never ahead of the message it changes. The store keeps each message's latest change
 * only, so a gap is filled with the current state of what changed, and a change superseded by a newer
 * one to the same message is skipped (the newer one carries everything).
 */
import type { ChangedMessage } from "./ports.ts";

/** Delivers a frame to the room's local sockets. */
type Publish = (frame: string) => void;

export class ChangeLane {
  /** Changes waiting for an earlier change, or for the message they change; allocated only when needed. */
  private held: Map<number, { seq: number; frame: string }> | null = null;

  /** `last`: the highest change number delivered to the room's sockets. */
  constructor(public last: number) {}

  get waiting(): boolean {
    return this.held !== null;
  }

  /** A committed change (`changeSeq`) to the message `seq`, live. */
  offer(changeSeq: number, seq: number, frame: string, lastSeq: number, publish: Publish): void {
    if (changeSeq <= this.last || this.held?.has(changeSeq)) return;
    (this.held ??= new Map()).set(changeSeq, { seq, frame });
    this.release(lastSeq, publish);
  }

  /** Delivers what is next in change order and whose message was delivered (`lastSeq`). */
  release(lastSeq: number, publish: Publish): void {
    const held = this.held;
    if (!held) return;
    for (let next = held.get(this.last + 1); next && next.seq <= lastSeq; next = held.get(this.last + 1)) {
      held.delete(this.last + 1);
      publish(next.frame);
      this.last++;
    }
    if (held.size === 0) this.held = null;
  }

  /** A change read from the store; false when its message is not delivered yet (the next catch-up brings both). */
  fetched(c: ChangedMessage, lastSeq: number, frameOf: (c: ChangedMessage) => string, publish: Publish): boolean {
    if (c.changeSeq <= this.last) return true;
    if (c.message.seq > lastSeq) return false;
    const held = this.held;
    const frame = held?.get(c.changeSeq)?.frame ?? frameOf(c);
    if (held) for (const n of held.keys()) if (n <= c.changeSeq) held.delete(n);
    publish(frame);
    this.last = c.changeSeq;
    this.release(lastSeq, publish);
    if (this.held?.size === 0) this.held = null;
    return true;
  }

  /** Takes over another lane's position and what it held (a room reopened over new participants). */
  takeOver(previous: ChangeLane): void {
    this.last = previous.last;
    this.held = previous.held;
    previous.held = null;
  }
}
