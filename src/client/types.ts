/**
 * The frames the client receives, as the client names them: the server's own types
 * (`src/protocol/views.ts`, imported for their types only: nothing of the server is bundled).
 */
import type {
  ErrorView,
  InboxView,
  MessageView,
  PresenceView,
  ReadView,
  ResumedView,
  SessionServerFrame,
  TypingView,
} from "../protocol/views.ts";

/** A stored message, as a live broadcast, a replay and a history page show it. */
export type ChatMessage = MessageView;

/** One session in the user's inbox: unread count, newest message (a 200-code-point preview), the other climber. */
export type InboxEntry = InboxView;

export type TypingEvent = TypingView;
export type PresenceEvent = PresenceView;
export type ReadEvent = ReadView;

/**
 * Ends the replay after a (re)connection. When `complete` is false, the messages with
 * `after < seq < first_seq` were not replayed: page them through `history({ after })`.
 */
export type ResumedEvent = ResumedView;

export type ErrorFrame = ErrorView;

export type ServerFrame = SessionServerFrame;

/** One page of `GET /api/sessions/<id>/messages`, oldest first within the page. */
export type HistoryPage = {
  messages: ChatMessage[];
  has_more: boolean;
  cursors: { before: number | null; after: number | null };
  last_seq: number;
  /** The session's latest change number: connect with `changesAfter` this to miss no change. */
  last_change: number;
};

export type HistoryQuery = { before?: number; after?: number; limit?: number };

/**
 * "connecting": the first connection is being made; "open": joined, replay done, sends go out at once;
 * "reconnecting": the connection was lost and another attempt is scheduled or under way;
 * "closed": `close()` was called or the server refused for good (see the `error` event).
 */
export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

/**
 * Why something failed. `code` is the server's error code (`content_too_long`, `unavailable`, …), or
 * `closed` (the client was closed or refused for good; `closeCode` says why), `token` (getToken failed)
 * or `http` (a history request failed; `status` says how).
 */
export class ChatError extends Error {
  override readonly name = "ChatError";
  constructor(
    readonly code: string,
    message: string,
    /** `seq`: the message whose change was refused. */
    readonly details: { field?: string; closeCode?: number; status?: number; clientId?: string; seq?: number } = {},
  ) {
    super(message);
  }
}
