/**
 * One chat session's state for a UI, over a ChatClient: the conversation (history and live merged,
 * each message once, in seq order), the sends not yet acknowledged, who is typing, presence, read
 * marks, the connection. Framework-free and immutable: every change makes a new snapshot, which is
 * what React's useSyncExternalStore wants (src/client/react/hooks.ts).
 *
 * The client starts with the first subscriber and stops a moment after the last one leaves, so a
 * component that mounts, unmounts and mounts again at once (React StrictMode) keeps one connection.
 */
import type { ChatClient } from "../chat-client.ts";
import { newClientId } from "../client-id.ts";
import { applyChange, mergeMessages } from "./conversation.ts";
import { PendingChanges, type PendingChange } from "./pending-changes.ts";

export type { PendingChange } from "./pending-changes.ts";
import { Subscribers } from "./subscribers.ts";

const notStarted = () => new ChatError("closed", "the chat session is not open (no component uses it)");

import {
  ChatError,
  type ChatMessage,
  type ConnectionState,
  type HistoryPage,
  type HistoryQuery,
  type PresenceEvent,
  type ReadEvent,
  type TypingEvent,
} from "../types.ts";

/** What the store needs of a ChatClient (tests give a fake). */
export type SessionClient = Pick<
  ChatClient,
  "on" | "connect" | "close" | "send" | "edit" | "remove" | "react" | "typing" | "markRead" | "history" | "report" | "block" | "unblock"
>;

export type PendingMessage = {
  clientId: string;
  content: string;
  /** The seq of the message it replies to. */
  replyTo?: number;
  /** "sending" until acknowledged (then it leaves `pending` for `messages`); "failed" after a refusal. */
  status: "sending" | "failed";
  error: ChatError | null;
  /** Sends it again after a failure, with the same client_id (stored once). */
  retry(): void;
};

export type Typist = { userId: string; name: string };

export type ChatSessionSnapshot = {
  /** Stored messages, oldest first, each once. */
  messages: readonly ChatMessage[];
  pending: readonly PendingMessage[];
  pendingChanges: readonly PendingChange[];
  /** Who is typing now (never this user): expires by itself when not refreshed. */
  typing: readonly Typist[];
  /** user id → online, as last announced. */
  presence: Readonly<Record<string, boolean>>;
  /** user id → the highest seq they have read. */
  readMarks: Readonly<Record<string, number>>;
  /** Older messages exist before the first one shown: `loadOlder()` pages them. */
  hasOlder: boolean;
  loadingOlder: boolean;
  state: ConnectionState;
  /** The last failure worth showing (a refusal for good, a failed history page). */
  error: ChatError | null;
};

export type ChatSessionStoreOptions = {
  createClient: () => SessionClient;
  pageSize?: number;
  /** A typing indicator not refreshed for this long is dropped (the client repeats `true` every ~2 s). */
  typingExpiryMs?: number;
  /** How long after the last subscriber left the connection is closed. */
  stopDelayMs?: number;
};

const INITIAL: ChatSessionSnapshot = {
  messages: [],
  pending: [],
  pendingChanges: [],
  typing: [],
  presence: {},
  readMarks: {},
  hasOlder: false,
  loadingOlder: false,
  state: "closed",
  error: null,
};

export class ChatSessionStore {
  private snapshot = INITIAL;
  private client: SessionClient | null = null;
  private readonly changes = new PendingChanges(
    () => this.snapshot.pendingChanges,
    (pendingChanges) => this.update({ pendingChanges }),
  );
  private readonly typingTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly pageSize: number;
  private readonly typingExpiryMs: number;
  private readonly subscribers: Subscribers;

  constructor(private readonly options: ChatSessionStoreOptions) {
    this.pageSize = options.pageSize ?? 50;
    this.typingExpiryMs = options.typingExpiryMs ?? 6_000;
    this.subscribers = new Subscribers(
      () => this.start(),
      () => this.stop(),
      options.stopDelayMs ?? 0,
    );
  }

  readonly getSnapshot = (): ChatSessionSnapshot => this.snapshot;

  /** For useSyncExternalStore: the first subscriber starts the connection, the last one's leaving stops it. */
  readonly subscribe = (listener: () => void): (() => void) => this.subscribers.subscribe(listener);

