/**
 * The user's inbox for a UI, over an InboxClient: sessions with unread counts, live. Framework-free
 * and immutable like ChatSessionStore, and started and stopped the same way (one socket whatever
 * React's StrictMode does).
 */
import type { InboxClient } from "../inbox-client.ts";
import type { ChatError, ConnectionState, InboxEntry } from "../types.ts";
import { Subscribers } from "./subscribers.ts";

export type InboxSource = Pick<InboxClient, "on" | "connect" | "close">;

export type InboxSnapshot = {
  /** Most recent activity first. */
  sessions: readonly InboxEntry[];
  totalUnread: number;
  state: ConnectionState;
  error: ChatError | null;
};

const INITIAL: InboxSnapshot = { sessions: [], totalUnread: 0, state: "closed", error: null };

export class InboxStore {
  private snapshot = INITIAL;
  private client: InboxSource | null = null;
  private readonly subscribers = new Subscribers(
    () => this.start(),
    () => this.stop(),
  );

  constructor(private readonly createClient: () => InboxSource) {}

  readonly getSnapshot = (): InboxSnapshot => this.snapshot;

  /** For useSyncExternalStore: the first subscriber starts the inbox socket, the last one's leaving stops it. */
  readonly subscribe = (listener: () => void): (() => void) => this.subscribers.subscribe(listener);

  private start() {
    const client = this.createClient();
    this.client = client;
    client.on("change", (sessions) => {
      if (this.client !== client) return;
      this.update({ sessions, totalUnread: sessions.reduce((n, s) => n + s.unread, 0) });
    });
    client.on("state", (state) => this.client === client && this.update({ state }));
    client.on("error", (error) => this.client === client && this.update({ error }));
    client.connect();
  }

  private stop() {
    if (!this.client) return;
    this.client.close();
    this.client = null;
    this.snapshot = INITIAL;
  }

  private update(change: Partial<InboxSnapshot>) {
    this.snapshot = { ...this.snapshot, ...change };
    this.subscribers.notify();
  }
}
