/**
 * The connection core both clients share (ChatClient, InboxClient): one WebSocket at a time, its
 * state, reconnection by the close codes with jittered backoff, a join timeout, the guard against
 * repeated invalid-token closes, and the in-band token refresh. A client says how to dial (URL and
 * the token it stands for), handles its own frames, and calls `joined()` when its first frame of a
 * usable connection (a replay's end, a snapshot's end) arrived.
 */
import { CloseCode } from "../protocol/codes.ts";
import { planAfterClose, reconnectDelay, type BackoffOptions } from "./reconnect-policy.ts";
import { jwtExpiresAt, type TokenKeeper } from "./token.ts";
import { ChatError, type ConnectionState } from "./types.ts";

/** A connection that stayed up this long resets the backoff. */
export const STABLE_CONNECTION_MS = 10_000;
/** How long a socket may take from open to joined (its presence snapshot) before it is dropped and retried. */
export const JOIN_TIMEOUT_MS = 15_000;
/** 4003 twice in a row, even with a token fresh from getToken: reconnecting cannot help. */
const MAX_INVALID_TOKEN_CLOSES = 2;
const REFRESH_RETRY_MS = 5_000;

export type ConnectionHooks = {
  /** Where to connect now and with which token (its `exp` is the socket's life); a ChatError says why not. */
  dial(): Promise<{ url: string; token: string }>;
  /** Every frame but `auth`, parsed. */
  frame(frame: { type: string }): void;
  /** The socket is gone (it will be dialled again, or the connection finished). */
  lost(): void;
  /** The connection ended for good: closed by the application (`report` false) or refused by the server. */
  finished(error: ChatError, report: boolean): void;
  state(state: ConnectionState): void;
  /** Problems worth telling the application that do not end the connection (token refresh failures). */
  error(error: ChatError): void;
};

export type ConnectionOptions = { backoff?: BackoffOptions | undefined; joinTimeoutMs?: number | undefined };

export class Connection {
  private ws: WebSocket | null = null;
  private currentState: ConnectionState = "closed";
  private everOpen = false;
  private stopped = false;
  private failures = 0;
  private invalidTokenCloses = 0;
  private openedAt = 0;
  private socketExpiresAt: number | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private joinTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly tokens: TokenKeeper,
    private readonly hooks: ConnectionHooks,
    private readonly options: ConnectionOptions = {},
  ) {}

  get state(): ConnectionState {
    return this.currentState;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** The first dial; later ones follow the close codes. */
  start(): void {
    if (this.ws || this.reconnectTimer || this.stopped) return;
    this.setState(this.everOpen ? "reconnecting" : "connecting");
    globalThis.addEventListener?.("online", this.networkBack);
    void this.attempt();
  }

  /** Joined: from here on the connection is usable. */
  joined(): void {
    if (this.joinTimer) clearTimeout(this.joinTimer);
    this.joinTimer = null;
    this.openedAt = Date.now();
    this.invalidTokenCloses = 0;
    this.everOpen = true;
    this.setState("open");
    this.scheduleRefresh();
  }

  /** Sends a frame when joined; false (nothing sent) otherwise. */
  send(frame: object): boolean {
    if (!this.ws || this.currentState !== "open") return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** The open socket, for senders that keep their own queue (null while not joined). */
  get socket(): WebSocket | null {
    return this.currentState === "open" ? this.ws : null;
  }

  /** The server refused an `auth` frame: ask for a token again a little later. */
  authRefused(): void {
    this.scheduleRefresh(REFRESH_RETRY_MS);
  }

  finish(error: ChatError, { report = true } = {}): void {
    if (this.stopped) return;
    this.stopped = true;
    globalThis.removeEventListener?.("online", this.networkBack);
    this.clearConnectionTimers();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, "client closed");
    this.hooks.lost();
    this.setState("closed");
    this.hooks.finished(error, report);
  }

  /** The browser says the network is back: do not sit out the rest of a long backoff. */
  private readonly networkBack = () => {
    if (!this.reconnectTimer || this.stopped) return;
    clearTimeout(this.reconnectTimer);
    void this.attempt();
  };

  private async attempt(): Promise<void> {
    this.reconnectTimer = null;
    let dialled: { url: string; token: string };
    try {
      dialled = await this.hooks.dial();
    } catch (err) {
      if (this.stopped) return;
      const chatError = err instanceof ChatError ? err : new ChatError("token", `getToken failed: ${String(err)}`);
      if (chatError.code === "token") this.hooks.error(chatError);
      return this.lost(chatError.details.closeCode ?? 1006, chatError.message, chatError);
    }
    if (this.stopped) return;
    const ws = new WebSocket(dialled.url);
    this.ws = ws;
    this.socketExpiresAt = jwtExpiresAt(dialled.token);
    ws.onmessage = (e) => {
      if (this.ws === ws) this.receive(String(e.data));
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.lost(e.code, e.reason);
    };
    this.joinTimer = setTimeout(() => this.abandon(ws, "timed out joining"), this.options.joinTimeoutMs ?? JOIN_TIMEOUT_MS);
  }

  private receive(text: string) {
    let frame: { type: string; expires_at?: string };
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.type !== "auth") return this.hooks.frame(frame);
    this.socketExpiresAt = Date.parse(frame.expires_at ?? "");
    this.scheduleRefresh();
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
    this.hooks.lost();
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

  private clearConnectionTimers() {
    for (const t of [this.joinTimer, this.refreshTimer]) if (t) clearTimeout(t);
    this.joinTimer = this.refreshTimer = null;
  }

  private setState(state: ConnectionState) {
    if (state === this.currentState) return;
    this.currentState = state;
    this.hooks.state(state);
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
      this.hooks.error(new ChatError("token", `getToken failed: ${String(err)}`));
      if (this.ws === ws) this.scheduleRefresh(REFRESH_RETRY_MS);
      return;
    }
    if (this.ws !== ws || !this.send({ type: "auth", token })) return;
    const expiresAt = jwtExpiresAt(token);
    // getToken gave back the same token (or an older one): ask again later rather than in a loop.
    if (expiresAt !== null && expiring !== null && expiresAt <= expiring) this.scheduleRefresh(REFRESH_RETRY_MS);
    // Otherwise the server's `auth` answer schedules the next refresh.
  }
}
