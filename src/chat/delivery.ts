/**
 * Who receives a frame, here and on the other instances: the one place that knows the topics (one
 * per participant per session, see `userTopic`), local fan-out (Bun's `server.publish`) and the bus.
 *
 * - A stored message reaches local sockets through its Room (once, in seq order) and the other
 *   instances through the bus, whose rooms do the same.
 * - A frame for a user (typing, read marks) goes to that user's local topic and over the bus at once;
 *   instances deliver it to their own local sockets only.
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

  /** A room's in-order delivery: every local socket of the session's participants. */
  toRoomHere(sessionId: string, participants: readonly Participant[], frame: string): void {
    for (const p of participants) this.fanout(userTopic(sessionId, p.userId), frame);
  }

  /** A stored message, to the other instances' rooms. */
  messageToOthers(message: MessageView, frame: string): void {
    this.bus.publish({ kind: "message", sessionId: message.session_id, seq: message.seq, frame });
  }

  /** Every socket of one participant, on every instance. */
  toUser(sessionId: string, userId: string, frame: string): void {
    this.fanout(userTopic(sessionId, userId), frame);
    this.bus.publish({ kind: "direct", sessionId, toUserId: userId, frame });
  }

  /** Every socket of every participant but `exceptUserId`, on every instance (typing). */
  toOthers(sessionId: string, participants: readonly Participant[], exceptUserId: string, frame: string): void {
    for (const p of participants) if (p.userId !== exceptUserId) this.toUser(sessionId, p.userId, frame);
  }

  /** A "direct" frame that came over the bus: to the user's local sockets only. */
  toUserHere(sessionId: string, userId: string, frame: string): void {
    this.fanout(userTopic(sessionId, userId), frame);
  }

  /** Here only: the participants but `userId` (a presence change, already on the bus as a change). */
  toOthersHere(sessionId: string, participants: readonly Participant[], exceptUserId: string, frame: string): void {
    for (const p of participants) if (p.userId !== exceptUserId) this.toUserHere(sessionId, p.userId, frame);
  }

  /** A presence change, to the other instances. */
  presenceToOthers(change: PresenceChange): void {
    this.bus.publish({ kind: "presence", ...change });
  }
}
