/** The React hooks' state (ChatSessionStore, InboxStore) over fake clients: merging, pending sends, typing, StrictMode lifecycles. */
import { messageView } from "../support/message-views.ts";
import { describe, expect, test } from "bun:test";
import { ChatSessionStore, type SessionClient } from "../../src/client/react/chat-session-store.ts";
import { InboxStore, type InboxSource } from "../../src/client/react/inbox-store.ts";
import { Emitter } from "../../src/client/emitter.ts";
import { ChatError, type ChatMessage, type HistoryPage, type InboxEntry } from "../../src/client/types.ts";
import type { ChatEvents } from "../../src/client/chat-client.ts";
import type { InboxEvents } from "../../src/client/inbox-client.ts";

const msg = messageView;

/** A ChatClient stand-in: history pages and send answers are given by the test; events are emitted by hand. */
class FakeClient extends Emitter<ChatEvents> implements SessionClient {
  closed = false;
  connectedAfter: number | undefined = undefined;
  connectedChangesAfter: number | undefined = undefined;
  changes: { change: Record<string, unknown>; answer: (e?: ChatError) => void }[] = [];
  sends: { content: string; clientId: string; answer: (m: ChatMessage | ChatError) => void }[] = [];
  pages: HistoryPage[] = [];
  typed: boolean[] = [];
  read: number[] = [];
  fire<K extends keyof ChatEvents>(type: K, payload: ChatEvents[K]) {
    this.emit(type, payload);
  }
  async history(): Promise<HistoryPage> {
    return this.pages.shift() ?? { messages: [], has_more: false, cursors: { before: null, after: null }, last_seq: 0, last_change: 0 };
  }
  async connect(options: { after?: number; changesAfter?: number } = {}) {
    this.connectedAfter = options.after;
    this.connectedChangesAfter = options.changesAfter;
  }
  edit(seq: number, content: string): Promise<void> {
    return this.changed({ kind: "edit", seq, content });
  }
  remove(seq: number): Promise<void> {
    return this.changed({ kind: "delete", seq });
  }
  react(seq: number, emoji: string, on = true): Promise<void> {
    return this.changed({ kind: "react", seq, emoji, on });
  }
  async report(): Promise<{ report_id: number; duplicate: boolean }> {
    return { report_id: 1, duplicate: false };
  }
  async block(userId: string): Promise<void> {
    this.blockedUsers.push(userId);
  }
  async unblock(): Promise<void> {}
  blockedUsers: string[] = [];
  private changed(change: Record<string, unknown>): Promise<void> {
    return new Promise((resolve, reject) => this.changes.push({ change, answer: (e) => (e ? reject(e) : resolve()) }));
  }
  close() {
    this.closed = true;
  }
  send(content: string, options: { clientId?: string } = {}): Promise<ChatMessage> {
    return new Promise((resolve, reject) =>
      this.sends.push({ content, clientId: options.clientId!, answer: (m) => (m instanceof ChatError ? reject(m) : resolve(m)) }),
    );
  }
  typing(isTyping: boolean) {
    this.typed.push(isTyping);
  }
  markRead(seq: number) {
    this.read.push(seq);
  }
}

const page = (seqs: number[], hasMore: boolean): HistoryPage => ({
  messages: seqs.map((s) => msg(s)),
  has_more: hasMore,
  cursors: { before: seqs[0] ?? null, after: seqs.at(-1) ?? null },
  last_seq: seqs.at(-1) ?? 0,
  last_change: 0,
});

function storeWith(...pages: HistoryPage[]) {
  const clients: FakeClient[] = [];
  const store = new ChatSessionStore({
    createClient: () => {
      const c = new FakeClient();
      c.pages.push(...pages);
      clients.push(c);
      return c;
    },
    pageSize: 3,
    typingExpiryMs: 30,
  });
  return { store, clients };
}

const tick = (ms = 0) => Bun.sleep(ms);

