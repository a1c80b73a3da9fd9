/**
 * What the backend (a moderator, an account deletion) does to the chat through the server API or the
 * operators' CLI: post a system message, remove a message, ban and unban a user, erase a user. Every change to messages is
 * committed first and then delivered as a participant's change would be; a ban reaches the sockets
 * of every instance through the access feed (the ban's NOTIFY), not through this module.
 */
import { contentProblem } from "../protocol/content.ts";
import type { Appended, ChangedMessage, ChangeRules, MessageChanges, MessageLog, ModerationStore } from "./ports.ts";

/** Delivers what the backend did to every instance (ChatService); absent in the CLI, where no socket is open. */
export type DeliverChange = { change(changed: ChangedMessage): void; message(appended: Appended): void };

export type ModerationDeps = {
  store: ModerationStore;
  changes: Pick<MessageChanges, "change" | "changesAfter">;
  messages: Pick<MessageLog, "append">;
  deliver: DeliverChange | null;
  rules: ChangeRules;
};

export type SystemMessageResult = { ok: true; appended: Appended } | { ok: false; reason: "no_session" | "bad_content"; problem?: string };

export type Erasure = { sessions: number; messages: number; changes: number };

/** Who makes a moderator's change, where a user id is expected: no user has the nil UUID. */
const MODERATOR = "00000000-0000-0000-0000-000000000000";

/** An erasure's changes are delivered in pages of this many. */
const DELIVERY_PAGE = 500;

export class Moderation {
  constructor(private readonly deps: ModerationDeps) {}

  /** Erases a message of any sender, shown as removed by a moderator. Null: no such message. */
  async removeMessage(sessionId: string, seq: number): Promise<ChangedMessage | null> {
    const result = await this.deps.changes.change(sessionId, MODERATOR, { kind: "remove", seq }, this.deps.rules);
    if ("refused" in result) return null;
    this.deps.deliver?.change(result);
    return result;
  }

  /**
   * The backend posts into a session ("Sam moved the session to 7 pm"): stored with the next seq like
   * any message (its sender of record the inviter, `kind: "system"`), delivered, resumable, in the
   * inbox. A retry with the same `clientId` is stored once.
   */
  async postSystemMessage(sessionId: string, content: string, clientId: string | null): Promise<SystemMessageResult> {
    const problem = contentProblem(content);
    if (problem) return { ok: false, reason: "bad_content", problem };
    const inviter = await this.deps.store.inviterOf(sessionId);
    if (!inviter) return { ok: false, reason: "no_session" };
    const appended = await this.deps.messages.append({
      id: crypto.randomUUID(),
      sessionId,
      senderId: inviter.userId,
      senderName: inviter.displayName,
      content,
      clientId,
      system: true,
    });
    if (!appended.duplicate) this.deps.deliver?.message(appended);
    return { ok: true, appended };
  }

  /** Closes every socket of the user (on every instance, within the access feed's delay) and refuses new ones until `until`. */
  ban(userId: string, until: Date | null): Promise<boolean> {
    return this.deps.store.ban(userId, until);
  }

  unban(userId: string): Promise<boolean> {
    return this.deps.store.unban(userId);
  }

  /**
   * Account deletion: the user's messages become tombstones and their reactions go, in every session;
   * their subscriptions, tickets, queue rows and read marks are removed; a ban for good closes their
   * sockets. Idempotent. Null: no such user.
   */
  async eraseUser(userId: string): Promise<Erasure | null> {
    const { store, deliver } = this.deps;
    if (!(await store.userExists(userId))) return null;
    await store.ban(userId, null);
    const sessions = await store.eraseUser(userId);
    let changes = 0;
    for (const s of sessions) {
      changes += s.lastChange - s.firstChange + 1;
      if (deliver) await this.deliverRange(s.sessionId, s.firstChange, s.lastChange, deliver.change);
    }
    return { sessions: sessions.length, messages: sessions.reduce((n, s) => n + s.messages, 0), changes };
  }

  /** The changes first..last of a session, read back and delivered in order (later changes are the rooms' to fill in). */
  private async deliverRange(sessionId: string, first: number, last: number, deliver: (c: ChangedMessage) => void) {
    for (let after = first - 1; after < last; ) {
      const page = await this.deps.changes.changesAfter(sessionId, after, DELIVERY_PAGE);
      const inRange = page.filter((c) => c.changeSeq <= last);
      for (const c of inRange) deliver(c);
      if (inRange.length < DELIVERY_PAGE) return;
      after = inRange.at(-1)!.changeSeq;
    }
  }
}
