/**
 * Who receives a frame: the one place that knows the topics (one per participant per session, see
 * `userTopic`). Everything goes through the bus's one broadcast, which hands it to this instance
 * (synchronously) and to the others alike; each instance's `ChatService.receive` then delivers it to
 * its own local sockets with the `…Here` methods.
 *
 * - A stored message reaches each instance's Room, which hands it to local sockets once, in seq order.
 * - A frame for a user (typing, read marks) goes to that user's local topic on every instance.
 * - A presence change travels as a change (with its version), and each instance shows it locally.
 */
import type { Bus, Participant, PresenceChange } from "./ports.ts";
import { userTopic, type Fanout } from "./types.ts";
import type { MessageView } from "../protocol/frames.ts";

export class Delivery {
  constructor(
    private readonly fanout: Fanout,
    private readonly bus: Bus,
  ) {}

  /** A stored message, to every instance's room of its session. */
  message(message: MessageView, frame: string): void {
    this.bus.broadcast({ kind: "message", sessionId: message.session_id, seq: message.seq, frame });
  }

  /** A committed change to the message `seq`, to every instance's room of its session. */
  change(sessionId: string, changeSeq: number, seq: number, frame: string): void {
    this.bus.broadcast({ kind: "change", sessionId, changeSeq, seq, frame });
  }

  /** Every socket of one participant, on every instance. */
  toUser(sessionId: string, userId: string, frame: string): void {
    this.bus.broadcast({ kind: "direct", sessionId, toUserId: userId, frame });
  }

  /** Every socket of every participant but `exceptUserId`, on every instance (typing). */
  toOthers(sessionId: string, participants: readonly Participant[], exceptUserId: string, frame: string): void {
    for (const p of participants) if (p.userId !== exceptUserId) this.toUser(sessionId, p.userId, frame);
  }

  /** A presence change, to every instance (each shows it to its own sockets). */
  presence(change: PresenceChange): void {
    this.bus.broadcast({ kind: "presence", ...change });
  }

  /** A room's in-order delivery: every local socket of the session's participants. */
  toRoomHere(sessionId: string, participants: readonly Participant[], frame: string): void {
    for (const p of participants) this.fanout(userTopic(sessionId, p.userId), frame);
  }

  /** A user's local sockets in the session. */
  toUserHere(sessionId: string, userId: string, frame: string): void {
    this.fanout(userTopic(sessionId, userId), frame);
  }

  /** Here only: the participants but `userId` (a presence change). */
  toOthersHere(sessionId: string, participants: readonly Participant[], exceptUserId: string, frame: string): void {
    for (const p of participants) if (p.userId !== exceptUserId) this.toUserHere(sessionId, p.userId, frame);
  }
}
