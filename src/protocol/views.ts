/**
 * The shapes the server shows its data in: a stored message (frames, history pages, replays) and an
 * inbox entry (inbox frames, GET /api/inbox). Types only, without valibot: the client package's
 * declarations import them.
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
};

/** A user's view of one of their sessions: the inbox socket's frame and a row of GET /api/inbox. */
export type InboxView = {
  session_id: string;
  last_seq: number;
  last_read_seq: number;
  unread: number;
  last_message: { seq: number; sender_id: string; sender_name: string; content: string; created_at: string } | null;
  other: { user_id: string; display_name: string; online: boolean };
};
