/**
 * A framework-free client for one chat session, for browsers and Bun (global WebSocket and fetch
 * only). It keeps the connection alive and the conversation exact:
 *  - every connection resumes with `after=<last seq seen>`, and messages are de-duplicated by seq;
 *  - `send()` resolves on the broadcast that carries its `client_id` (sent only after the commit); an
 *    unacknowledged message is sent again, with the same `client_id`, after reconnecting;
 *  - reconnection follows the close codes, with jittered exponential backoff;
 *  - the token is refreshed in-band before it expires.
 * This file is the session's frames; its parts: connection.ts (the lifecycle, shared with the inbox
 * client), session-endpoints.ts (history, connect tickets, URLs), send-queue.ts (acknowledged sends),
 * token.ts, typing-signal.ts.
 */
import { Emitter } from "./emitter.ts";
import { contentProblem } from "../protocol/content.ts";
import { ErrorCode } from "../protocol/codes.ts";
import { Connection } from "./connection.ts";
import { deferred } from "./deferred.ts";
import type { BackoffOptions } from "./reconnect-policy.ts";
import { SendQueue } from "./send-queue.ts";
import { SessionEndpoints } from "./session-endpoints.ts";
import { TokenKeeper, type TokenSource } from "./token.ts";
import { TypingSignal } from "./typing-signal.ts";
import {
  ChatError,
  type ChatMessage,
  type ConnectionState,
  type ErrorFrame,
  type HistoryPage,
  type HistoryQuery,
  type PresenceEvent,
  type ReadEvent,
  type ResumedEvent,
  type ServerFrame,
  type TypingEvent,
} from "./types.ts";

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
  typing: TypingEvent;
  presence: PresenceEvent;
  read: ReadEvent;
  /** A (re)connection finished its replay. `complete: false` leaves a gap to page through `history()`. */
  resumed: ResumedEvent;
  state: ConnectionState;
  /** Refused frames not tied to a send, token failures, and the final refusal before "closed". */
  error: ChatError;
};

export class ChatClient extends Emitter<ChatEvents> {
  private readonly endpoints: SessionEndpoints;
  private readonly connection: Connection;
  private readonly typingSignal: TypingSignal;
  private readonly sends: SendQueue;
  private readonly ready = deferred<void, ChatError>();
  private started = false;
  private seq: number | null = null;
  private readWanted = 0;
  private readSent = 0;

  constructor(options: ChatClientOptions) {
    super();
    const tokens = new TokenKeeper(options.getToken, options.tokenRefreshMarginMs ?? 60_000);
    this.endpoints = new SessionEndpoints(options.baseUrl, options.sessionId, tokens);
    this.connection = new Connection(
      tokens,
      {
        dial: () => this.dial(),
        frame: (frame) => this.receive(frame as ServerFrame),
        lost: () => {
          this.typingSignal.reset();
          this.sends.unsent();
        },
        finished: (error, report) => {
          if (report) this.emit("error", error);
          this.sends.rejectAll(error);
          this.ready.reject(error);
        },
        state: (state) => this.emit("state", state),
        error: (error) => this.emit("error", error),
      },
      { backoff: options.backoff, joinTimeoutMs: options.joinTimeoutMs },
    );
    this.sends = new SendQueue(() => this.connection.socket, options.backoff);
    this.typingSignal = new TypingSignal(
      (isTyping) => this.connection.send({ type: "typing", is_typing: isTyping }),
      options.typing?.repeatMs,
      options.typing?.idleMs,
    );
    this.ready.promise.catch(() => {}); // rejected by close() even if nobody awaits connect()
  }

  get state(): ConnectionState {
    return this.connection.state;
  }

  /** The highest message seq seen (or the starting point), null before the first connection. */
  get lastSeq(): number | null {
    return this.seq;
  }

  /** Messages sent but not acknowledged yet. */
  get pendingCount(): number {
    return this.sends.size;
  }

  /**
   * Starts connecting; resolves once joined (replay done), rejects if refused for good or closed.
   * `after`: the last seq the application already has (e.g. from `history()`). Without it the
   * client asks the history API for the session's current end, so no message is missed from now on.
   */
  connect(options: { after?: number } = {}): Promise<void> {
    if (this.connection.isStopped) return Promise.reject(new ChatError("closed", "the client was closed"));
    if (options.after !== undefined) this.seq = Math.max(this.seq ?? 0, options.after);
    if (!this.started) {
      this.started = true;
      this.connection.start();
    }
    return this.ready.promise;
  }

