/** The HTTP API's application layer: every use case checks who asks before it reads or issues anything. */
import { describe, expect, test } from "bun:test";
import { ChatApi } from "../../src/chat/chat-api.ts";
import { INBOX_TICKET_SCOPE, type BlockStore, type ReportStore, type Ticket, type TicketBook } from "../../src/chat/ports.ts";
import { LocalPresence } from "../../src/bus/local-presence.ts";
import { MemoryStore } from "../support/memory-store.ts";

class RecordingTickets implements TicketBook {
  readonly issued: Ticket[] = [];
  async issue(grant: Ticket) {
    this.issued.push(grant);
    return { ticket: `t${this.issued.length}`, expiresAt: Math.min(grant.tokenExpiresAt, 30_000) };
  }
  async redeem(): Promise<Ticket | null> {
    return null;
  }
}

function setUp() {
  const store = new MemoryStore();
  store.addUser("alex", "Alex");
  store.addUser("sam", "Sam");
  store.addUser("kim", "Kim");
  store.addSession("s1", "alex", "sam");
  const tickets = new RecordingTickets();
  const reports: ReportStore = {
    file: async () => ({ ok: true, reportId: 1, duplicate: false }),
    list: async () => ({ reports: [], next: null }),
    resolve: async () => true,
  };
  const blocks: BlockStore = {
    block: async () => "blocked",
    unblock: async () => true,
    list: async () => [],
    blockedAmong: async () => [],
  };
  const api = new ChatApi({
    directory: store,
    queries: store,
    tickets,
    presence: new LocalPresence(),
    reports,
    blocks,
    onBlockChanged: async () => {},
  });
  return { api, tickets };
}

describe("ChatApi", () => {
  test("a ticket is issued to a participant only, scoped to the session, never outliving the token", async () => {
    const { api, tickets } = setUp();
    expect(await api.ticket({ userId: "alex", expiresAt: 20_000 }, { sessionId: "s1" })).toEqual({
      ok: true,
      ticket: "t1",
      expiresAt: 20_000,
    });
    expect(tickets.issued).toEqual([{ userId: "alex", sessionId: "s1", tokenExpiresAt: 20_000 }]);
    expect(await api.ticket({ userId: "kim", expiresAt: 20_000 }, { sessionId: "s1" })).toEqual({ ok: false, reason: "not_participant" });
    expect(await api.ticket({ userId: "alex", expiresAt: 20_000 }, { sessionId: "s2" })).toEqual({ ok: false, reason: "no_session" });
    expect(await api.ticket({ userId: "ghost", expiresAt: 20_000 }, { sessionId: "s1" })).toEqual({ ok: false, reason: "user_not_found" });
    expect(tickets.issued).toHaveLength(1);
  });

  test("an inbox ticket needs a user that exists, and carries the inbox scope", async () => {
    const { api, tickets } = setUp();
    expect(await api.ticket({ userId: "ghost", expiresAt: 1 }, { inbox: true })).toEqual({ ok: false, reason: "user_not_found" });
    expect((await api.ticket({ userId: "kim", expiresAt: 1 }, { inbox: true })).ok).toBe(true);
    expect(tickets.issued.map((t) => t.sessionId)).toEqual([INBOX_TICKET_SCOPE]);
  });

  test("unread and inbox: a user the store does not know is denied, not shown an empty list", async () => {
    const { api } = setUp();
    expect(await api.unread({ userId: "alex", expiresAt: 1 })).toEqual({ ok: true, sessions: [] });
    expect(await api.inbox({ userId: "alex", expiresAt: 1 }, { limit: 10, before: null })).toEqual({
      ok: true,
      page: { entries: [], hasMore: false, next: null },
    });
    expect(await api.unread({ userId: "ghost", expiresAt: 1 })).toEqual({ ok: false, reason: "user_not_found" });
    expect(await api.inbox({ userId: "ghost", expiresAt: 1 }, { limit: 10, before: null })).toEqual({
      ok: false,
      reason: "user_not_found",
    });
  });
});
