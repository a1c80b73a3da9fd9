/**
 * The ports the chat domain is written against: the store (split by use: Directory, MessageLog,
 * ChatQueries), Bus and Presence. `store/` and `bus/` implement them; the composition root
 * (src/app.ts) picks the implementations.
 */
import type { MessageView, ReplyView } from "../protocol/frames.ts";

export type Participant = { userId: string; displayName: string };

export type SessionInfo = {
  sessionId: string;
  inviter: Participant;
  invitee: Participant;
  /** Highest message seq of the session when it was read. */
  lastSeq: number;
  /** The number of the session's latest change to a message (0: none yet). */
  lastChange: number;
  /** How far each participant had read then (0: nothing yet). */
  readMarks: { inviter: number; invitee: number };
  /**
   * The participants the other one blocked (absent: none): their writes are refused, their typing and
   * presence not relayed. Kept up to date in place by the access feed while a room is open.
   */
  blocked?: string[];
};

/** Why a user may not have a session's data. */
export type DeniedReason = "user_not_found" | "banned" | "no_session" | "not_participant";
export type Denied = { ok: false; reason: DeniedReason };

export type Authorization = { ok: true; session: SessionInfo; user: Participant } | Denied;

/** `maxBytes`: the page is cut (farthest from the cursor first) before its messages' JSON exceeds it; at least one message comes. */
export type HistoryQuery = { limit: number; before: number | null; after: number | null; maxBytes: number };

/** A message as the JSON text of a MessageView, with its seq: pages are sent without parsing rows. */
export type MessageJson = { seq: number; json: string };

export type HistoryPage = { ok: true; messages: MessageJson[]; hasMore: boolean; lastSeq: number; lastChange: number } | Denied;

export type UnreadRow = { session_id: string; last_seq: number; last_read_seq: number; unread: number };

/** The newest message of a session as an inbox shows it: content cut to INBOX_PREVIEW_CODE_POINTS. */
export type InboxPreview = { seq: number; sender_id: string; sender_name: string; content: string; created_at: string };

/** One session in a user's inbox, without the other participant's presence (the Presence port's). */
export type InboxRow = UnreadRow & {
  last_message: InboxPreview | null;
  other: { user_id: string; display_name: string };
  /** Position in the inbox: last activity (µs since the epoch) and the session id break ties. */
  cursor: { activity: number; sessionId: string };
};

/** Most recent activity first; `before`: the cursor of the last row of the previous page; `sessionId`: that session's row only. */
export type InboxQuery = { limit: number; before: { activity: number; sessionId: string } | null; sessionId?: string };

export const INBOX_PREVIEW_CODE_POINTS = 200;

export type NewMessage = {
  id: string;
  sessionId: string;
  senderId: string;
  senderName: string;
  content: string;
  /** Idempotency key chosen by the client; null when it gave none. */
  clientId: string | null;
  /** The message it replies to, as `replyPreview` found it. */
  replyTo?: ReplyView;
  /** The backend's system message (the sender is then the session's inviter, for the schema's sake). */
  system?: true;
};

export type Appended = {
  message: MessageView;
  duplicate: boolean;
  /** Inviter and invitee as the message's transaction saw them (the backend may have changed them since the room opened); absent for a duplicate. */
  participants?: readonly [inviterId: string, inviteeId: string];
};

/**
 * The store's failure kinds the domain acts on. Unavailable: the database could not be reached or
 * answered too late; the same request may succeed later (clients get `unavailable` and retry).
 * Anything else thrown by a store call is a bug or a bad input.
 */
export class StoreUnavailableError extends Error {
  override name = "StoreUnavailableError";
  constructor(reason = "database unavailable", cause?: unknown) {
    super(reason, { cause });
  }
}

/** The message's session was deleted (by the backend) between joining and writing. */
export class SessionGoneError extends Error {
  override name = "SessionGoneError";
  constructor(sessionId: string) {
    super(`session ${sessionId} no longer exists`);
  }
}

/**
 * The store, split by use; `Store` is all of them (PostgreSQL, store/postgres-store.ts). PostgreSQL
 * is the source of truth: a message exists once `append` resolved. Every call answers within the
 * store's timeout; a database that is down or too slow rejects with StoreUnavailableError.
 */

/** Who may read what: the users and sessions the backend owns. */
export interface Directory {
  /** User and session participant check in one round trip. */
  authorize(sessionId: string, userId: string): Promise<Authorization>;
  userExists(userId: string): Promise<boolean>;
}

