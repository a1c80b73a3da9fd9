/**
 * The rules of the chat, written against the Store, Bus and Presence ports: who is in a room, what a
 * message is, who sees typing, read marks and presence, how a reconnecting socket resumes. No Bun,
 * no SQL, no Redis here.
 */
import { userTopic, type Connection, type Fanout, type Member } from "./types.ts";
import { Delivery } from "./delivery.ts";
import { readInbox, type InboxPage } from "./inbox.ts";
import { InboxFeed } from "./inbox-feed.ts";
import {
  StoreUnavailableError,
  type AccessChange,
  type Appended,
  type Bus,
  type Envelope,
  type InboxQuery,
  type Presence,
  type PresenceChange,
  type PresenceState,
  type SessionInfo,
  type Store,
} from "./ports.ts";
import { Room, type RoomDeps } from "./room.ts";
import { replayInto } from "./resume.ts";
import { ErrorCode } from "../protocol/codes.ts";
import { errorFrame, messageFrame, presenceFrame, readFrame, typingFrame, type ClientFrame, type MessageView } from "../protocol/frames.ts";
import type { Logger } from "../observability/log.ts";
import type { Metrics } from "../observability/metrics.ts";

export type ChatPorts = {
  store: Store;
  bus: Bus;
  presence: Presence;
  fanout: Fanout;
  log: Logger;
  metrics: Metrics;
  /** Messages of one user waiting for the store: so that no user alone fills the writer's queue. */
  maxPendingPerUser?: number;
  /**
   * A message's commit saw other participants than its room: the backend changed them. Called before
   * the message is delivered here, so that a former participant's sockets get nothing sent after it.
   */
  onAccessChange?: (change: AccessChange) => void;
};

/** What the domain handles; `auth` frames are the transport's. */
export type ChatCommand = Exclude<ClientFrame, { type: "auth" }>;

export class ChatService {
  private readonly rooms = new Map<string, Room>();
  private readonly store: Store;
  private readonly bus: Bus;
  private readonly presence: Presence;
  private readonly delivery: Delivery;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private readonly maxPendingPerUser: number;
  private readonly onAccessChange: (change: AccessChange) => void;
  private readonly pendingByUser = new Map<string, number>();
  /** Every user's inbox sockets on this instance, kept current across instances. */
  readonly inboxes: InboxFeed;

  constructor(ports: ChatPorts) {
    ({ store: this.store, bus: this.bus, presence: this.presence, log: this.log, metrics: this.metrics } = ports);
    this.inboxes = new InboxFeed({ store: ports.store, presence: ports.presence, bus: ports.bus, log: ports.log });
    this.delivery = new Delivery(ports.fanout, ports.bus);
    this.maxPendingPerUser = ports.maxPendingPerUser ?? Number.POSITIVE_INFINITY;
    this.onAccessChange = ports.onAccessChange ?? (() => {});
    this.bus.onEnvelope((e) => this.receive(e));
    this.store.onLateCommit((appended) => this.broadcast(appended));
    this.bus.onResync(() => void this.resyncAll());
    this.presence.onChange((change) => {
      this.presenceChanged(change);
      void this.sessionOf(change.sessionId, change.userId).then((s) => s && this.touchOtherInbox(change, s));
    });
    const rooms = this.rooms;
    this.presence.localUsers(function* () {
      for (const [sessionId, room] of rooms) yield [sessionId, room.usersHere()] as const;
    });
  }

