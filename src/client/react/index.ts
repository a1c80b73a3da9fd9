/** React hooks for the chat: `useChatSession`, `useInbox`. See docs/client.md#react. */
export { useChatSession, useInbox, type ChatSession, type UseChatSessionOptions, type UseInboxOptions } from "./hooks.ts";
export { ChatSessionStore, type ChatSessionSnapshot, type PendingChange, type PendingMessage, type Typist } from "./chat-session-store.ts";
export { InboxStore, type InboxSnapshot } from "./inbox-store.ts";