/** The messages of each session, in seq order, and how far each participant read (the chat's). */
export interface MessageLog {
  /**
   * Stores the message and bumps the session's seq and `last_message_at` in one transaction.
   * A message whose clientId was already stored is not stored again: the original comes back.
   */
  append(message: NewMessage): Promise<Appended>;
  /**
   * A message whose `append` had already failed with a timeout was committed after all: it must
   * still be delivered.
   */
  onLateCommit(handler: (appended: Appended) => void): void;
  /** Messages with seq > afterSeq, oldest first, at most `limit`. */
  messagesAfter(sessionId: string, afterSeq: number, limit: number): Promise<MessageView[]>;
  /** How far the session is: its last seq and last change number (0, 0 for an unknown session). */
  positionOf(sessionId: string): Promise<SessionPosition>;
  /** The quote of the message `seq` of the session, for a reply to it; null when there is no such message. */
  replyPreview(sessionId: string, seq: number): Promise<ReplyView | null>;
  /** Moves the user's read mark forward (never back, never past the last message); null if it did not move. */
  markRead(sessionId: string, userId: string, seq: number): Promise<number | null>;
}

/** What a user's pages show (the HTTP API's and the inbox's). */
/** A change a participant asks for on a message of their session (by its seq). */
export type MessageChange =
  | { kind: "edit"; seq: number; content: string }
  | { kind: "delete"; seq: number }
  /** A moderator's removal (the server API): a deletion of anyone's message, shown as removed. */
  | { kind: "remove"; seq: number }
  /** `on`: hold the emoji (true) or not (false), a no-op when already so; absent: toggle. */
  | { kind: "react"; seq: number; emoji: string; on?: boolean };

/** Whether the user holds the emoji after a reaction change, given whether they hold it now. */
export const holdsAfter = (change: { on?: boolean }, holdsNow: boolean): boolean => change.on ?? !holdsNow;

/** Why a change was refused. */
export type ChangeRefusal = "not_found" | "not_sender" | "edit_window_passed" | "message_deleted" | "too_many_reactions";

/** `editWindowMs`: how long after sending a message may be edited; `maxReactions`: distinct emoji per message. */
export type ChangeRules = { editWindowMs: number; maxReactions: number };

/** A message as a change left it, with that change's number. */
export type ChangedMessage = { changeSeq: number; message: MessageView };

/** Edits, deletions for everyone and reactions: each committed with the session's next change number. */
export interface MessageChanges {
  change(
    sessionId: string,
    userId: string,
    change: MessageChange,
    rules: ChangeRules,
  ): Promise<ChangedMessage | { refused: ChangeRefusal }>;
  /** The messages whose latest change is numbered after `afterChange`, in their current state, in change order. */
  changesAfter(sessionId: string, afterChange: number, limit: number): Promise<ChangedMessage[]>;
}

export interface ChatQueries {
  /**
   * One page of a session's messages, ascending by seq, with the caller's access checked in the same
   * query: the newest page without a cursor, older than `before`, or newer than `after`.
   */
  history(sessionId: string, userId: string, query: HistoryQuery): Promise<HistoryPage>;
  /** Unread counts of every session of the user; null when the user does not exist. */
  unread(userId: string): Promise<UnreadRow[] | null>;
  /** One page of the user's sessions, most recent activity first (limit + 1 rows tell whether there is more); null when the user does not exist. */
  inbox(userId: string, query: InboxQuery): Promise<InboxRow[] | null>;
}

export * from "./safety-ports.ts";

export type SessionPosition = { lastSeq: number; lastChange: number };

