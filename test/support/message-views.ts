/** A stored message as a frame shows it, for the client's unit tests (no server, no database). */
import type { ChatMessage } from "../../src/client/types.ts";

export const messageView = (seq: number, over: Partial<ChatMessage> = {}): ChatMessage => ({
  message_id: `id-${seq}`,
  session_id: "s1",
  seq,
  content: `m${seq}`,
  sender_id: "sam",
  sender_name: "Sam",
  created_at: "2026-12-02T00:00:00.000000Z",
  ...over,
});