  /**
   * Joins a socket to its room. With `afterSeq`, the messages it missed are replayed first, then it
   * gets live ones, with no gap and no duplicate at the seam.
   */
  async join(conn: Connection, m: Member, afterSeq: number | null): Promise<void> {
    const sessionId = m.session.sessionId;
    const topic = userTopic(sessionId, m.user.userId);
    const { readMarks } = m.session; // as this connection read them, before the room's copy replaces it
    // Live only: subscribed before any await, so nothing committed from now on is missed.
    if (afterSeq === null) conn.subscribe(topic);
    // Counted in its room before any await: the room cannot be disposed under a joining socket, and
    // presence hears of arrivals and departures in the order they happen here.
    const room = this.roomFor(m.session);
    room.adopt(m);
    if (room.addSocket(m.user.userId)) this.decidePresence(this.presence.arrive(sessionId, m.user.userId), m.session);
    await room.ready;
    if (afterSeq !== null) {
      await replayInto(
        conn,
        room,
        afterSeq,
        (after, limit) => this.store.messagesAfter(sessionId, after, limit),
        () => conn.subscribe(topic),
      );
    }
    const stored = await this.presence.states(sessionId).catch(() => null);
    // One write for the whole snapshot, not one per frame.
    conn.cork(() => {
      this.sendPresenceSnapshot(conn, m, room, stored);
      this.sendReadSnapshot(conn, m.session, readMarks);
    });
  }

  leave(conn: Connection, m: Member): void {
    const sessionId = m.session.sessionId;
    conn.unsubscribe(userTopic(sessionId, m.user.userId));
    const room = this.rooms.get(sessionId);
    if (!room) return;
    if (room.removeSocket(m.user.userId)) this.decidePresence(this.presence.depart(sessionId, m.user.userId), m.session);
    if (room.sockets > 0) return;
    room.dispose();
    this.rooms.delete(sessionId);
    this.bus.leave(sessionId);
  }

  /** One page of a user's inbox (HTTP API); null when the user does not exist. */
  inbox(userId: string, query: InboxQuery): Promise<InboxPage | null> {
    return readInbox(this.store, this.presence, userId, query);
  }

  async handle(conn: Connection, m: Member, frame: ChatCommand): Promise<void> {
    switch (frame.type) {
      case "message":
        return this.sendMessage(conn, m, frame.content, frame.client_id ?? null);
      case "typing":
        return this.typing(m, frame.is_typing);
      case "read":
        return this.markRead(conn, m, frame.seq);
    }
  }

  get roomCount(): number {
    return this.rooms.size;
  }

  private async sendMessage(conn: Connection, m: Member, content: string, clientId: string | null) {
    const sessionId = m.session.sessionId;
    const started = performance.now();
    this.metrics.messagesReceived.inc();
    const userId = m.user.userId;
    const pending = this.pendingByUser.get(userId) ?? 0;
    if (pending >= this.maxPendingPerUser) {
      this.metrics.frameErrors.inc({ code: ErrorCode.RateLimited });
      conn.send(
        errorFrame({
          code: ErrorCode.RateLimited,
          error: "too many of your messages are waiting to be stored, slow down",
          ...(clientId ? { client_id: clientId } : {}),
        }),
      );
      return;
    }
    this.pendingByUser.set(userId, pending + 1);
    let appended;
    try {
      appended = await this.store.append({
        id: crypto.randomUUID(),
        sessionId,
        senderId: userId,
        senderName: m.user.displayName,
        content,
        clientId,
      });
    } catch (err) {
      conn.send(this.storeFailure(err, "the message could not be stored", clientId));
      return;
    } finally {
      const left = this.pendingByUser.get(userId)! - 1;
      if (left > 0) this.pendingByUser.set(userId, left);
      else this.pendingByUser.delete(userId);
    }
    this.metrics.persistSeconds.observe((performance.now() - started) / 1000);
    if (appended.duplicate) return this.answerRetry(conn, m, appended.message);
    this.metrics.messagesPersisted.inc();
    this.broadcast(appended);
    this.metrics.messageSeconds.observe((performance.now() - started) / 1000);
  }

  private broadcast({ message, participants }: Appended) {
    const frame = messageFrame(message);
    const room = this.rooms.get(message.session_id);
    if (room && participants && !room.hasParticipants(participants)) this.participantsChanged(room, participants);
    this.delivery.message(message, frame);
    if (room) this.touchInboxes(room.session);
    else void this.sessionOf(message.session_id, message.sender_id).then((s) => s && this.touchInboxes(s));
  }