export interface Store extends Directory, MessageLog, MessageChanges, ChatQueries {
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Tickets name a session; an inbox ticket names none, stored as the nil UUID. */
export const INBOX_TICKET_SCOPE = "00000000-0000-0000-0000-000000000000";

/** What a one-use connect ticket stands for (the transport's; kept in the store so that any instance redeems it). */
export type Ticket = { userId: string; sessionId: string; tokenExpiresAt: number };

/** Connect tickets: issued over HTTP, spent by one WebSocket upgrade. */
export interface TicketBook {
  issue(grant: Ticket): Promise<{ ticket: string; expiresAt: number }>;
  /** The ticket's grant, once: null when malformed, not ours, unknown, used or expired. */
  redeem(ticket: string): Promise<Ticket | null>;
}

/**
 * A change the backend made to who may read a session, as it committed. `participants` null: the
 * session was deleted. A user change means deleted or deactivated: they may read nothing.
 */
export type AccessChange =
  | { kind: "session"; sessionId: string; participants: readonly [inviterId: string, inviteeId: string] | null }
  | { kind: "user"; userId: string; banned?: true }
  /** A block between two users was made or lifted: rooms of a session between them read it again. */
  | { kind: "block"; userIds: readonly [string, string] };

/** Of the sessions and users asked about: those that exist (with their participants), those that may sign in, those banned. */
export type AccessSnapshot = {
  sessions: Map<string, readonly [inviterId: string, inviteeId: string]>;
  activeUsers: Set<string>;
  bannedUsers: Set<string>;
};

/** What crosses instances. `frame` is the serialised server frame, forwarded untouched. */
export type Envelope = (
  | { kind: "message"; sessionId: string; seq: number; frame: string }
  /** A committed change (`changeSeq`) to the message `seq`. */
  | { kind: "change"; sessionId: string; changeSeq: number; seq: number; frame: string }
  | { kind: "direct"; sessionId: string; toUserId: string; frame: string }
  | ({ kind: "presence" } & PresenceChange)
  /** Something the user's inbox shows of the session changed (routed on the user's channel, not the session's). */
  | { kind: "inbox"; userId: string; sessionId: string }
) & {
  /** When the origin instance published it (ms), for the bridge-lag metric; set by the bus. */
  sentAt?: number;
};

/**
 * Pub/sub across instances, this one included: `broadcast` hands the envelope to this instance's
 * handler synchronously, then to every other instance that joined its session (or user).
 */
export interface Bus {
  /** Starts receiving envelopes of this session (first local socket of the session). */
  join(sessionId: string): Promise<void>;
  /** Stops receiving them (last local socket left). */
  leave(sessionId: string): void;
  /** Starts receiving the user's `inbox` envelopes (their first local inbox socket). */
  joinUser(userId: string): Promise<void>;
  leaveUser(userId: string): void;
  /** Here (before it returns) and on every other instance that joined. */
  broadcast(envelope: Envelope): void;
  /** Every envelope: this instance's own, inside `broadcast`, and other instances' as they arrive. */
  onEnvelope(handler: (envelope: Envelope) => void): void;
  /** Called after the bus came back from an outage: what other instances broadcast meanwhile is lost. */
  onResync(handler: () => void): void;
  status(): "up" | "down" | "local";
  /** Envelopes waiting to be sent to the other instances (while the bridge is down). */
  backlog(): number;
  close(): Promise<void>;
}

/**
 * A user's presence in a session as last decided. Versions only grow (per session and user), so
 * wherever changes arrive and in whatever order, the newest one wins and stale ones are dropped.
 */
export type PresenceState = { online: boolean; version: number };
export type PresenceChange = PresenceState & { sessionId: string; userId: string };

/**
 * Who is online in a session, across instances. The chat service calls `arrive` at a user's first
 * local socket in a session and `depart` after the last, synchronously at those transitions, so an
 * instance's calls reach the presence store in the order its sockets came and went. Entries of an
 * instance that died lapse after a bounded time.
 */
export interface Presence {
  /** The change when the user was offline on every instance before; null otherwise. */
  arrive(sessionId: string, userId: string): Promise<PresenceChange | null>;
  /** The change when the user is now offline on every instance; null otherwise. */
  depart(sessionId: string, userId: string): Promise<PresenceChange | null>;
  /** The last decided state of the session's users (a user never seen is absent: offline). */
  states(sessionId: string): Promise<Map<string, PresenceState>>;
  /** Changes decided outside arrive/depart: a dead instance's users lapsing, ours revived after an outage. */
  onChange(handler: (change: PresenceChange) => void): void;
  /**
   * Who has a socket here, per session, as the domain counts them (the one count): a presence store
   * that must keep this instance's entries alive asks it on each refresh. The iterables are live:
   * someone who left during a refresh is not refreshed after leaving.
   */
  localUsers(source: () => Iterable<readonly [sessionId: string, userIds: Iterable<string>]>): void;
  /**
   * This instance is shutting down and its users depart at `departuresAt` (epoch ms): a store that
   * keeps entries alive needs to refresh them only if they would lapse before then.
   */
  drain(departuresAt: number): void;
  close(): Promise<void>;
}
