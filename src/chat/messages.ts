/**
 * What participants send into a room: messages (stored, then broadcast; a retried client_id answered
 * with the original), typing, read marks. Each store failure becomes an error frame with a stable
 * code; the socket stays.
 */
import {
  StoreUnavailableError,
  type AccessChange,
  type Appended,
  type ChangedMessage,
  type ChangeRefusal,
  type ChangeRules,
  type Directory,
  type MessageChange,
  type NewMessage,
  type MessageChanges,
  type MessageLog,
} from "./ports.ts";
import type { Connection, Member } from "./types.ts";
import type { Room } from "./room.ts";
import type { Rooms } from "./rooms.ts";
import type { Delivery } from "./delivery.ts";
import type { DomainEvents } from "./domain-events.ts";
import { ErrorCode } from "../protocol/codes.ts";
import { errorFrame, messageChangedFrame, messageFrame, readFrame, typingFrame, type MessageView } from "../protocol/frames.ts";
import { Counts } from "../lib/counts.ts";
import type { ContentScreen } from "./content-screen.ts";
import type { Logger } from "../observability/log.ts";
import type { Metrics } from "../observability/metrics.ts";

export type MessagesDeps = {
  store: MessageLog & Pick<MessageChanges, "change"> & Pick<Directory, "authorize">;
  rooms: Rooms;
  delivery: Delivery;
  events: DomainEvents;
  log: Logger;
  metrics: Metrics;
  /** Messages of one user waiting for the store: so that no user alone fills the writer's queue. */
  maxPendingPerUser: number;
  /** The backend changed a session's participants (seen in a message's commit). */
  onAccessChange: (change: AccessChange) => void;
  /** The edit window and the reaction cap. */
  changeRules: ChangeRules;
  /** Blocked terms and the backend's pre-send check (chat/content-screen.ts). */
  screen: ContentScreen;
};

/** The other participant blocked this member (kept up to date by the access feed): their writes are refused. */
export const isBlocked = (m: Member): boolean => m.session.blocked?.includes(m.user.userId) ?? false;

/** A refused change as its error frame says it. */
const refusals: Record<ChangeRefusal, [ErrorCode, string]> = {
  not_found: [ErrorCode.MessageNotFound, "no message with this seq in the session"],
  not_sender: [ErrorCode.NotSender, "only the sender may edit or delete a message"],
  edit_window_passed: [ErrorCode.EditWindowPassed, "the message is too old to be edited"],
  message_deleted: [ErrorCode.MessageDeleted, "the message was deleted"],
  too_many_reactions: [ErrorCode.TooManyReactions, "the message carries as many different reactions as it may"],
};

export class Messages {
  private readonly pendingByUser = new Counts();
  /** Each socket's changes, one after the other: what a client sends in order commits in that order. */
  private readonly changesOf = new WeakMap<Connection, Promise<void>>();
  /** Each socket's messages are prepared (content checks, reply quote) one after the other and handed to the store in the order sent. */
  private readonly sendsOf = new WeakMap<Connection, Promise<unknown>>();

  constructor(private readonly deps: MessagesDeps) {}

  async send(conn: Connection, m: Member, content: string, clientId: string | null, replyToSeq?: number): Promise<void> {
    const { store, metrics } = this.deps;
    const started = performance.now();
    metrics.messagesReceived.inc();
    const userId = m.user.userId;
    if (this.pendingByUser.get(userId) >= this.deps.maxPendingPerUser) {
      metrics.frameErrors.inc({ code: ErrorCode.RateLimited });
      conn.send(
        errorFrame({
          code: ErrorCode.RateLimited,
          error: "too many of your messages are waiting to be stored, slow down",
          ...(clientId ? { client_id: clientId } : {}),
        }),
      );
      return;
    }
    if (isBlocked(m)) {
      conn.send(this.refuseBlocked({ ...(clientId ? { client_id: clientId } : {}) }));
      return;
    }
    this.pendingByUser.increment(userId);
    let appended;
    try {
      // Handed to the store within the socket's turn; its write is awaited outside it (writes batch).
      const handed = await this.inTurn(conn, async () => {
        const message = await this.prepare(conn, m, content, clientId, replyToSeq);
        return message && { appending: store.append(message) };
      });
      if (!handed) return;
      appended = await handed.appending;
    } catch (err) {
      conn.send(this.storeFailure(err, "the message could not be stored", clientId));
      return;
    } finally {
      this.pendingByUser.decrement(userId);
    }
    metrics.persistSeconds.observe((performance.now() - started) / 1000);
    if (appended.duplicate) return this.answerRetry(conn, m, appended.message);
    metrics.messagesPersisted.inc();
    this.stored(appended);
    metrics.messageSeconds.observe((performance.now() - started) / 1000);
  }

