/** What a ChatClient is given (its options) and what it tells (its events). */
import type { BackoffOptions } from "./reconnect-policy.ts";
import type { TokenSource } from "./token.ts";
import type { ChatError, ChatMessage, ConnectionState, PresenceEvent, ReadEvent, ResumedEvent, TypingEvent } from "./types.ts";

export type ChatClientOptions = {
  /**
   * The service's http(s) URL (a path prefix is kept). A function is called before every connection,
   * e.g. to rotate between instances. Default in a browser: the page's origin.
   */
  baseUrl?: string | (() => string);
  sessionId: string;
  /** Returns an access token; called at the start, before the current one expires, and after a 4003. */
  getToken: TokenSource;
  /** Refresh this long before `exp` (at most half the token's remaining life). Default 60 s. */
  tokenRefreshMarginMs?: number;
  backoff?: BackoffOptions;
  /** A connection that has not finished joining within this time is dropped and retried. Default 15 s. */
  joinTimeoutMs?: number;
  /** Typing debounce: `true` at most once per `repeatMs`, `false` after `idleMs` idle. Defaults 2 s, 3 s. */
  typing?: { repeatMs?: number; idleMs?: number };
};

export type ChatEvents = {
  /** Each message once, in seq order: replayed ones after a reconnection, live ones, the client's own. */
  message: ChatMessage;
  /**
   * A message as an edit, a deletion or a reaction left it (its whole current state), each change once
   * in change order, never before its message: replace the message with the same seq.
   */
  change: ChatMessage;
  typing: TypingEvent;
  presence: PresenceEvent;
  read: ReadEvent;
  /** A (re)connection finished its replay. `complete: false` leaves a gap to page through `history()`. */
  resumed: ResumedEvent;
  state: ConnectionState;
  /** Refused frames not tied to a send, token failures, and the final refusal before "closed". */
  error: ChatError;
};
