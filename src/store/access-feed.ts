/**
 * The backend's changes to who may read what, as they commit: the triggers of migration 8 send a
 * NOTIFY on `chat_access` when a session is deleted or gets other participants and when a user is
 * deleted or deactivated. One connection of its own LISTENs (a pooler in transaction mode cannot
 * carry a LISTEN: DATABASE_LISTEN_URL then names a direct, session-mode address). NOTIFY is a live
 * signal, not a queue: after every (re)LISTEN the holder of the sockets resyncs them from a snapshot.
 *
 * PGlite delivers a NOTIFY only to the session that sent it, so on the embedded database the feed
 * resyncs every second instead (nothing else can change it but this process and its tests).
 */
import type { Sql } from "postgres";
import type { AccessChange, AccessSnapshot } from "../chat/ports.ts";
import type { Logger } from "../observability/log.ts";
import { pgArray } from "./pg-array.ts";

export const ACCESS_CHANNEL = "chat_access";

/** A `users u` row with a ban in force (chat_bans, until it expires). */
export const BANNED_USER = "EXISTS (SELECT 1 FROM chat_bans b WHERE b.user_id = u.id AND (b.until IS NULL OR b.until > now()))";

/**
 * A `users u` row that may use the chat: Django's `is_active` where the table has one (to_jsonb reads
 * a column that may not exist), and not banned.
 */
export const ACTIVE_USER = `coalesce((to_jsonb(u) ->> 'is_active')::boolean, true) AND NOT ${BANNED_USER}`;

const POLL_MS = 1000;
const RELISTEN_MAX_MS = 2000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type AccessHandlers = {
  changed(change: AccessChange): void;
  /** Something may have changed unseen (the feed started, or its connection came back). */
  resync(): void;
};

/** "s <session> <inviter> <invitee>", "s <session>" (deleted), "u <user>" or "b <user>" (banned); null for anything else. */
export function parseAccessChange(payload: string): AccessChange | null {
  const [kind, id, inviter, invitee, ...rest] = payload.split(" ");
  if (!id || !UUID.test(id) || rest.length > 0) return null;
  if (kind === "u" && inviter === undefined) return { kind: "user", userId: id };
  if (kind === "b" && inviter === undefined) return { kind: "user", userId: id, banned: true };
  if (kind === "k") return inviter && UUID.test(inviter) && invitee === undefined ? { kind: "block", userIds: [id, inviter] } : null;
  if (kind !== "s") return null;
  if (inviter === undefined) return { kind: "session", sessionId: id, participants: null };
  if (!UUID.test(inviter) || !invitee || !UUID.test(invitee)) return null;
  return { kind: "session", sessionId: id, participants: [inviter, invitee] };
}

/** Connects the LISTEN connection: `onnotify` for its notifications, `onclose` when it is gone. */
export type ListenerFactory = (events: { onnotify(channel: string, payload: string): void; onclose(): void }) => Sql;

export class AccessFeed {
  private timer: Timer | null = null;
  private listener: Sql | null = null;
  private closed = false;
  private listening = false;
  private handlers: AccessHandlers | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly log: Logger,
  ) {}

  /** Starts following; `connectListener` is not used on PGlite. Resolves once the first LISTEN (or poll) is in place; rejects when LISTEN fails. */
  async start(handlers: AccessHandlers, connectListener: ListenerFactory): Promise<"listen" | "poll"> {
    this.handlers = handlers;
    const [row] = await this.sql<{ v: string }[]>`SELECT version() AS v`;
    if (/PGlite|emscripten/i.test(row!.v)) {
      this.timer = setInterval(() => handlers.resync(), POLL_MS);
      return "poll";
    }
    this.listener = connectListener({
      onnotify: (channel, payload) => this.notified(channel, payload),
      onclose: () => void this.listen(),
    });
    try {
      await this.listener.unsafe(`LISTEN ${ACCESS_CHANNEL}`); // a wrong DATABASE_LISTEN_URL stops the start
    } catch (err) {
      await this.close();
      throw err;
    }
    return "listen";
  }

  /** Which of these sessions still exist (with their participants) and which of these users may still sign in. */
  async snapshot(sessionIds: string[], userIds: string[]): Promise<AccessSnapshot> {
    const [sessions, users] = await Promise.all([
      this.sql<{ id: string; inviter_id: string; invitee_id: string }[]>`
        SELECT id, inviter_id, invitee_id FROM sessions WHERE id = ANY(${pgArray(sessionIds)}::uuid[])`,
      this.sql<{ id: string; allowed: boolean; banned: boolean }[]>`
        SELECT u.id, ${this.sql.unsafe(ACTIVE_USER)} AS allowed, ${this.sql.unsafe(BANNED_USER)} AS banned
        FROM users u WHERE u.id = ANY(${pgArray(userIds)}::uuid[])`,
    ]);
    return {
      sessions: new Map(sessions.map((r) => [r.id, [r.inviter_id, r.invitee_id] as const])),
      activeUsers: new Set(users.filter((r) => r.allowed).map((r) => r.id)),
      bannedUsers: new Set(users.filter((r) => r.banned).map((r) => r.id)),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.listener?.end({ timeout: 1 });
  }

  private notified(channel: string, payload: string) {
    if (channel !== ACCESS_CHANNEL) return;
    const change = parseAccessChange(payload);
    if (change) this.handlers?.changed(change);
    else this.log.warn("unreadable access change ignored", { channel });
  }

  /** LISTEN until it succeeds (the connection may be down for a while), then resync: changes made meanwhile were not told. */
  private async listen() {
    if (this.listening) return; // one loop at a time: a failed LISTEN closes the connection and calls again
    this.listening = true;
    try {
      await this.listenUntilDone();
    } finally {
      this.listening = false;
    }
  }

  private async listenUntilDone() {
    for (let attempt = 0; !this.closed && this.listener; attempt++) {
      try {
        await this.listener.unsafe(`LISTEN ${ACCESS_CHANNEL}`);
        if (attempt > 0) this.log.info("access change feed listening again");
        this.handlers?.resync();
        return;
      } catch (err) {
        if (attempt === 0) this.log.warn("access change feed lost its connection; listening again", { err });
        await Bun.sleep(Math.min(100 * 2 ** attempt, RELISTEN_MAX_MS));
      }
    }
  }
}