  private inTurn<T>(conn: Connection, work: () => Promise<T>): Promise<T> {
    const turn = (this.sendsOf.get(conn) ?? Promise.resolve()).then(work);
    this.sendsOf.set(
      conn,
      turn.catch(() => {}),
    );
    return turn;
  }

  /** The message to store, or null when it is refused (its error frame sent): the content's checks, then the reply's quote. */
  private async prepare(
    conn: Connection,
    m: Member,
    content: string,
    clientId: string | null,
    replyToSeq: number | undefined,
  ): Promise<NewMessage | null> {
    const ids = clientId ? { client_id: clientId } : {};
    const { sessionId } = m.session;
    const screened = await this.deps.screen.screen(content, { kind: "message", userId: m.user.userId, sessionId });
    if (!screened.ok) {
      conn.send(this.refusedContent(screened, ids));
      return null;
    }
    const replyTo = replyToSeq === undefined ? undefined : await this.deps.store.replyPreview(sessionId, replyToSeq);
    if (replyTo === null) {
      const [code, error] = refusals.not_found;
      this.deps.metrics.frameErrors.inc({ code });
      conn.send(errorFrame({ code, error, field: "reply_to", ...ids }));
      return null;
    }
    return {
      id: crypto.randomUUID(),
      sessionId,
      senderId: m.user.userId,
      senderName: m.user.displayName,
      content: screened.content,
      clientId,
      ...(replyTo ? { replyTo } : {}),
    };
  }

  /** A message this instance stored (also one whose caller had given up before it committed): to every instance. */
  stored({ message, participants }: Appended): void {
    const { rooms, delivery, events } = this.deps;
    const room = rooms.get(message.session_id);
    if (room && participants && !room.hasParticipants(participants)) this.participantsChanged(room, participants);
    delivery.message(message, messageFrame(message));
    if (room) events.emit("messageStored", room.session);
    else void rooms.sessionOf(message.session_id, message.sender_id).then((s) => s && events.emit("messageStored", s));
  }

  /**
   * An edit, a deletion or a reaction: committed, then broadcast to every instance, where each room
   * delivers it in change order and after the message it changes. A refusal is an error frame with `seq`.
   */
  change(conn: Connection, m: Member, change: MessageChange, changeId?: string): Promise<void> {
    // A change that failed unexpectedly (the caller reports it) does not hold back the socket's next ones.
    const previous = this.changesOf.get(conn)?.catch(() => {}) ?? Promise.resolve();
    const next = previous.then(() => this.applyChange(conn, m, change, changeId));
    this.changesOf.set(conn, next);
    return next;
  }

  private async applyChange(conn: Connection, m: Member, change: MessageChange, changeId?: string): Promise<void> {
    const { store, delivery, events, metrics } = this.deps;
    const ids = { seq: change.seq, ...(changeId ? { change_id: changeId } : {}) };
    if (isBlocked(m)) return void conn.send(this.refuseBlocked(ids));
    if (change.kind === "edit") {
      const subject = { kind: "edit" as const, userId: m.user.userId, sessionId: m.session.sessionId, seq: change.seq };
      const screened = await this.deps.screen.screen(change.content, subject);
      if (!screened.ok) return void conn.send(this.refusedContent(screened, ids));
      change = { ...change, content: screened.content };
    }
    let result;
    try {
      result = await store.change(m.session.sessionId, m.user.userId, change, this.deps.changeRules);
    } catch (err) {
      conn.send(this.storeFailure(err, "the change could not be stored", null, ids));
      return;
    }
    if ("refused" in result) {
      const [code, error] = refusals[result.refused];
      metrics.frameErrors.inc({ code });
      conn.send(errorFrame({ code, error, ...ids }));
      return;
    }
    const { changeSeq, message } = result;
    delivery.change(m.session.sessionId, changeSeq, message.seq, messageChangedFrame(message, changeId));
    events.emit("messageChanged", m.session);
  }

