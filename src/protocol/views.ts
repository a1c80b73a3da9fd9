/**
 * Every shape the server sends: a stored message (frames, history pages, replays), an inbox entry
 * (inbox frames, GET /api/inbox), and each frame of the session and inbox sockets. Types only,
 * without valibot: the server's builders (frames.ts) and the client package both take them from here.
 */

/** A stored message as every frame, history page and replay shows it. */
export type MessageView = {
  message_id: string;
  session_id: string;
  seq: number;
  content: string;
  sender_id: string;
  sender_name: string;
  created_at: string;
  /** Echoes the sender's `client_id`, when it gave one. */
  client_id?: string;
  /** The number of the latest change (edit, deletion, reaction) to this message, when it has had one. */
  change_seq?: number;
  /** When the sender last edited it. */
  edited_at?: string;
  /** When it was deleted for everyone: `content` is then "" (erased from the database) and it has no reactions. */
  deleted_at?: string;
  /** Deleted by a moderator (the backend's server API), not by its sender. */
  removed?: true;
  /** Reactions, oldest emoji first: who holds each (a participant reacted when their id is in `user_ids`). */
  reactions?: ReactionView[];
  /** The message this one replies to, with a preview the server filled in. */
  reply_to?: ReplyView;
  /** "system": posted by the backend (show it without a sender: `sender_id` is the session's inviter, for the schema's sake). */
  kind?: "system";
};

/**
 * A reply's quote: the original's seq, sender and first REPLY_PREVIEW_CODE_POINTS code points as it
 * was when read (a deleted original: `deleted` and an empty preview).
 */
export type ReplyView = { seq: number; sender_id: string; sender_name: string; preview: string; deleted?: true };

export type ReactionView = { emoji: string; count: number; user_ids: string[] };

export const REPLY_PREVIEW_CODE_POINTS = 100;

/** A user's view of one of their sessions: the inbox socket's frame and a row of GET /api/inbox. */
export type InboxView = {
  session_id: string;
  last_seq: number;
  last_read_seq: number;
  unread: number;
  last_message: { seq: number; sender_id: string; sender_name: string; content: string; created_at: string } | null;
  other: { user_id: string; display_name: string; online: boolean };
};

export type TypingView = { sender_id: string; sender_name: string; is_typing: boolean };
export type PresenceView = { user_id: string; display_name: string; online: boolean };
export type ReadView = { user_id: string; seq: number };

/**
 * Ends the replay after a (re)connection: everything after `after` up to `last_seq` was sent, except,
 * when `complete` is false, the messages with after < seq < first_seq: page those through history.
 */
export type ResumedView = {
  after: number;
  replayed: number;
  first_seq: number | null;
  last_seq: number;
  complete: boolean;
  /** The session's latest change number the socket has seen: resume with `changes_after=` this. */
  change_seq: number;
};

/**
 * An error frame: a stable `code`, a text for people, the offending `field`, the `client_id` of the
 * send it refuses, or the `seq` (and `change_id`) of the change it refuses.
 */
export type ErrorView = { code: string; error: string; field?: string; client_id?: string; change_id?: string; seq?: number };

/** Ends an inbox snapshot: `sessions` frames were sent; with `has_more`, GET /api/inbox?before=<next> pages the rest. */
export type InboxReadyView = { sessions: number; has_more: boolean; next: string | null };

/** The answer to an in-band token refresh. */
export type AuthOkView = { ok: true; expires_at: string };

/** Every frame of a session socket. */
export type SessionServerFrame =
  | ({ type: "message" } & MessageView)
  | ({ type: "message_changed" } & MessageView & { change_seq: number; change_id?: string })
  | ({ type: "typing" } & TypingView)
  | ({ type: "presence" } & PresenceView)
  | ({ type: "read" } & ReadView)
  | ({ type: "resumed" } & ResumedView)
  | ({ type: "error" } & ErrorView)
  | ({ type: "auth" } & AuthOkView);

/** Every frame of the inbox socket. */
export type InboxServerFrame =
  | ({ type: "inbox" } & InboxView)
  | ({ type: "inbox_ready" } & InboxReadyView)
  | ({ type: "error" } & ErrorView)
  | ({ type: "auth" } & AuthOkView);
