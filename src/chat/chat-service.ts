/**
 * The rules of the chat, written against the Store and Bus ports: who is in a room, what a message
 * is, who sees typing. No Bun, no SQL, no Redis here.
 */
import type { Bus, Envelope, Participant, SessionInfo, Store } from "./ports.ts";
import { Room } from "./room.ts";
import { ErrorCode } from "../protocol/codes.ts";
import { errorFrame, messageFrame, typingFrame, type ClientFrame } from "../protocol/frames.ts";
import { isTransient } from "../store/errors.ts";
import type { Logger } from "../observability/log.ts";

/** One open socket, as the domain sees it. The transport implements it over a Bun WebSocket. */
export interface Connection {
  send(frame: string): void;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
}

/** Local delivery to every socket subscribed to a topic (Bun's `server.publish`). */
export type Fanout = (topic: string, frame: string) => void;

/** Who a socket is and where: fixed for the socket's life. */
export type Member = {
  user: Participant;
  session: SessionInfo;
  /** The other participant(s) of the session: typing goes to them only. */
  others: Participant[];
};

export const roomTopic = (sessionId: string) => `s:${sessionId}`;
/** Frames for one participant only, on every one of their sockets. */
export const userTopic = (sessionId: string, userId: string) => `s:${sessionId}:u:${userId}`;

export class ChatService {
  private readonly rooms = new Map<string, Room>();

  constructor(
    private readonly store: Store,
    private readonly bus: Bus,
    private readonly fanout: Fanout,
    private readonly log: Logger,
  ) {
    bus.onEnvelope((e) => this.receive(e));
    bus.onResync(() => void this.resyncAll());
  }

  static member(user: Participant, session: SessionInfo): Member {
    const others = [session.inviter, session.invitee].filter((p) => p.userId !== user.userId);
    return { user, session, others };
  }

  async join(conn: Connection, m: Member): Promise<void> {
    conn.subscribe(roomTopic(m.session.sessionId));
    conn.subscribe(userTopic(m.session.sessionId, m.user.userId));
    const room = this.rooms.get(m.session.sessionId);
    if (room) {
      room.members++;
      return;
    }
    const created = this.createRoom(m.session);
    created.members = 1;
    try {
      await this.bus.join(m.session.sessionId);
    } catch (err) {
      this.log.warn("bus join failed; the room catches up when the bus is back", { err });
    }
    // Whatever another instance committed before our subscription was active.
    await created.catchUp();
  }

  leave(conn: Connection, m: Member): void {
    conn.unsubscribe(roomTopic(m.session.sessionId));
    conn.unsubscribe(userTopic(m.session.sessionId, m.user.userId));
    const room = this.rooms.get(m.session.sessionId);
    if (!room || --room.members > 0) return;
    room.dispose();
    this.rooms.delete(m.session.sessionId);
    this.bus.leave(m.session.sessionId);
  }

  async handle(conn: Connection, m: Member, frame: ClientFrame): Promise<void> {
    switch (frame.type) {
      case "message":
        return this.sendMessage(conn, m, frame.content, frame.client_id ?? null);
      case "typing":
        return this.typing(m, frame.is_typing);
    }
  }

  get roomCount(): number {
    return this.rooms.size;
  }

  private async sendMessage(conn: Connection, m: Member, content: string, clientId: string | null) {
    const sessionId = m.session.sessionId;
    let appended;
    try {
      appended = await this.store.append({
        id: crypto.randomUUID(),
        sessionId,
        senderId: m.user.userId,
        senderName: m.user.displayName,
        content,
        clientId,
      });
    } catch (err) {
      const unavailable = isTransient(err);
      if (!unavailable) this.log.error("message not stored", { err, session_id: sessionId });
      conn.send(
        errorFrame({
          code: unavailable ? ErrorCode.Unavailable : ErrorCode.InternalError,
          error: unavailable ? "the message could not be stored, retry it" : "the message could not be stored",
          ...(clientId ? { client_id: clientId } : {}),
        }),
      );
      return;
    }
    const frame = messageFrame(appended.message);
    if (appended.duplicate) {
      // A retry of a message already stored: the sender learns its fate; nobody else sees it twice.
      conn.send(frame);
      return;
    }
    this.rooms.get(sessionId)?.deliver(appended.message.seq, frame);
    this.bus.publish({ kind: "message", sessionId, seq: appended.message.seq, frame });
  }

  private typing(m: Member, isTyping: boolean) {
    const frame = typingFrame({ sender_id: m.user.userId, sender_name: m.user.displayName, is_typing: isTyping });
    for (const other of m.others) this.direct(m.session.sessionId, other.userId, frame);
  }

  private direct(sessionId: string, toUserId: string, frame: string) {
    this.fanout(userTopic(sessionId, toUserId), frame);
    this.bus.publish({ kind: "direct", sessionId, toUserId, frame });
  }

  private receive(e: Envelope) {
    if (e.kind === "message") this.rooms.get(e.sessionId)?.deliver(e.seq, e.frame);
    else this.fanout(userTopic(e.sessionId, e.toUserId), e.frame);
  }

  private createRoom(session: SessionInfo): Room {
    const topic = roomTopic(session.sessionId);
    const room = new Room(session.sessionId, session.lastSeq, {
      publish: (frame) => this.fanout(topic, frame),
      fetchAfter: (after, limit) => this.store.messagesAfter(session.sessionId, after, limit),
      frameOf: messageFrame,
      onError: (err) => this.log.warn("catch-up from the store failed; retrying", { err, session_id: session.sessionId }),
    });
    this.rooms.set(session.sessionId, room);
    return room;
  }

  private async resyncAll() {
    await Promise.all([...this.rooms.values()].map((room) => room.catchUp()));
  }
}
