/**
 * A framework-free client for one chat session, for browsers and Bun (global WebSocket and fetch
 * only). It keeps the connection alive and the conversation exact:
 *  - every connection resumes with `after=<last seq seen>` and `changes_after=<last change seen>`, and
 *    messages are de-duplicated by seq, changes by change_seq;
 *  - `send()` resolves on the broadcast that carries its `client_id` (sent only after the commit); an
 *    unacknowledged message is sent again, with the same `client_id`, after reconnecting; edits,
 *    deletions and reactions likewise, with their `change_id`;
 *  - reconnection follows the close codes, with jittered exponential backoff;
 *  - the token is refreshed in-band before it expires.
 * This file is the session's frames; its parts: connection.ts (the lifecycle, shared with the inbox
 * client), session-endpoints.ts (history, connect tickets, URLs), send-queue.ts (acknowledged frames),
 * token.ts, typing-signal.ts.
 */
import { Emitter } from "./emitter.ts";
import { contentProblem } from "../protocol/content.ts";
import { ErrorCode } from "../protocol/codes.ts";
import { Connection } from "./connection.ts";
import { deferred } from "./deferred.ts";
import { SendQueue } from "./send-queue.ts";
import { SessionEndpoints } from "./session-endpoints.ts";
import { TokenKeeper } from "./token.ts";
import { TypingSignal } from "./typing-signal.ts";
import type { ChatClientOptions, ChatEvents } from "./chat-client-options.ts";

export type { ChatClientOptions, ChatEvents } from "./chat-client-options.ts";
import {
  ChatError,
  type ChatMessage,
  type ConnectionState,
  type ErrorFrame,
  type HistoryPage,
  type HistoryQuery,
  type ResumedEvent,
  type ServerFrame,
} from "./types.ts";

/** A change sent on an open socket and not answered within this time is sent again (harmless: see docs/protocol.md). */
const CHANGE_ANSWER_TIMEOUT_MS = 10_000;

/** A deletion refused because the message is deleted already has what it wanted. */
const DELETED: ReadonlySet<string> = new Set([ErrorCode.MessageDeleted]);