  /**
   * The backend gave the session other participants (seen in a message's commit before the change
   * feed told it, or after it closed the former one's sockets): sockets of users no longer in it are
   * closed at once, before the message is delivered; the room is reopened over the new participants.
   */
  private participantsChanged(room: Room, participants: readonly [string, string]) {
    if (room.changingTo?.[0] === participants[0] && room.changingTo[1] === participants[1]) return;
    room.changingTo = participants;
    const sessionId = room.session.sessionId;
    this.onAccessChange({ kind: "session", sessionId, participants });
    void this.store
      .authorize(sessionId, participants[0])
      .then((auth) => {
        if (auth.ok && this.rooms.get(sessionId) === room) this.roomFor(auth.session);
      })
      .catch((err) => this.log.warn("the session's new participants could not be read", { err, session_id: sessionId }));
  }

  private touchInboxes(session: SessionInfo) {
    this.inboxes.touch(session.sessionId, [session.inviter.userId, session.invitee.userId]);
  }

  /** The session as its room knows it, or as the store does (a change decided where no room is open); null if gone. */
  private async sessionOf(sessionId: string, userId: string): Promise<SessionInfo | null> {
    const room = this.rooms.get(sessionId);
    if (room) return room.session;
    const auth = await this.store.authorize(sessionId, userId).catch(() => null);
    return auth?.ok ? auth.session : null;
  }

  /**
   * A retry of a message already stored: the original goes back to the retrying socket, every time
   * (receivers de-duplicate by seq). Never ahead of a message the room has not delivered yet, or the
   * client would skip that one as already seen.
   */
  private answerRetry(conn: Connection, m: Member, original: MessageView) {
    const frame = messageFrame(original);
    const room = this.rooms.get(m.session.sessionId);
    if (room) room.afterDelivered(original.seq, () => conn.send(frame));
    else conn.send(frame);
  }

  private typing(m: Member, isTyping: boolean) {
    const frame = typingFrame({ sender_id: m.user.userId, sender_name: m.user.displayName, is_typing: isTyping });
    const room = this.rooms.get(m.session.sessionId);
    if (room) this.delivery.toOthers(room.session.sessionId, room.participants, m.user.userId, frame);
  }

  /** Read marks go to everyone in the room (the reader's other devices too), only when they moved. */
  private async markRead(conn: Connection, m: Member, seq: number) {
    let moved;
    try {
      moved = await this.store.markRead(m.session.sessionId, m.user.userId, seq);
    } catch (err) {
      conn.send(this.storeFailure(err, "the read mark could not be stored"));
      return;
    }
    if (moved === null) return;
    const frame = readFrame({ user_id: m.user.userId, seq: moved });
    const room = this.rooms.get(m.session.sessionId);
    if (room) for (const p of room.participants) this.delivery.toUser(room.session.sessionId, p.userId, frame);
    this.touchInboxes(m.session);
  }

  private storeFailure(err: unknown, what: string, clientId?: string | null): string {
    const unavailable = err instanceof StoreUnavailableError;
    if (unavailable) this.log.debug(what, { err, cause: (err as Error).cause });
    else this.log.error(what, { err });
    this.metrics.frameErrors.inc({ code: unavailable ? ErrorCode.Unavailable : ErrorCode.InternalError });
    return errorFrame({
      code: unavailable ? ErrorCode.Unavailable : ErrorCode.InternalError,
      error: unavailable ? `${what} (database unavailable), retry` : what,
      ...(clientId ? { client_id: clientId } : {}),
    });
  }

  /** Every envelope, this instance's own included: the one place where what the bus carries is delivered here. */
  private receive(e: Envelope) {
    if (e.sentAt) this.metrics.bridgeLagSeconds.observe(Math.max(0, Date.now() - e.sentAt) / 1000);
    if (e.kind === "message") this.rooms.get(e.sessionId)?.deliver(e.seq, e.frame);
    else if (e.kind === "presence") this.applyPresence(e);
    else if (e.kind === "inbox") this.inboxes.changed(e.userId, e.sessionId);
    else this.delivery.toUserHere(e.sessionId, e.toUserId, e.frame);
  }

  /** The session's room; reopened over the new participants when the backend changed them while it was open. */
  private roomFor(session: SessionInfo): Room {
    const room = this.rooms.get(session.sessionId);
    return room?.hasParticipants(session) ? room : this.openRoom(session, room);
  }

