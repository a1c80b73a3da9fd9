/**
 * A framework-free client for one chat session, for browsers and Bun (global WebSocket and fetch
 * only). It keeps the connection alive and the conversation exact:
 *  - every connection resumes with `after=<last seq seen>`, and messages are de-duplicated by seq;
 *  - `send()` resolves on the broadcast that carries its `client_id` (sent only after the commit); an
 *    unacknowledged message is sent again, with the same `client_id`, after reconnecting;
 *  - reconnection follows the close codes, with jittered exponential backoff;
 *  - the token is refreshed in-band before it expires.
 * This file is the connection's lifecycle and the frames; its parts: session-endpoints.ts (history,
 * connect tickets, URLs), send-queue.ts (acknowledged sends), reconnect-policy.ts, token.ts,
 * typing-signal.ts.
 */
import { Emitter } from "./emitter.ts";
import { contentProblem } from "../protocol/content.ts";
import { CloseCode, ErrorCode } from "../protocol/codes.ts";
import { deferred } from "./deferred.ts";
import { planAfterClose, reconnectDelay, type BackoffOptions } from "./reconnect-policy.ts";
import { SendQueue } from "./send-queue.ts";
import { SessionEndpoints } from "./session-endpoints.ts";
import { TokenKeeper, jwtExpiresAt, type TokenSource } from "./token.ts";
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

const STABLE_CONNECTION_MS = 10_000;
/** 4003 twice in a row, even with a token fresh from getToken: reconnecting cannot help. */
const MAX_INVALID_TOKEN_CLOSES = 2;
const REFRESH_RETRY_MS = 5_000;