describe("ChatSessionStore", () => {
  test("history then live from where it ends; each message once, in seq order, whichever way it came", async () => {
    const { store, clients } = storeWith(page([4, 5, 6], true), page([1, 2, 3], false));
    const unsubscribe = store.subscribe(() => {});
    await tick();
    const c = clients[0]!;
    expect(c.connectedAfter).toBe(6);
    expect(store.getSnapshot().hasOlder).toBe(true);
    c.fire("message", msg(7));
    c.fire("message", msg(6)); // a replay overlapping the page
    await store.loadOlder();
    expect(store.getSnapshot().messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(store.getSnapshot().hasOlder).toBe(false);
    await store.loadOlder(); // nothing more: no request
    expect(c.pages).toEqual([]);
    unsubscribe();
  });

  test("a send is pending until stored, then a message, never both in one snapshot; a refusal can be retried with the same client_id", async () => {
    const { store, clients } = storeWith();
    const snapshots: ReturnType<typeof store.getSnapshot>[] = [];
    const unsubscribe = store.subscribe(() => snapshots.push(store.getSnapshot()));
    await tick();
    const c = clients[0]!;
    store.send("hello");
    const [first] = c.sends;
    expect(store.getSnapshot().pending).toMatchObject([{ clientId: first!.clientId, content: "hello", status: "sending", error: null }]);
    c.fire("message", msg(1, { content: "hello", client_id: first!.clientId, sender_id: "me" })); // the echo
    first!.answer(msg(1, { content: "hello", client_id: first!.clientId, sender_id: "me" }));
    await tick();
    expect(store.getSnapshot().pending).toEqual([]);
    expect(store.getSnapshot().messages.map((m) => m.content)).toEqual(["hello"]);
    for (const s of snapshots) expect(s.pending.length + s.messages.filter((m) => m.content === "hello").length).toBeLessThanOrEqual(1);

    store.send("refused once");
    const second = c.sends[1]!;
    second.answer(new ChatError("unavailable", "database unavailable"));
    await tick();
    expect(store.getSnapshot().pending[0]).toMatchObject({ status: "failed", error: { code: "unavailable" } });
    store.getSnapshot().pending[0]!.retry();
    expect(c.sends[2]!.clientId).toBe(second.clientId);
    expect(store.getSnapshot().pending[0]!.status).toBe("sending");
    c.sends[2]!.answer(msg(2, { content: "refused once", client_id: second.clientId }));
    await tick();
    expect(store.getSnapshot().pending).toEqual([]);
    unsubscribe();
  });

  test("typing expires by itself, ends with the typist's message or departure; presence and read marks follow their events", async () => {
    const { store, clients } = storeWith();
    const unsubscribe = store.subscribe(() => {});
    await tick();
    const c = clients[0]!;
    c.fire("typing", { sender_id: "sam", sender_name: "Sam", is_typing: true });
    expect(store.getSnapshot().typing).toEqual([{ userId: "sam", name: "Sam" }]);
    await tick(50);
    expect(store.getSnapshot().typing).toEqual([]);
    c.fire("typing", { sender_id: "sam", sender_name: "Sam", is_typing: true });
    c.fire("message", msg(1));
    expect(store.getSnapshot().typing).toEqual([]);
    c.fire("typing", { sender_id: "sam", sender_name: "Sam", is_typing: true });
    c.fire("presence", { user_id: "sam", display_name: "Sam", online: false });
    expect(store.getSnapshot()).toMatchObject({ typing: [], presence: { sam: false } });
    c.fire("read", { user_id: "sam", seq: 3 });
    c.fire("read", { user_id: "sam", seq: 2 }); // never back
    expect(store.getSnapshot().readMarks).toEqual({ sam: 3 });
    c.fire("presence", { user_id: "sam", display_name: "Sam", online: true });
    c.fire("typing", { sender_id: "sam", sender_name: "Sam", is_typing: true });
    c.fire("state", "reconnecting"); // disconnected: nobody is known to be here any more
    expect(store.getSnapshot()).toMatchObject({ state: "reconnecting", presence: {}, typing: [] });
    store.setTyping(true);
    store.markRead(1);
    expect([c.typed, c.read]).toEqual([[true], [1]]);
    unsubscribe();
  });

  test("StrictMode: subscribe, unsubscribe, subscribe again at once keeps one client; the last unsubscribe closes it", async () => {
    const { store, clients } = storeWith();
    const first = store.subscribe(() => {});
    first();
    const second = store.subscribe(() => {});
    await tick(5);
    expect(clients).toHaveLength(1);
    expect(clients[0]!.closed).toBe(false);
    second();
    await tick(5);
    expect(clients[0]!.closed).toBe(true);
    expect(store.getSnapshot().messages).toEqual([]);
    // Mounted again later: a new connection.
    const third = store.subscribe(() => {});
    await tick();
    expect(clients).toHaveLength(2);
    third();
  });
});

describe("InboxStore", () => {
  class FakeInbox extends Emitter<InboxEvents> implements InboxSource {
    connected = 0;
    closed = false;
    fire<K extends keyof InboxEvents>(type: K, payload: InboxEvents[K]) {
      this.emit(type, payload);
    }
    connect() {
      this.connected++;
    }
    close() {
      this.closed = true;
    }
  }
  const entry = (id: string, unread: number) =>
    ({
      session_id: id,
      last_seq: unread,
      last_read_seq: 0,
      unread,
      last_message: null,
      other: { user_id: "o", display_name: "O", online: false },
    }) satisfies InboxEntry;

  test("sessions and the total unread follow the client; one client across a StrictMode remount", async () => {
    const made: FakeInbox[] = [];
    const store = new InboxStore(() => {
      const c = new FakeInbox();
      made.push(c);
      return c;
    });
    store.subscribe(() => {})();
    const unsubscribe = store.subscribe(() => {});
    await tick(5);
    expect(made).toHaveLength(1);
    made[0]!.fire("change", [entry("a", 2), entry("b", 3)]);
    expect(store.getSnapshot()).toMatchObject({ totalUnread: 5, sessions: [{ session_id: "a" }, { session_id: "b" }] });
    made[0]!.fire("state", "open");
    expect(store.getSnapshot().state).toBe("open");
    unsubscribe();
    await tick(5);
    expect(made[0]!.closed).toBe(true);
  });
});

describe("ChatSessionStore: edits, deletions, reactions, replies", () => {
  test("an edit is pending as 'sending' while the client sends it, and leaves pendingChanges once stored", async () => {
    const { store, clients } = storeWith(page([1, 2, 3], false));
    const unsubscribe = store.subscribe(() => {});
    await tick();
    const c = clients[0]!;
    store.edit(2, "edited");
    expect(c.changes.map((x) => x.change)).toEqual([{ kind: "edit", seq: 2, content: "edited" }]);
    const [pending] = store.getSnapshot().pendingChanges;
    expect(pending).toMatchObject({ kind: "edit", seq: 2, content: "edited", status: "sending", error: null });
    expect(typeof pending!.id).toBe("string");
    store.remove(3);
    store.react(1, "👍", false);
    expect(c.changes.map((x) => x.change).slice(1)).toEqual([
      { kind: "delete", seq: 3 },
      { kind: "react", seq: 1, emoji: "👍", on: false },
    ]);
    expect(store.getSnapshot().pendingChanges.map((p) => [p.kind, p.seq, p.status])).toEqual([
      ["edit", 2, "sending"],
      ["delete", 3, "sending"],
      ["react", 1, "sending"],
    ]);
    // The stored edit comes as a change event, then the answer: the message shows it, the pending edit goes.
    c.fire("change", msg(2, { content: "edited", change_seq: 1 }));
    c.changes[0]!.answer();
    await tick();
    expect(store.getSnapshot().pendingChanges.map((p) => p.kind)).toEqual(["delete", "react"]);
    expect(store.getSnapshot().messages[1]!.content).toBe("edited");
    unsubscribe();
  });

  test("a refused change is 'failed' with the error; retryChange sends it again, discardChange forgets only failed ones", async () => {
    const { store, clients } = storeWith(page([1, 2], false));
    const unsubscribe = store.subscribe(() => {});
    await tick();
    const c = clients[0]!;
    store.edit(1, "too late");
    store.react(2, "🔥", true);
    const [edit, reaction] = store.getSnapshot().pendingChanges;
    c.changes[0]!.answer(new ChatError("edit_window_passed", "the edit window has passed", { seq: 1 }));
    await tick();
    expect(store.getSnapshot().pendingChanges).toMatchObject([
      { id: edit!.id, status: "failed", error: { code: "edit_window_passed" } },
      { id: reaction!.id, status: "sending", error: null },
    ]);

    store.retryChange(reaction!.id); // not failed: nothing sent again
    store.retryChange("unknown");
    expect(c.changes).toHaveLength(2);

    store.retryChange(edit!.id);
    expect(c.changes).toHaveLength(3);
    expect(c.changes[2]!.change).toEqual({ kind: "edit", seq: 1, content: "too late" });
    expect(store.getSnapshot().pendingChanges[0]).toMatchObject({ id: edit!.id, status: "sending", error: null });
    c.changes[2]!.answer(new ChatError("edit_window_passed", "the edit window has passed", { seq: 1 }));
    await tick();
    expect(store.getSnapshot().pendingChanges[0]).toMatchObject({ id: edit!.id, status: "failed" });

    store.discardChange(reaction!.id); // still sending: kept
    expect(store.getSnapshot().pendingChanges.map((p) => p.id)).toEqual([edit!.id, reaction!.id]);
    store.discardChange(edit!.id);
    expect(store.getSnapshot().pendingChanges.map((p) => p.id)).toEqual([reaction!.id]);
    unsubscribe();
  });

  test("a change event replaces the message in messages when newer, and updates the quotes of replies to it", async () => {
    const original = msg(1, { content: "original" });
    const reply = msg(2, { reply_to: { seq: 1, sender_id: "sam", sender_name: "Sam", preview: "original" } });
    const history: HistoryPage = {
      messages: [original, reply, msg(3)],
      has_more: false,
      cursors: { before: 1, after: 3 },
      last_seq: 3,
      last_change: 0,
    };
    const { store, clients } = storeWith(history);
    const unsubscribe = store.subscribe(() => {});
    await tick();
    const c = clients[0]!;
    c.fire("change", msg(1, { content: "changed", change_seq: 5 }));
    expect(store.getSnapshot().messages.map((m) => m.content)).toEqual(["changed", "m2", "m3"]);
    expect(store.getSnapshot().messages[1]!.reply_to!.preview).toBe("changed");
    c.fire("change", msg(1, { content: "stale", change_seq: 4 }));
    expect(store.getSnapshot().messages[0]!.content).toBe("changed");
    c.fire("change", msg(1, { content: "", deleted_at: "2026-12-02T00:05:00.000000Z", change_seq: 6 }));
    expect(store.getSnapshot().messages[1]!.reply_to).toMatchObject({ preview: "", deleted: true });
    unsubscribe();
  });

  test("connect resumes changes after the first history page's last_change", async () => {
    const { store, clients } = storeWith({ ...page([4, 5], true), last_change: 42 });
    const unsubscribe = store.subscribe(() => {});
    await tick();
    expect(clients[0]!.connectedAfter).toBe(5);
    expect(clients[0]!.connectedChangesAfter).toBe(42);
    unsubscribe();
  });

  test("send with replyTo passes replyTo to the client, and again on a retry", async () => {
    const { store, clients } = storeWith(page([1, 2], false));
    const unsubscribe = store.subscribe(() => {});
    await tick();
    const c = clients[0]!;
    const options: unknown[] = [];
    const send = c.send.bind(c);
    c.send = (content, opts = {}) => {
      options.push(opts);
      return send(content, opts);
    };
    store.send("me too", { replyTo: 2 });
    store.send("not a reply");
    expect(options).toEqual([{ clientId: c.sends[0]!.clientId, replyTo: 2 }, { clientId: c.sends[1]!.clientId }]);
    expect(store.getSnapshot().pending[0]).toMatchObject({ content: "me too", replyTo: 2, status: "sending" });
    expect(store.getSnapshot().pending[1]!.replyTo).toBeUndefined();
    c.sends[0]!.answer(new ChatError("unavailable", "database unavailable"));
    await tick();
    store.retry(c.sends[0]!.clientId);
    expect(options[2]).toEqual({ clientId: c.sends[0]!.clientId, replyTo: 2 });
    unsubscribe();
  });
});