  /** A room is in the map from its first socket on; `ready` settles once it receives what other instances publish. */
  private openRoom(session: SessionInfo, previous?: Room): Room {
    const room = new Room(session, this.roomDeps);
    this.rooms.set(session.sessionId, room);
    if (previous) room.takeOver(previous);
    else room.ready = this.connectRoom(room);
    return room;
  }

  /** Shared by every room: closures per room would cost memory per idle session. */
  private readonly roomDeps: RoomDeps = {
    publish: (room, frame) => {
      this.delivery.toRoomHere(room.session.sessionId, room.participants, frame);
      this.metrics.messagesDelivered.inc();
    },
    fetchAfter: (room, after, limit) => this.store.messagesAfter(room.session.sessionId, after, limit),
    frameOf: messageFrame,
    onError: (room, err) => this.log.warn("catch-up from the store failed; retrying", { err, session_id: room.session.sessionId }),
  };

  private async connectRoom(room: Room) {
    try {
      await this.bus.join(room.session.sessionId);
    } catch (err) {
      this.log.warn("bus join failed; the room catches up when the bus is back", { err });
    }
    // Whatever another instance committed before our subscription was active (alone, there is none).
    if (this.bus.status() !== "local") await room.catchUp();
  }

  /** Presence decisions are made in the presence store; a failed call is settled later by its heartbeat or reaper. */
  private decidePresence(decision: Promise<PresenceChange | null>, session: SessionInfo) {
    decision
      .then((change) => {
        if (!change) return;
        this.presenceChanged(change);
        this.touchOtherInbox(change, session);
      })
      .catch((err) => this.log.debug("presence update failed", { err }));
  }

  /** Told to every instance, this one included, even when no socket of the session is left here. */
  private presenceChanged(change: PresenceChange) {
    this.delivery.presence(change);
  }

  /** The other participant's inbox shows this presence: touched once, by the instance that decided the change. */
  private touchOtherInbox(change: PresenceChange, session: SessionInfo) {
    const others = [session.inviter.userId, session.invitee.userId].filter((u) => u !== change.userId);
    this.inboxes.touch(change.sessionId, others);
  }

  /** The other participants' local sockets hear a change only if it is newer than what their room showed and differs from it. */
  private applyPresence({ sessionId, userId, online, version }: PresenceChange) {
    const room = this.rooms.get(sessionId);
    if (!room?.notePresence(userId, { online, version })) return;
    const who = room.participants.find((p) => p.userId === userId);
    if (!who) return;
    const frame = presenceFrame({ user_id: userId, display_name: who.displayName, online });
    this.delivery.toOthersHere(sessionId, room.participants, userId, frame);
  }

  /** A joining socket learns who is online now (itself included), as its room shows it. */
  private sendPresenceSnapshot(conn: Connection, m: Member, room: Room, stored: Map<string, PresenceState> | null) {
    for (const p of [m.session.inviter, m.session.invitee]) {
      const online = p.userId === m.user.userId || room.presenceOf(p.userId, stored?.get(p.userId));
      conn.send(presenceFrame({ user_id: p.userId, display_name: p.displayName, online }));
    }
  }

  /** A joining socket learns how far each participant has read, as `read` frames. */
  private sendReadSnapshot(conn: Connection, session: SessionInfo, marks: SessionInfo["readMarks"]) {
    if (marks.inviter > 0) conn.send(readFrame({ user_id: session.inviter.userId, seq: marks.inviter }));
    if (marks.invitee > 0) conn.send(readFrame({ user_id: session.invitee.userId, seq: marks.invitee }));
  }

  /** After a bus outage: messages and presence changes published meanwhile were lost; the stores have them. */
  private async resyncAll() {
    await Promise.all([
      ...[...this.rooms.values()].map((room) => Promise.all([room.catchUp(), this.resyncPresence(room.session.sessionId)])),
      this.inboxes.resync(),
    ]);
  }

  private async resyncPresence(sessionId: string) {
    const stored = await this.presence.states(sessionId).catch(() => new Map<string, PresenceState>());
    for (const [userId, state] of stored) this.applyPresence({ sessionId, userId, ...state });
  }
}
