/**
 * What the backend (a moderator, an account deletion) does to the chat through the server API or the
 * operators' CLI: remove a message, ban and unban a user, erase a user. Every change to messages is
 * committed first and then delivered as a participant's change would be; a ban reaches the sockets
 * of every instance through the access feed (the ban's NOTIFY), not through this module.
 */
import type { ChangedMessage, ChangeRules, MessageChanges, ModerationStore } from "./ports.ts";

/** Delivers a change to every instance (ChatService.changedByBackend); absent in the CLI, where no socket is open. */
export type DeliverChange = (changed: ChangedMessage) => void;

export type ModerationDeps = {
  store: ModerationStore;
  changes: Pick<MessageChanges, "change" | "changesAfter">;
  deliver: DeliverChange | null;
  rules: ChangeRules;
};

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
    this.deps.deliver?.(result);
    return result;
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
      if (deliver) await this.deliverRange(s.sessionId, s.firstChange, s.lastChange, deliver);
    }
    return { sessions: sessions.length, messages: sessions.reduce((n, s) => n + s.messages, 0), changes };
  }

  /** The changes first..last of a session, read back and delivered in order (later changes are the rooms' to fill in). */
  private async deliverRange(sessionId: string, first: number, last: number, deliver: DeliverChange) {
    for (let after = first - 1; after < last; ) {
      const page = await this.deps.changes.changesAfter(sessionId, after, DELIVERY_PAGE);
      const inRange = page.filter((c) => c.changeSeq <= last);
      for (const c of inRange) deliver(c);
      if (inRange.length < DELIVERY_PAGE) return;
      after = inRange.at(-1)!.changeSeq;
    }
  }
}
