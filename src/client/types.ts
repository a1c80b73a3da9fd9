/**
 * The frames the client receives, as plain types. A stored message is the server's own type
 * (`src/protocol/views.ts`, imported for its type only: nothing of the server is bundled).
 */
import type { InboxView, MessageView } from "../protocol/views.ts";

/** A stored message, as a live broadcast, a replay and a history page show it. */
export type ChatMessage = MessageView;

/** One session in the user's inbox: unread count, newest message (a 200-code-point preview), the other climber. */
export type InboxEntry = InboxView;

export type TypingEvent = { sender_id: string; sender_name: string; is_typing: boolean };
export type PresenceEvent = { user_id: string; display_name: string; online: boolean };
export type ReadEvent = { user_id: string; seq: number };

/**
 * Ends the replay after a (re)connection. When `complete` is false, the messages with
 * `after < seq < first_seq` were not replayed: page them through `history({ after })`.
 */
export type ResumedEvent = { after: number; replayed: number; first_seq: number | null; last_seq: number; complete: boolean };

export type ErrorFrame = { code: string; error: string; field?: string; client_id?: string };

export type ServerFrame =
  | ({ type: "message" } & ChatMessage)
  | ({ type: "typing" } & TypingEvent)
  | ({ type: "presence" } & PresenceEvent)
  | ({ type: "read" } & ReadEvent)
  | ({ type: "resumed" } & ResumedEvent)
  | ({ type: "error" } & ErrorFrame)
  | { type: "auth"; ok: true; expires_at: string };

/** One page of `GET /api/sessions/<id>/messages`, oldest first within the page. */
export type HistoryPage = {
  messages: ChatMessage[];
  has_more: boolean;
  cursors: { before: number | null; after: number | null };
  last_seq: number;
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
    readonly details: { field?: string; closeCode?: number; status?: number; clientId?: string } = {},
  ) {
    super(message);
  }
}