  /** Sends a message (a reply with `replyTo`): shown in `pending` until the server stored it, then in `messages`. */
  readonly send = (content: string, options: { replyTo?: number } = {}): void => {
    const clientId = newClientId();
    const retry = () => this.retry(clientId);
    const pending: PendingMessage = { clientId, content, status: "sending", error: null, retry };
    if (options.replyTo !== undefined) pending.replyTo = options.replyTo;
    this.update({ pending: [...this.snapshot.pending, pending] });
    this.deliver(pending);
  };

  /** Sends a failed message again, with the same client_id: stored once whatever happened to the first try. */
  readonly retry = (clientId: string): void => {
    const failed = this.snapshot.pending.find((p) => p.clientId === clientId && p.status === "failed");
    if (!failed) return;
    this.setPending(clientId, { status: "sending", error: null });
    this.deliver(failed);
  };

  /** Forgets a failed message (the user gave up on it). */
  readonly discard = (clientId: string): void => {
    this.update({ pending: this.snapshot.pending.filter((p) => p.clientId !== clientId || p.status !== "failed") });
  };

  /** Edits the user's own message: in `pendingChanges` until stored, then in `messages`. */
  readonly edit = (seq: number, content: string): void => this.changes.add({ kind: "edit", content }, seq, this.client);

  /** Deletes the user's own message for everyone. */
  readonly remove = (seq: number): void => this.changes.add({ kind: "delete" }, seq, this.client);

  /** Adds (`on` true) or takes away the user's reaction. */
  readonly react = (seq: number, emoji: string, on: boolean): void => this.changes.add({ kind: "react", emoji, on }, seq, this.client);

  /** Reports the other participant's message `seq` (null: the whole session); rejects with a ChatError "http". */
  readonly report = (seq: number | null, reason: string, note?: string): Promise<{ report_id: number; duplicate: boolean }> =>
    this.client ? this.client.report(seq, reason, note) : Promise.reject(notStarted());

  /** Blocks a user: their messages, typing and presence stop reaching this user. */
  readonly block = (userId: string): Promise<void> => (this.client ? this.client.block(userId) : Promise.reject(notStarted()));

  readonly unblock = (userId: string): Promise<void> => (this.client ? this.client.unblock(userId) : Promise.reject(notStarted()));

  /** Sends a failed change again (harmless if it was applied after all). */
  readonly retryChange = (id: string): void => this.changes.retry(id, this.client);

  /** Forgets a failed change. */
  readonly discardChange = (id: string): void => this.changes.discard(id);

  readonly setTyping = (isTyping: boolean): void => this.client?.typing(isTyping);

  readonly markRead = (seq: number): void => this.client?.markRead(seq);

  /** The page before the first message shown (infinite scroll upwards); nothing when there is none. */
  readonly loadOlder = async (): Promise<void> => {
    const first = this.snapshot.messages[0];
    if (!this.client || !this.snapshot.hasOlder || this.snapshot.loadingOlder || !first) return;
    this.update({ loadingOlder: true });
    try {
      const page = await this.client.history({ before: first.seq, limit: this.pageSize });
      this.addMessages(page.messages);
      this.update({ hasOlder: page.has_more, loadingOlder: false });
    } catch (err) {
      this.update({ loadingOlder: false, error: err as ChatError });
    }
  };

  private start() {
    const client = this.options.createClient();
    this.client = client;
    // A stopped client's late events change nothing.
    const current =
      <T>(handle: (event: T) => void) =>
      (event: T) => {
        if (this.client === client) handle(event);
      };
    client.on(
      "message",
      current((m) => this.onMessage(m)),
    );
    client.on(
      "change",
      current((m) => {
        const messages = applyChange(this.snapshot.messages, m);
        if (messages !== this.snapshot.messages) this.update({ messages });
      }),
    );
    client.on(
      "typing",
      current((t) => this.onTyping(t)),
    );
    client.on(
      "presence",
      current((p) => this.onPresence(p)),
    );
    client.on(
      "read",
      current((r) => this.onRead(r)),
    );
    client.on(
      "state",
      current((state) => this.onState(state)),
    );
    client.on(
      "error",
      current((error) => this.update({ error })),
    );
    void this.open(client);
  }

