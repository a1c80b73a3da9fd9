/**
 * This instance's rooms, one per session with a local socket: opened at the first socket (joining the
 * session on the bus and catching up from the store), reopened when the backend changed the
 * participants, released after the last socket.
 */
import type { Bus, Directory, MessageChanges, MessageLog, SessionInfo } from "./ports.ts";
import { Room, type RoomDeps } from "./room.ts";
import type { Delivery } from "./delivery.ts";
import { messageChangedFrame, messageFrame } from "../protocol/frames.ts";
import type { Logger } from "../observability/log.ts";
import type { Metrics } from "../observability/metrics.ts";

export type RoomsDeps = {
  store: Pick<MessageLog, "messagesAfter" | "positionOf"> & Pick<MessageChanges, "changesAfter"> & Pick<Directory, "authorize">;
  bus: Bus;
  delivery: Delivery;
  log: Logger;
  metrics: Metrics;
};

export class Rooms {
  private readonly rooms = new Map<string, Room>();

  constructor(private readonly deps: RoomsDeps) {}

  get(sessionId: string): Room | undefined {
    return this.rooms.get(sessionId);
  }

  get size(): number {
    return this.rooms.size;
  }

  all(): IterableIterator<Room> {
    return this.rooms.values();
  }

  /** The session's room; reopened over the new participants when the backend changed them while it was open. */
  for(session: SessionInfo): Room {
    const room = this.rooms.get(session.sessionId);
    return room?.hasParticipants(session) ? room : this.open(session, room);
  }

  /** After a socket left: a room without sockets goes, and the instance stops listening to its session. */
  release(sessionId: string): void {
    const room = this.rooms.get(sessionId);
    if (!room || room.sockets > 0) return;
    room.dispose();
    this.rooms.delete(sessionId);
    this.deps.bus.leave(sessionId);
  }

  /** The session as its room knows it, or as the store does (a change decided where no room is open); null if gone. */
  async sessionOf(sessionId: string, userId: string): Promise<SessionInfo | null> {
    const room = this.rooms.get(sessionId);
    if (room) return room.session;
    const auth = await this.deps.store.authorize(sessionId, userId).catch(() => null);
    return auth?.ok ? auth.session : null;
  }

  /** Who has a socket here, per session (live: presence refreshes iterate it). */
  *usersHere(): Generator<readonly [string, string[]]> {
    for (const [sessionId, room] of this.rooms) yield [sessionId, room.usersHere()] as const;
  }

  /** A room is in the map from its first socket on; `ready` settles once it receives what other instances broadcast. */
  private open(session: SessionInfo, previous?: Room): Room {
    const room = new Room(session, this.roomDeps);
    this.rooms.set(session.sessionId, room);
    if (previous) room.takeOver(previous);
    else room.ready = this.connect(room);
    return room;
  }

  /** Shared by every room: closures per room would cost memory per idle session. */
  private readonly roomDeps: RoomDeps = {
    publish: (room, frame) => {
      this.deps.delivery.toRoomHere(room.session.sessionId, room.participants, frame);
      this.deps.metrics.messagesDelivered.inc();
    },
    fetchPosition: (room) => this.deps.store.positionOf(room.session.sessionId),
    fetchAfter: (room, after, limit) => this.deps.store.messagesAfter(room.session.sessionId, after, limit),
    frameOf: messageFrame,
    fetchChangesAfter: (room, after, limit) => this.deps.store.changesAfter(room.session.sessionId, after, limit),
    changeFrameOf: (c) => messageChangedFrame(c.message),
    onError: (room, err) => this.deps.log.warn("catch-up from the store failed; retrying", { err, session_id: room.session.sessionId }),
  };

  private async connect(room: Room) {
    const { bus, log } = this.deps;
    try {
      await bus.join(room.session.sessionId);
    } catch (err) {
      log.warn("bus join failed; the room catches up when the bus is back", { err });
    }
    // Whatever another instance committed before our subscription was active (alone, there is none).
    if (bus.status() !== "local") await room.catchUp();
  }
}
