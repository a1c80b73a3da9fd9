/**
 * An in-memory Store (the port the chat domain is written against), shared by the in-process
 * instances of a unit test as PostgreSQL is by real ones: seq assigned per session at append, reads,
 * read marks. Enough of the contract for the domain's tests; the real one is tested against PostgreSQL.
 */
import type { Appended, Authorization, HistoryPage, InboxRow, NewMessage, Participant, Store, UnreadRow } from "../../src/chat/ports.ts";
import type { MessageView } from "../../src/protocol/frames.ts";

type Session = { id: string; inviter: string; invitee: string; messages: MessageView[]; reads: Map<string, number> };

export class MemoryStore implements Store {
  private readonly users = new Map<string, string>();
  private readonly sessions = new Map<string, Session>();

  addUser(userId: string, displayName: string): Participant {
    this.users.set(userId, displayName);
    return { userId, displayName };
  }

  addSession(id: string, inviter: string, invitee: string): void {
    this.sessions.set(id, { id, inviter, invitee, messages: [], reads: new Map() });
  }

  /** As if another system inserted a message (no broadcast): what a resync must find. */
  insertBehindTheBack(sessionId: string, senderId: string, content: string): MessageView {
    return this.store({ id: crypto.randomUUID(), sessionId, senderId, senderName: this.users.get(senderId)!, content, clientId: null });
  }

  async authorize(sessionId: string, userId: string): Promise<Authorization> {
    const name = this.users.get(userId);
    if (name === undefined) return { ok: false, reason: "user_not_found" };
    const s = this.sessions.get(sessionId);
    if (!s) return { ok: false, reason: "no_session" };
    if (userId !== s.inviter && userId !== s.invitee) return { ok: false, reason: "not_participant" };
    const participant = (id: string) => ({ userId: id, displayName: this.users.get(id)! });
    return {
      ok: true,
      user: { userId, displayName: name },
      session: {
        sessionId,
        inviter: participant(s.inviter),
        invitee: participant(s.invitee),
        lastSeq: s.messages.length,
        readMarks: { inviter: s.reads.get(s.inviter) ?? 0, invitee: s.reads.get(s.invitee) ?? 0 },
      },
    };
  }

  async append(m: NewMessage): Promise<Appended> {
    const s = this.sessions.get(m.sessionId)!;
    const existing = m.clientId ? s.messages.find((x) => x.client_id === m.clientId && x.sender_id === m.senderId) : undefined;
    if (existing) return { message: existing, duplicate: true };
    return { message: this.store(m), duplicate: false, participants: [s.inviter, s.invitee] };
  }

  /** Appends here answer at once: nothing ever commits after its caller gave up. */
  onLateCommit(): void {}

  async messagesAfter(sessionId: string, afterSeq: number, limit: number): Promise<MessageView[]> {
    return (this.sessions.get(sessionId)?.messages ?? []).filter((m) => m.seq > afterSeq).slice(0, limit);
  }

  async history(): Promise<HistoryPage> {
    throw new Error("MemoryStore: history is tested against PostgreSQL");
  }

  async markRead(sessionId: string, userId: string, seq: number): Promise<number | null> {
    const s = this.sessions.get(sessionId)!;
    const to = Math.min(seq, s.messages.length);
    if (to <= (s.reads.get(userId) ?? 0)) return null;
    s.reads.set(userId, to);
    return to;
  }

  /** Counts are tested against PostgreSQL; here only who is known. */
  async unread(userId: string): Promise<UnreadRow[] | null> {
    return this.users.has(userId) ? [] : null;
  }

  async inbox(userId: string): Promise<InboxRow[] | null> {
    return this.users.has(userId) ? [] : null;
  }

  async userExists(userId: string): Promise<boolean> {
    return this.users.has(userId);
  }

  async ping(): Promise<void> {}
  async close(): Promise<void> {}

  private store(m: NewMessage): MessageView {
    const s = this.sessions.get(m.sessionId)!;
    const message: MessageView = {
      message_id: m.id,
      session_id: m.sessionId,
      seq: s.messages.length + 1,
      content: m.content,
      sender_id: m.senderId,
      sender_name: m.senderName,
      created_at: new Date().toISOString(),
    };
    if (m.clientId) message.client_id = m.clientId;
    s.messages.push(message);
    return message;
  }
}