  /** The newest page first, then live from exactly where it ends: no gap, no duplicate. */
  private async open(client: SessionClient) {
    let page: HistoryPage | null = null;
    try {
      page = await client.history({ limit: this.pageSize } satisfies HistoryQuery);
    } catch (err) {
      if (this.client === client) this.update({ error: err as ChatError });
    }
    if (this.client !== client) return;
    if (page) {
      this.addMessages(page.messages);
      this.update({ hasOlder: page.has_more });
    }
    const from = page ? { after: page.cursors.after ?? page.last_seq, changesAfter: page.last_change } : {};
    await client.connect(from).catch(() => {}); // failures come as events
  }

  private stop() {
    const client = this.client;
    if (!client) return;
    this.client = null;
    client.close();
    for (const t of this.typingTimers.values()) clearTimeout(t);
    this.typingTimers.clear();
    this.snapshot = INITIAL;
  }

  private deliver({ clientId, content, replyTo }: PendingMessage) {
    const client = this.client;
    if (!client) return this.setPending(clientId, { status: "failed", error: null });
    client.send(content, { clientId, ...(replyTo === undefined ? {} : { replyTo }) }).then(
      (stored) => this.onMessage(stored),
      (error: ChatError) => this.setPending(clientId, { status: "failed", error }),
    );
  }

  private setPending(clientId: string, change: Partial<PendingMessage>) {
    this.update({ pending: this.snapshot.pending.map((p) => (p.clientId === clientId ? { ...p, ...change } : p)) });
  }

  /** The echo of a send leaves `pending` in the same snapshot that adds it to `messages`: never shown twice. */
  private onMessage(m: ChatMessage) {
    if (m.client_id && this.snapshot.pending.some((p) => p.clientId === m.client_id)) {
      this.snapshot = { ...this.snapshot, pending: this.snapshot.pending.filter((p) => p.clientId !== m.client_id) };
    }
    this.addMessages([m]);
    if (this.typingTimers.has(m.sender_id)) this.dropTypist(m.sender_id);
  }

  private addMessages(incoming: readonly ChatMessage[]) {
    const messages = mergeMessages(this.snapshot.messages, incoming);
    if (messages !== this.snapshot.messages) this.update({ messages });
  }

  private onTyping(t: TypingEvent) {
    if (!t.is_typing) return this.dropTypist(t.sender_id);
    const timer = this.typingTimers.get(t.sender_id);
    if (timer) clearTimeout(timer);
    this.typingTimers.set(
      t.sender_id,
      setTimeout(() => this.dropTypist(t.sender_id), this.typingExpiryMs),
    );
    if (!this.snapshot.typing.some((x) => x.userId === t.sender_id)) {
      this.update({ typing: [...this.snapshot.typing, { userId: t.sender_id, name: t.sender_name }] });
    }
  }

  private dropTypist(userId: string) {
    const timer = this.typingTimers.get(userId);
    if (timer) clearTimeout(timer);
    this.typingTimers.delete(userId);
    if (this.snapshot.typing.some((x) => x.userId === userId)) {
      this.update({ typing: this.snapshot.typing.filter((x) => x.userId !== userId) });
    }
  }

  /** Disconnected, nobody is known to be here or typing: the next join announces presence again. */
  private onState(state: ConnectionState) {
    if (state !== "reconnecting") return this.update({ state });
    for (const t of this.typingTimers.values()) clearTimeout(t);
    this.typingTimers.clear();
    this.update({ state, presence: {}, typing: [] });
  }

  private onPresence(p: PresenceEvent) {
    if (!p.online) this.dropTypist(p.user_id);
    if (this.snapshot.presence[p.user_id] === p.online) return;
    this.update({ presence: { ...this.snapshot.presence, [p.user_id]: p.online } });
  }

  private onRead(r: ReadEvent) {
    if ((this.snapshot.readMarks[r.user_id] ?? 0) >= r.seq) return;
    this.update({ readMarks: { ...this.snapshot.readMarks, [r.user_id]: r.seq } });
  }

  private update(change: Partial<ChatSessionSnapshot>) {
    this.snapshot = { ...this.snapshot, ...change };
    this.subscribers.notify();
  }
}