  /** A change made on the backend's behalf (a moderator's removal, an erasure): to every instance, as a participant's. */
  changedByBackend({ changeSeq, message }: ChangedMessage): void {
    const { delivery, events, rooms } = this.deps;
    delivery.change(message.session_id, changeSeq, message.seq, messageChangedFrame(message));
    void rooms.sessionOf(message.session_id, message.sender_id).then((s) => s && events.emit("messageChanged", s));
  }

  typing(m: Member, isTyping: boolean): void {
    if (isBlocked(m)) return;
    const frame = typingFrame({ sender_id: m.user.userId, sender_name: m.user.displayName, is_typing: isTyping });
    const room = this.deps.rooms.get(m.session.sessionId);
    if (room) this.deps.delivery.toOthers(room.session.sessionId, room.participants, m.user.userId, frame);
  }

  /** Read marks go to everyone in the room (the reader's other devices too), only when they moved. */
  async markRead(conn: Connection, m: Member, seq: number): Promise<void> {
    let moved;
    try {
      moved = await this.deps.store.markRead(m.session.sessionId, m.user.userId, seq);
    } catch (err) {
      conn.send(this.storeFailure(err, "the read mark could not be stored"));
      return;
    }
    if (moved === null) return;
    const frame = readFrame({ user_id: m.user.userId, seq: moved });
    const room = this.deps.rooms.get(m.session.sessionId);
    if (room) for (const p of room.participants) this.deps.delivery.toUser(room.session.sessionId, p.userId, frame);
    this.deps.events.emit("readMoved", m.session, m.user.userId);
  }

  /**
   * A retry of a message already stored: the original goes back to the retrying socket, every time
   * (receivers de-duplicate by seq). Never ahead of a message the room has not delivered yet, or the
   * client would skip that one as already seen.
   */
  private answerRetry(conn: Connection, m: Member, original: MessageView) {
    const frame = messageFrame(original);
    const room = this.deps.rooms.get(m.session.sessionId);
    if (room) room.afterDelivered(original.seq, () => conn.send(frame));
    else conn.send(frame);
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
    const { store, rooms, log } = this.deps;
    this.deps.onAccessChange({ kind: "session", sessionId, participants });
    void store
      .authorize(sessionId, participants[0])
      .then((auth) => {
        if (auth.ok && rooms.get(sessionId) === room) rooms.for(auth.session);
      })
      .catch((err) => log.warn("the session's new participants could not be read", { err, session_id: sessionId }));
  }

  private refuseBlocked(ids: { client_id?: string; seq?: number; change_id?: string }): string {
    this.deps.metrics.frameErrors.inc({ code: ErrorCode.Blocked });
    return errorFrame({ code: ErrorCode.Blocked, error: "the other participant blocked you: nothing you send reaches them", ...ids });
  }

  private refusedContent(
    refused: { code: ErrorCode; error: string },
    ids: { client_id?: string; seq?: number; change_id?: string },
  ): string {
    this.deps.metrics.frameErrors.inc({ code: refused.code });
    return errorFrame({ code: refused.code, error: refused.error, field: "content", ...ids });
  }

  private storeFailure(err: unknown, what: string, clientId?: string | null, ids?: { seq: number; change_id?: string }): string {
    const unavailable = err instanceof StoreUnavailableError;
    if (unavailable) this.deps.log.debug(what, { err, cause: (err as Error).cause });
    else this.deps.log.error(what, { err });
    this.deps.metrics.frameErrors.inc({ code: unavailable ? ErrorCode.Unavailable : ErrorCode.InternalError });
    return errorFrame({
      code: unavailable ? ErrorCode.Unavailable : ErrorCode.InternalError,
      error: unavailable ? `${what} (database unavailable), retry` : what,
      ...(clientId ? { client_id: clientId } : {}),
      ...ids,
    });
  }
}