  /** Closes the connection for good; pending sends are rejected with code "closed". */
  close(): void {
    this.connection.finish(new ChatError("closed", "the client was closed"), { report: false });
  }

  /**
   * Sends a message. Resolves with the stored message once the server acknowledged it (the
   * broadcast carrying its `client_id`); survives reconnections (sent again with the same
   * `client_id`, stored once). Rejects with a ChatError on a refusal (`content_too_long`, …), after
   * repeated `unavailable`/`rate_limited`, or when the client is closed.
   */
  send(content: string, options: { clientId?: string } = {}): Promise<ChatMessage> {
    if (this.connection.isStopped) return Promise.reject(new ChatError("closed", "the client was closed"));
    const problem = contentProblem(content);
    if (problem)
      return Promise.reject(new ChatError(problem, `the message cannot be sent: ${problem.replaceAll("_", " ")}`, { field: "content" }));
    this.typingSignal.stop();
    return this.sends.add(content, options.clientId);
  }

  /** Call on every keystroke with true, and with false when the input is cleared; debounced. */
  typing(isTyping: boolean): void {
    if (isTyping) this.typingSignal.keystroke();
    else this.typingSignal.stop();
  }

  /** Records that the user has seen every message up to `seq` (only forward; sent when connected). */
  markRead(seq: number): void {
    if (!Number.isSafeInteger(seq) || seq <= this.readWanted) return;
    this.readWanted = seq;
    this.flushReadMark();
  }

  /** One page of the session's messages, oldest first: the newest page, or `before`/`after` a seq. */
  history(query: HistoryQuery = {}): Promise<HistoryPage> {
    return this.endpoints.history(query);
  }

  /** Where to connect: resuming after the last seq seen (at the first connection, the session's current end), with a ticket. */
  private async dial(): Promise<{ url: string; token: string }> {
    const after = this.seq ?? (await this.endpoints.currentEnd());
    this.seq ??= after;
    const { ticket, token } = await this.endpoints.connectTicket();
    return { url: this.endpoints.wsUrl(ticket, after), token };
  }

  /** Joined and caught up: from here on sends go out at once. */
  private joined(r: ResumedEvent) {
    this.emit("resumed", r);
    this.connection.joined();
    this.ready.resolve();
    this.sends.pump();
    this.readSent = 0; // a mark sent just before the drop may be lost; one that does not move is ignored
    this.flushReadMark();
  }

  // ---- frames ----

  private receive(frame: ServerFrame) {
    switch (frame.type) {
      case "message": {
        const { type: _, ...message } = frame;
        return this.received(message);
      }
      case "resumed": {
        const { type: _, ...resumed } = frame;
        return this.joined(resumed);
      }
      case "typing": {
        const { type: _, ...typing } = frame;
        return this.emit("typing", typing);
      }
      case "presence": {
        const { type: _, ...presence } = frame;
        return this.emit("presence", presence);
      }
      case "read": {
        const { type: _, ...read } = frame;
        return this.emit("read", read);
      }
      case "error": {
        const { type: _, ...error } = frame;
        return this.refused(error);
      }
    }
  }

  private received(message: ChatMessage) {
    // A retry can bring back a message already seen: it still acknowledges, but is shown once.
    if (this.seq === null || message.seq > this.seq) {
      this.seq = message.seq;
      this.emit("message", message);
    }
    this.sends.acknowledged(message);
  }

  private refused(frame: ErrorFrame) {
    const error = new ChatError(frame.code, frame.error, {
      ...(frame.field ? { field: frame.field } : {}),
      ...(frame.client_id ? { clientId: frame.client_id } : {}),
    });
    if (this.sends.refused(frame, error)) return;
    if (frame.code === ErrorCode.AuthFailed) this.connection.authRefused();
    this.emit("error", error);
  }

  private flushReadMark() {
    if (this.readWanted > this.readSent && this.connection.send({ type: "read", seq: this.readWanted })) this.readSent = this.readWanted;
  }
}