export class ChatClient extends Emitter<ChatEvents> {
  private readonly tokens: TokenKeeper;
  private readonly endpoints: SessionEndpoints;
  private readonly typingSignal: TypingSignal;
  private readonly sends: SendQueue;
  private readonly ready = deferred<void, ChatError>();
  private ws: WebSocket | null = null;
  private currentState: ConnectionState = "closed";
  private everOpen = false;
  private started = false;
  /** close() was called or the server refused for good. */
  private stopped = false;
  private seq: number | null = null;
  private failures = 0;
  private invalidTokenCloses = 0;
  private openedAt = 0;
  private socketExpiresAt: number | null = null;
  private readWanted = 0;
  private readSent = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private joinTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly options: ChatClientOptions) {
    super();
    this.tokens = new TokenKeeper(options.getToken, options.tokenRefreshMarginMs ?? 60_000);
    this.endpoints = new SessionEndpoints(options.baseUrl, options.sessionId, this.tokens);
    this.sends = new SendQueue(() => (this.currentState === "open" ? this.ws : null), options.backoff);
    this.typingSignal = new TypingSignal(
      (isTyping) => this.sendFrame({ type: "typing", is_typing: isTyping }),
      options.typing?.repeatMs,
      options.typing?.idleMs,
    );
    this.ready.promise.catch(() => {}); // rejected by close() even if nobody awaits connect()
    globalThis.addEventListener?.("online", this.networkBack);
  }

  get state(): ConnectionState {
    return this.currentState;
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
    if (this.stopped) return Promise.reject(new ChatError("closed", "the client was closed"));
    if (options.after !== undefined) this.seq = Math.max(this.seq ?? 0, options.after);
    if (!this.started) {
      this.started = true;
      this.setState("connecting");
      void this.attempt();
    }
    return this.ready.promise;
  }

  /** Closes the connection for good; pending sends are rejected with code "closed". */
  close(): void {
    if (this.stopped) return;
    this.finish(new ChatError("closed", "the client was closed"), { report: false });
  }

  /**
   * Sends a message. Resolves with the stored message once the server acknowledged it (the
   * broadcast carrying its `client_id`); survives reconnections (sent again with the same
   * `client_id`, stored once). Rejects with a ChatError on a refusal (`content_too_long`, …), after
   * repeated `unavailable`/`rate_limited`, or when the client is closed.
   */
  send(content: string, options: { clientId?: string } = {}): Promise<ChatMessage> {
    if (this.stopped) return Promise.reject(new ChatError("closed", "the client was closed"));
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

  // ---- connection lifecycle ----

  /** The browser says the network is back: do not sit out the rest of a long backoff. */
  private readonly networkBack = () => {
    if (!this.reconnectTimer || this.stopped) return;
    clearTimeout(this.reconnectTimer);
    void this.attempt();
  };

  private async attempt(): Promise<void> {
    this.reconnectTimer = null;
    let url: string;
    let token: string;
    try {
      const after = this.seq ?? (await this.endpoints.currentEnd());
      this.seq ??= after;
      let ticket;
      ({ ticket, token } = await this.endpoints.connectTicket());
      url = this.endpoints.wsUrl(ticket, after);
    } catch (err) {
      if (this.stopped) return;
      const chatError = err instanceof ChatError ? err : new ChatError("token", `getToken failed: ${String(err)}`);
      if (chatError.code === "token") this.emit("error", chatError);
      return this.lost(chatError.details.closeCode ?? 1006, chatError.message, chatError);
    }
    if (this.stopped) return;

    const ws = new WebSocket(url);
    this.ws = ws;
    this.socketExpiresAt = jwtExpiresAt(token);
    ws.onmessage = (e) => {
      if (this.ws === ws) this.receive(String(e.data));
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.lost(e.code, e.reason);
    };
    this.joinTimer = setTimeout(() => this.abandon(ws, "timed out joining"), this.options.joinTimeoutMs ?? 15_000);
  }

  private abandon(ws: WebSocket, reason: string) {
    if (this.ws !== ws) return;
    this.ws = null;
    ws.close();
    this.lost(1006, reason);
  }

  /** The connection ended (or could not be made): decide between reconnecting and giving up. */
  private lost(code: number, reason: string, cause?: ChatError) {
    const wasOpen = this.currentState === "open";
    this.clearConnectionTimers();
    this.typingSignal.reset();
    this.sends.unsent();
    if (this.stopped) return;

    const plan = planAfterClose(code);
    const refusal = () => cause ?? new ChatError("closed", reason || `connection refused (${code})`, { closeCode: code });
    if (code === CloseCode.InvalidToken && ++this.invalidTokenCloses >= MAX_INVALID_TOKEN_CLOSES) return this.finish(refusal());
    if (!plan.reconnect) return this.finish(refusal());
    if (plan.refreshToken) this.tokens.invalidate();

    if (wasOpen && Date.now() - this.openedAt >= STABLE_CONNECTION_MS) this.failures = 0;
    const delay = reconnectDelay(plan, this.failures++, this.options.backoff);
    this.setState(this.everOpen ? "reconnecting" : "connecting");
    this.reconnectTimer = setTimeout(() => void this.attempt(), delay);
  }

  /** Joined and caught up: from here on sends go out at once. */
  private joined(r: ResumedEvent) {
    if (this.joinTimer) clearTimeout(this.joinTimer);
    this.joinTimer = null;
    this.openedAt = Date.now();
    this.invalidTokenCloses = 0;
    this.everOpen = true;
    this.emit("resumed", r);
    this.setState("open");
    this.ready.resolve();
    this.sends.pump();
    this.readSent = 0; // a mark sent just before the drop may be lost; one that does not move is ignored
    this.flushReadMark();
    this.scheduleRefresh();
  }

  private finish(error: ChatError, { report = true } = {}) {
    this.stopped = true;
    globalThis.removeEventListener?.("online", this.networkBack);
    this.clearConnectionTimers();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.typingSignal.reset();
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, "client closed");
    this.setState("closed");
    if (report) this.emit("error", error);
    this.sends.rejectAll(error);
    this.ready.reject(error);
  }

  private clearConnectionTimers() {
    for (const t of [this.joinTimer, this.refreshTimer]) if (t) clearTimeout(t);
    this.joinTimer = this.refreshTimer = null;
  }

  private setState(state: ConnectionState) {
    if (state === this.currentState) return;
    this.currentState = state;
    this.emit("state", state);
  }

  // ---- frames ----

  private receive(text: string) {
    let frame: ServerFrame;
    try {
      frame = JSON.parse(text) as ServerFrame;
    } catch {
      return;
    }
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
      case "auth":
        this.socketExpiresAt = Date.parse(frame.expires_at);
        return this.scheduleRefresh();
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
    if (frame.code === ErrorCode.AuthFailed) this.scheduleRefresh(REFRESH_RETRY_MS);
    this.emit("error", error);
  }

  private flushReadMark() {
    if (this.readWanted > this.readSent && this.sendFrame({ type: "read", seq: this.readWanted })) this.readSent = this.readWanted;
  }

  /** Sends a frame when joined; false (nothing sent) otherwise. */
  private sendFrame(frame: object): boolean {
    if (!this.ws || this.currentState !== "open") return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  // ---- in-band token refresh ----

  private scheduleRefresh(delayMs?: number) {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    const expiresAt = this.socketExpiresAt;
    if (!this.ws || expiresAt === null || !Number.isFinite(expiresAt)) return;
    const delay = delayMs ?? this.tokens.refreshAt(expiresAt) - Date.now();
    this.refreshTimer = setTimeout(() => void this.refreshInBand(), Math.max(0, delay));
  }

  private async refreshInBand() {
    const ws = this.ws;
    const expiring = this.socketExpiresAt;
    let token: string;
    try {
      token = await this.tokens.fresh();
    } catch (err) {
      this.emit("error", new ChatError("token", `getToken failed: ${String(err)}`));
      if (this.ws === ws) this.scheduleRefresh(REFRESH_RETRY_MS);
      return;
    }
    if (this.ws !== ws || !this.sendFrame({ type: "auth", token })) return;
    const expiresAt = jwtExpiresAt(token);
    // getToken gave back the same token (or an older one): ask again later rather than in a loop.
    if (expiresAt !== null && expiring !== null && expiresAt <= expiring) this.scheduleRefresh(REFRESH_RETRY_MS);
    // Otherwise the server's `auth` answer schedules the next refresh.
  }
}
