/**
 * An in-memory Store (the port the chat domain is written against), shared by the in-process
 * instances of a unit test as PostgreSQL is by real ones: seq assigned per session at append, reads,
 * read marks. Enough of the contract for the domain's tests; the real one is tested against PostgreSQL.
 */
import type {
  Appended,
  Authorization,
  ChangedMessage,
  ChangeRefusal,
  ChangeRules,
  HistoryPage,
  InboxRow,
  MessageChange,
  NewMessage,
  Participant,
  Store,
  UnreadRow,
} from "../../src/chat/ports.ts";
import type { MessageView, ReplyView } from "../../src/protocol/frames.ts";
import { REPLY_PREVIEW_CODE_POINTS } from "../../src/protocol/views.ts";
import { holdsAfter } from "../../src/chat/ports.ts";

type Session = { id: string; inviter: string; invitee: string; messages: MessageView[]; reads: Map<string, number>; lastChange: number };

export class MemoryStore implements Store {
  private readonly users = new Map<string, string>();
  private readonly sessions = new Map<string, Session>();

  addUser(userId: string, displayName: string): Participant {
    this.users.set(userId, displayName);
    return { userId, displayName };
  }

  addSession(id: string, inviter: string, invitee: string): void {
    this.sessions.set(id, { id, inviter, invitee, messages: [], reads: new Map(), lastChange: 0 });
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
        lastChange: s.lastChange,
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

  async positionOf(sessionId: string): Promise<{ lastSeq: number; lastChange: number }> {
    const s = this.sessions.get(sessionId);
    return { lastSeq: s?.messages.length ?? 0, lastChange: s?.lastChange ?? 0 };
  }

  async messagesAfter(sessionId: string, afterSeq: number, limit: number): Promise<MessageView[]> {
    return (this.sessions.get(sessionId)?.messages ?? [])
      .filter((m) => m.seq > afterSeq)
      .slice(0, limit)
      .map((m) => structuredClone(m));
  }

  /** The same rules as store/message-changes.ts, on the in-memory rows. */
  async change(
    sessionId: string,
    userId: string,
    c: MessageChange,
    rules: ChangeRules,
  ): Promise<ChangedMessage | { refused: ChangeRefusal }> {
    const s = this.sessions.get(sessionId)!;
    const m = s.messages[c.seq - 1];
    if (!m) return { refused: "not_found" };
    if (c.kind === "remove") {
      Object.assign(m, { content: "", deleted_at: m.deleted_at ?? new Date().toISOString(), removed: true, reactions: [] });
    } else if (m.deleted_at) return { refused: "message_deleted" };
    else if (c.kind === "react") {
      const r = m.reactions?.find((x) => x.emoji === c.emoji);
      const mine = r?.user_ids.includes(userId) ?? false;
      const holds = holdsAfter(c, mine);
      if (holds && !mine && (m.reactions?.length ?? 0) >= rules.maxReactions && !r) return { refused: "too_many_reactions" };
      if (holds !== mine) toggleReaction(m, userId, c.emoji, mine);
    } else {
      if (m.sender_id !== userId) return { refused: "not_sender" };
      if (c.kind === "edit" && Date.now() - Date.parse(m.created_at) > rules.editWindowMs) return { refused: "edit_window_passed" };
      const now = new Date().toISOString();
      if (c.kind === "edit") Object.assign(m, { content: c.content, edited_at: now });
      else Object.assign(m, { content: "", deleted_at: now, reactions: [] });
    }
    m.change_seq = ++s.lastChange;
    return { changeSeq: m.change_seq, message: structuredClone(m) };
  }

  async changesAfter(sessionId: string, afterChange: number, limit: number): Promise<ChangedMessage[]> {
    return (this.sessions.get(sessionId)?.messages ?? [])
      .filter((m) => (m.change_seq ?? 0) > afterChange)
      .sort((a, b) => a.change_seq! - b.change_seq!)
      .slice(0, limit)
      .map((m) => ({ changeSeq: m.change_seq!, message: structuredClone(m) }));
  }

  async replyPreview(sessionId: string, seq: number): Promise<ReplyView | null> {
    const m = this.sessions.get(sessionId)?.messages[seq - 1];
    if (!m) return null;
    const quote: ReplyView = {
      seq,
      sender_id: m.sender_id,
      sender_name: m.sender_name,
      preview: [...m.content].slice(0, REPLY_PREVIEW_CODE_POINTS).join(""),
    };
    if (m.deleted_at) quote.deleted = true;
    return quote;
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
    if (m.replyTo) message.reply_to = m.replyTo;
    s.messages.push(message);
    return message;
  }
}

function toggleReaction(m: MessageView, userId: string, emoji: string, mine: boolean) {
  const reactions = (m.reactions ??= []);
  const r = reactions.find((x) => x.emoji === emoji);
  if (mine) {
    r!.user_ids = r!.user_ids.filter((u) => u !== userId);
    r!.count--;
    if (r!.count === 0) reactions.splice(reactions.indexOf(r!), 1);
  } else if (r) {
    r.user_ids.push(userId);
    r.count++;
  } else reactions.push({ emoji, count: 1, user_ids: [userId] });
}
