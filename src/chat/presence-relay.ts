/**
 * Presence as the chat shows it. Changes are decided in the Presence port (at a user's first and
 * last local socket, synchronously, so one instance's calls reach it in order; lapses by the port
 * itself), broadcast to every instance, and each room shows a change to the other participant only
 * if it is newer than what it showed.
 */
import type { Presence, PresenceChange, PresenceState, SessionInfo } from "./ports.ts";
import type { Connection, Member } from "./types.ts";
import type { Room } from "./room.ts";
import type { Rooms } from "./rooms.ts";
import type { Delivery } from "./delivery.ts";
import type { DomainEvents } from "./domain-events.ts";
import { presenceFrame } from "../protocol/frames.ts";
import type { Logger } from "../observability/log.ts";

export type PresenceRelayDeps = { presence: Presence; rooms: Rooms; delivery: Delivery; events: DomainEvents; log: Logger };

export class PresenceRelay {
  constructor(private readonly deps: PresenceRelayDeps) {
    const { presence, rooms, events } = deps;
    presence.onChange((change) => {
      deps.delivery.presence(change);
      void rooms.sessionOf(change.sessionId, change.userId).then((s) => s && events.emit("presenceChanged", change, s));
    });
    presence.localUsers(() => rooms.usersHere());
  }

  /** The user's first socket here in the session. */
  arrived(m: Member): void {
    this.decide(this.deps.presence.arrive(m.session.sessionId, m.user.userId), m.session);
  }

  /** The user's last socket here in the session left; resolves once that is decided and broadcast (or failed). */
  departed(m: Member): Promise<void> {
    return this.decide(this.deps.presence.depart(m.session.sessionId, m.user.userId), m.session);
  }

  /** A change broadcast by any instance: the other participants' local sockets hear it if it is news to their room. */
  apply({ sessionId, userId, online, version }: PresenceChange): void {
    const room = this.deps.rooms.get(sessionId);
    if (!room?.notePresence(userId, { online, version })) return;
    const who = room.participants.find((p) => p.userId === userId);
    // Someone the other participant blocked is not shown to them, online or not.
    if (!who || room.session.blocked?.includes(userId)) return;
    const frame = presenceFrame({ user_id: userId, display_name: who.displayName, online });
    this.deps.delivery.toOthersHere(sessionId, room.participants, userId, frame);
  }

  /**
   * The room's blocks changed: whoever is now hidden from the other participant is shown offline to
   * them, and whoever is shown again, as they are.
   */
  blocksChanged(room: Room, before: readonly string[]): void {
    const now = room.session.blocked ?? [];
    for (const p of room.participants) {
      const was = before.includes(p.userId);
      const is = now.includes(p.userId);
      if (was === is) continue;
      const online = !is && room.presenceOf(p.userId, undefined);
      const frame = presenceFrame({ user_id: p.userId, display_name: p.displayName, online });
      this.deps.delivery.toOthersHere(room.session.sessionId, room.participants, p.userId, frame);
    }
  }

  /** The stored states of the session's users; null when they cannot be read (the room's view is shown then). */
  stored(sessionId: string): Promise<Map<string, PresenceState> | null> {
    return this.deps.presence.states(sessionId).catch(() => null);
  }

  /** A joining socket learns who is online now (itself included), as its room shows it. */
  sendSnapshot(conn: Connection, m: Member, room: Room, stored: Map<string, PresenceState> | null): void {
    for (const p of [m.session.inviter, m.session.invitee]) {
      const hidden = p.userId !== m.user.userId && room.session.blocked?.includes(p.userId);
      const online = p.userId === m.user.userId || (!hidden && room.presenceOf(p.userId, stored?.get(p.userId)));
      conn.send(presenceFrame({ user_id: p.userId, display_name: p.displayName, online }));
    }
  }

  /** After a bus outage: changes broadcast meanwhile were lost; the presence store has the last state. */
  async resync(sessionId: string): Promise<void> {
    const stored = (await this.stored(sessionId)) ?? new Map<string, PresenceState>();
    for (const [userId, state] of stored) this.apply({ sessionId, userId, ...state });
  }

  /** A failed call is settled later by the presence store's heartbeat or reaper. */
  private decide(decision: Promise<PresenceChange | null>, session: SessionInfo): Promise<void> {
    return decision
      .then((change) => {
        if (!change) return;
        this.deps.delivery.presence(change); // every instance, this one included
        this.deps.events.emit("presenceChanged", change, session);
      })
      .catch((err) => this.deps.log.debug("presence update failed", { err }));
  }
}
