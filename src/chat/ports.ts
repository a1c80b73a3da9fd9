/**
 * The two ports the chat domain is written against. `store/` and `bus/` implement them; the
 * composition root (src/app.ts) picks the implementations.
 */
import type { MessageView } from "../protocol/frames.ts";

export type Participant = { userId: string; displayName: string };

export type SessionInfo = {
  sessionId: string;
  inviter: Participant;
  invitee: Participant;
  /** Highest message seq of the session when it was read. */
  lastSeq: number;
};

export type Authorization =
  | { ok: true; session: SessionInfo; user: Participant }
  | { ok: false; reason: "user_not_found" | "not_participant" };

export type NewMessage = {
  id: string;
  sessionId: string;
  senderId: string;
  senderName: string;
  content: string;
  /** Idempotency key chosen by the client; null when it gave none. */
  clientId: string | null;
};

export type Appended = { message: MessageView; duplicate: boolean };

/** PostgreSQL is the source of truth: a message exists once `append` resolved. */
export interface Store {
  /** User and session participant check in one round trip. */
  authorize(sessionId: string, userId: string): Promise<Authorization>;
  /**
   * Stores the message and bumps the session's seq and `last_message_at` in one transaction.
   * A message whose clientId was already stored is not stored again: the original comes back.
   */
  append(message: NewMessage): Promise<Appended>;
  /** Messages with seq > afterSeq, oldest first, at most `limit`. */
  messagesAfter(sessionId: string, afterSeq: number, limit: number): Promise<MessageView[]>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** What crosses instances. `frame` is the serialised server frame, forwarded untouched. */
export type Envelope =
  | { kind: "message"; sessionId: string; seq: number; frame: string }
  | { kind: "direct"; sessionId: string; toUserId: string; frame: string };

/** Fan-out between instances. Local delivery is not its job. */
export interface Bus {
  /** Starts receiving envelopes of this session (first local socket of the session). */
  join(sessionId: string): Promise<void>;
  /** Stops receiving them (last local socket left). */
  leave(sessionId: string): void;
  publish(envelope: Envelope): void;
  /** Envelopes from other instances; never this instance's own. */
  onEnvelope(handler: (envelope: Envelope) => void): void;
  /** Called after the bus came back from an outage: what was published meanwhile is lost. */
  onResync(handler: () => void): void;
  status(): "up" | "down" | "local";
  close(): Promise<void>;
}
