/**
 * React hooks over the stores: `useChatSession` for one conversation, `useInbox` for all of them. The
 * state lives in the store and reaches React through useSyncExternalStore (one copy, no effect that
 * mirrors it into useState); the connection opens with the first component that uses it and closes
 * after the last one unmounts.
 */
import { useEffect, useMemo, useRef, useSyncExternalStore } from "react";
import { ChatClient } from "../chat-client.ts";
import { InboxClient } from "../inbox-client.ts";
import type { BackoffOptions } from "../reconnect-policy.ts";
import type { TokenSource } from "../token.ts";
import { ChatSessionStore, type ChatSessionSnapshot } from "./chat-session-store.ts";
import { InboxStore, type InboxSnapshot } from "./inbox-store.ts";

export type UseChatSessionOptions = {
  sessionId: string;
  /** Returns an access token (e.g. from your backend's refresh endpoint); the latest function is always used. */
  getToken: TokenSource;
  /** The chat service's http(s) URL; default: the page's origin. */
  baseUrl?: string;
  /** Messages per history page (the first one and each `loadOlder()`). Default 50. */
  pageSize?: number;
  backoff?: BackoffOptions;
};

export type ChatSession = ChatSessionSnapshot & {
  /** Sends a message; with `replyTo`, a reply to the message with that seq. */
  send(content: string, options?: { replyTo?: number }): void;
  /** Sends a failed message again (same client_id: stored once). */
  retry(clientId: string): void;
  discard(clientId: string): void;
  /** Edits the user's own message (within the edit window); pending in `pendingChanges` until stored. */
  edit(seq: number, content: string): void;
  /** Deletes the user's own message for everyone. */
  remove(seq: number): void;
  /** Adds (true) or takes away (false) the user's reaction `emoji`. */
  react(seq: number, emoji: string, on: boolean): void;
  retryChange(id: string): void;
  discardChange(id: string): void;
  /** Reports the other participant's message `seq` (null: the whole session) with a reason and an optional note. */
  report(seq: number | null, reason: string, note?: string): Promise<{ report_id: number; duplicate: boolean }>;
  /** Blocks a user (their messages, typing and presence stop reaching this user), or lifts it. */
  block(userId: string): Promise<void>;
  unblock(userId: string): Promise<void>;
  /** Call on every keystroke (true) and when the input is cleared (false): debounced by the client. */
  setTyping(isTyping: boolean): void;
  markRead(seq: number): void;
  loadOlder(): Promise<void>;
};

export function useChatSession(options: UseChatSessionOptions): ChatSession {
  const latest = useLatest(options);
  const { sessionId, baseUrl, pageSize } = options;
  // A new session (or server) is a new store and connection; new callbacks or options objects are not.
  const store = useMemo(
    () =>
      new ChatSessionStore({
        createClient: () => {
          const { backoff } = latest.current;
          return new ChatClient({
            sessionId,
            getToken: () => latest.current.getToken(),
            ...(baseUrl ? { baseUrl } : {}),
            ...(backoff ? { backoff } : {}),
          });
        },
        ...(pageSize ? { pageSize } : {}),
      }),
    [sessionId, baseUrl, pageSize, latest],
  );
  const snapshot = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  return useMemo(
    () => ({
      ...snapshot,
      send: store.send,
      retry: store.retry,
      discard: store.discard,
      edit: store.edit,
      remove: store.remove,
      react: store.react,
      retryChange: store.retryChange,
      discardChange: store.discardChange,
      report: store.report,
      block: store.block,
      unblock: store.unblock,
      setTyping: store.setTyping,
      markRead: store.markRead,
      loadOlder: store.loadOlder,
    }),
    [snapshot, store],
  );
}

export type UseInboxOptions = { getToken: TokenSource; baseUrl?: string; backoff?: BackoffOptions };

export function useInbox(options: UseInboxOptions): InboxSnapshot {
  const latest = useLatest(options);
  const { baseUrl } = options;
  const store = useMemo(
    () =>
      new InboxStore(() => {
        const { backoff } = latest.current;
        return new InboxClient({
          getToken: () => latest.current.getToken(),
          ...(baseUrl ? { baseUrl } : {}),
          ...(backoff ? { backoff } : {}),
        });
      }),
    [baseUrl, latest],
  );
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}

/** A stable ref to the latest value (callbacks and option objects passed inline change every render). */
function useLatest<T>(value: T): { readonly current: T } {
  const ref = useRef(value);
  useEffect(() => {
    ref.current = value;
  });
  return ref;
}
