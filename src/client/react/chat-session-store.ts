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
import { Subscribers } from "./subscribers.ts";
import type {
  ChatError,
  ChatMessage,
  ConnectionState,
  HistoryPage,
  HistoryQuery,
  PresenceEvent,
  ReadEvent,
  TypingEvent,
} from "../types.ts";

/** What the store needs of a ChatClient (tests give a fake). */
export type SessionClient = Pick<ChatClient, "on" | "connect" | "close" | "send" | "typing" | "markRead" | "history">;

export type PendingMessage = {
  clientId: string;
  content: string;
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
  private readonly typingTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly seqs = new Set<number>();
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

  /** Sends a message: shown in `pending` until the server stored it, then in `messages`. */
  readonly send = (content: string): void => {
    const clientId = newClientId();
    const retry = () => this.retry(clientId);
    this.update({ pending: [...this.snapshot.pending, { clientId, content, status: "sending", error: null, retry }] });
    this.deliver(clientId, content);
  };

  /** Sends a failed message again, with the same client_id: stored once whatever happened to the first try. */
  readonly retry = (clientId: string): void => {
    const failed = this.snapshot.pending.find((p) => p.clientId === clientId && p.status === "failed");
    if (!failed) return;
    this.setPending(clientId, { status: "sending", error: null });
    this.deliver(clientId, failed.content);
  };

  /** Forgets a failed message (the user gave up on it). */
  readonly discard = (clientId: string): void => {
    this.update({ pending: this.snapshot.pending.filter((p) => p.clientId !== clientId || p.status !== "failed") });
  };

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
    await client.connect(page ? { after: page.cursors.after ?? page.last_seq } : {}).catch(() => {}); // failures come as events
  }

  private stop() {
    const client = this.client;
    if (!client) return;
    this.client = null;
    client.close();
    for (const t of this.typingTimers.values()) clearTimeout(t);
    this.typingTimers.clear();
    this.seqs.clear();
    this.snapshot = INITIAL;
  }

  private deliver(clientId: string, content: string) {
    const client = this.client;
    if (!client) return this.setPending(clientId, { status: "failed", error: null });
    client.send(content, { clientId }).then(
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

  /** Merges messages by seq: each once, in order, whichever way they came (history, live, an ack). */
  private addMessages(incoming: readonly ChatMessage[]) {
    const fresh = incoming.filter((m) => !this.seqs.has(m.seq));
    if (fresh.length === 0) return;
    for (const m of fresh) this.seqs.add(m.seq);
    const messages = [...this.snapshot.messages, ...fresh].sort((a, b) => a.seq - b.seq);
    this.update({ messages });
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