export class ChatClient extends Emitter<ChatEvents> {
  private readonly endpoints: SessionEndpoints;
  private readonly connection: Connection;
  private readonly typingSignal: TypingSignal;
  private readonly sends: SendQueue<ChatMessage>;
  private readonly changes: SendQueue<void>;
  private readonly ready = deferred<void, ChatError>();
  private started = false;
  private seq: number | null = null;
  private changeSeq: number | null = null;
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
          this.changes.unsent();
        },
        finished: (error, report) => {
          if (report) this.emit("error", error);
          this.sends.rejectAll(error);
          this.changes.rejectAll(error);
          this.ready.reject(error);
        },
        state: (state) => this.emit("state", state),
        error: (error) => this.emit("error", error),
      },
      { backoff: options.backoff, joinTimeoutMs: options.joinTimeoutMs },
    );
    const socket = () => this.connection.socket;
    this.sends = new SendQueue(socket, { idField: "client_id", ...(options.backoff ? { backoff: options.backoff } : {}) });
    this.changes = new SendQueue(socket, {
      idField: "change_id",
      answerTimeoutMs: CHANGE_ANSWER_TIMEOUT_MS,
      ...(options.backoff ? { backoff: options.backoff } : {}),
    });
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

  /** The highest change number seen (or the starting point), null before the first connection. */
  get lastChange(): number | null {
    return this.changeSeq;
  }

  /** Messages sent but not acknowledged yet. */
  get pendingCount(): number {
    return this.sends.size;
  }

  /** Edits, deletions and reactions sent but not acknowledged yet. */
  get pendingChanges(): number {
    return this.changes.size;
  }

  /**
   * Starts connecting; resolves once joined (replay done), rejects if refused for good or closed.
   * `after`: the last seq the application already has (e.g. from `history()`), with the page's
   * `last_change` as `changesAfter` (without it, changes made before this connection are not
   * replayed). Without either the client asks the history API for the session's current end, so no
   * message and no change is missed from now on.
   */
  connect(options: { after?: number; changesAfter?: number } = {}): Promise<void> {
    if (this.connection.isStopped) return Promise.reject(new ChatError("closed", "the client was closed"));
    if (options.after !== undefined) this.seq = Math.max(this.seq ?? 0, options.after);
    if (options.changesAfter !== undefined) this.changeSeq = Math.max(this.changeSeq ?? 0, options.changesAfter);
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
  send(content: string, options: { clientId?: string; replyTo?: number } = {}): Promise<ChatMessage> {
    const refused = this.refusedLocally(content);
    if (refused) return refused;
    this.typingSignal.stop();
    const frame = { type: "message", content, ...(options.replyTo === undefined ? {} : { reply_to: options.replyTo }) };
    return this.sends.add(frame, options.clientId);
  }

  /** A reply to the message `seq`: a send whose message carries `reply_to` with a quote of it. */
  reply(seq: number, content: string, options: { clientId?: string } = {}): Promise<ChatMessage> {
    return this.send(content, { ...options, replyTo: seq });
  }

  /**
   * Edits the user's own message `seq` (within the server's edit window). Resolves once the edit is
   * stored and broadcast (the `change` event shows it); rejects with the server's code
   * (`not_sender`, `edit_window_passed`, `message_deleted`, …). Survives reconnections like a send.
   */
  edit(seq: number, content: string): Promise<void> {
    return this.refusedLocally(content) ?? this.queueChange({ type: "edit", seq, content });
  }

  /** Deletes the user's own message `seq` for everyone. Resolves once deleted (also when it already was). */
  remove(seq: number): Promise<void> {
    return this.queueChange({ type: "delete", seq }, DELETED);
  }

  /** Adds (`on` true, the default) or takes away the user's reaction `emoji` on the message `seq`. */
  react(seq: number, emoji: string, on = true): Promise<void> {
    return this.queueChange({ type: "react", seq, emoji, on });
  }

  private refusedLocally(content: string): Promise<never> | null {
    if (this.connection.isStopped) return Promise.reject(new ChatError("closed", "the client was closed"));
    const problem = contentProblem(content);
    if (!problem) return null;
    return Promise.reject(new ChatError(problem, `the message cannot be sent: ${problem.replaceAll("_", " ")}`, { field: "content" }));
  }

  private queueChange(frame: Record<string, unknown>, doneOn?: ReadonlySet<string>): Promise<void> {
    if (this.connection.isStopped) return Promise.reject(new ChatError("closed", "the client was closed"));
    return this.changes.add(frame, undefined, doneOn);
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

  /**
   * Reports the other participant's message `seq` (null: the whole session) with a reason (`spam`,
   * `harassment`, `hate`, `sexual`, `violence`, `scam`, `other`) and an optional note. Resolves with the
   * report's id (`duplicate` when this user had reported it already); rejects with a ChatError "http".
   */
  report(seq: number | null, reason: string, note?: string): Promise<{ report_id: number; duplicate: boolean }> {
    return this.endpoints.report(seq, reason, note);
  }

  /** Blocks a user (their messages, typing and presence stop reaching this user in every session). */
  async block(userId: string): Promise<void> {
    await this.endpoints.block(userId, true);
  }

  async unblock(userId: string): Promise<void> {
    await this.endpoints.block(userId, false);
  }

  /**
   * Where to connect: resuming after the last seq and change seen (at the first connection, the
   * session's current end), with a ticket.
   */
  private async dial(): Promise<{ url: string; token: string }> {
    if (this.seq === null) {
      const end = await this.endpoints.currentEnd();
      this.seq = end.seq;
      this.changeSeq ??= end.change;
    }
    const { ticket, token } = await this.endpoints.connectTicket();
    return { url: this.endpoints.wsUrl(ticket, this.seq, this.changeSeq), token };
  }

  /** Joined and caught up: from here on sends go out at once. */
  private joined(r: ResumedEvent) {
    this.changeSeq = Math.max(this.changeSeq ?? 0, r.change_seq);
    this.emit("resumed", r);
    this.connection.joined();
    this.ready.resolve();
    this.sends.pump();
    this.changes.pump();
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
      case "message_changed": {
        const { type: _, change_id: changeId, ...message } = frame;
        return this.changed(message, changeId);
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
    this.sends.acknowledged(message.client_id, message);
  }

  private changed(message: ChatMessage & { change_seq: number }, changeId: string | undefined) {
    // A retried change is answered by a broadcast of its own; one seen already is not shown again.
    if (this.changeSeq === null || message.change_seq > this.changeSeq) {
      this.changeSeq = message.change_seq;
      this.emit("change", message);
    }
    this.changes.acknowledged(changeId, undefined);
  }

  private refused(frame: ErrorFrame) {
    const error = new ChatError(frame.code, frame.error, {
      ...(frame.field ? { field: frame.field } : {}),
      ...(frame.client_id ? { clientId: frame.client_id } : {}),
      ...(frame.seq !== undefined ? { seq: frame.seq } : {}),
    });
    if (this.sends.refused(frame, error) || this.changes.refused(frame, error)) return;
    if (frame.code === ErrorCode.AuthFailed) this.connection.authRefused();
    this.emit("error", error);
  }

  private flushReadMark() {
    if (this.readWanted > this.readSent && this.connection.send({ type: "read", seq: this.readWanted })) this.readSent = this.readWanted;
  }
}
