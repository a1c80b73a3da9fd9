/** The chat client: `new ChatClient({ sessionId, getToken })`. See docs/client.md. */
export { ChatClient, type ChatClientOptions, type ChatEvents } from "./chat-client.ts";
export { InboxClient, type InboxClientOptions, type InboxEvents } from "./inbox-client.ts";
export { ChatError } from "./types.ts";
export type {
  ChatMessage,
  ConnectionState,
  HistoryPage,
  HistoryQuery,
  InboxEntry,
  PresenceEvent,
  ReadEvent,
  ResumedEvent,
  TypingEvent,
} from "./types.ts";
export type { BackoffOptions } from "./reconnect-policy.ts";
