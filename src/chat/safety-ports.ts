/**
 * The ports of the chat's safety features (docs/moderation.md): the backend's moderation (bans,
 * erasure, system messages), users' reports and blocks. Implemented by store/ (moderation-store,
 * report-store, block-store); re-exported by ports.ts.
 */
/** What an erasure did in one session: its messages erased, and the change numbers it took (every one a change to deliver). */
export type ErasedSession = { sessionId: string; firstChange: number; lastChange: number; messages: number };

/** The backend's moderation on the store (chat/moderation.ts). */
export interface ModerationStore {
  /** Bans an existing user (until a time, or for good); false when there is no such user. */
  ban(userId: string, until: Date | null): Promise<boolean>;
  /** Lifts a ban; false when there was none. */
  unban(userId: string): Promise<boolean>;
  /** Whether the user exists at all (active or not). */
  userExists(userId: string): Promise<boolean>;
  /** The session's inviter (a system message's sender of record); null when there is no such session. */
  inviterOf(sessionId: string): Promise<{ userId: string; displayName: string } | null>;
  /** Erases the user's messages (tombstones) and reactions in every session, and what the chat keeps of them. Idempotent. */
  eraseUser(userId: string): Promise<ErasedSession[]>;
}

/** Why a participant reports: a fixed list, so that the backend can route them. */
export const REPORT_REASONS = ["spam", "harassment", "hate", "sexual", "violence", "scam", "other"] as const;
export type ReportReason = (typeof REPORT_REASONS)[number];

/** A report of the message `seq` of the session (0: the whole session, that is its other participant). */
export type NewReport = { reporterId: string; sessionId: string; seq: number; reason: ReportReason; note: string | null };

export type FiledReport =
  | { ok: true; reportId: number; duplicate: boolean }
  | { ok: false; reason: "not_participant" | "no_message" | "own_message" | "system_message" };

/** A report as the backend's moderators read it: the message's current content (erased if it was deleted). */
export type ReportView = {
  id: number;
  session_id: string;
  seq: number;
  reporter_id: string | null;
  reported_user_id: string | null;
  reason: string;
  note: string | null;
  state: "open" | "resolved";
  resolution: string | null;
  created_at: string;
  resolved_at: string | null;
  content: string | null;
  deleted: boolean;
};

/** Newest first; `next`: the `before` of the following page, null at the end. */
export type ReportPage = { reports: ReportView[]; next: number | null };

export interface ReportStore {
  file(report: NewReport): Promise<FiledReport>;
  list(state: "open" | "resolved", limit: number, before: number | null): Promise<ReportPage>;
  resolve(id: number, resolution: string | null): Promise<boolean>;
}

/** A block of one user by another. */
export type BlockRow = { user_id: string; display_name: string; created_at: string };

/** Who blocked whom (chat_blocks). */
export interface BlockStore {
  /** "blocked" (also when it already was), "no_user" for an unknown user. */
  block(blockerId: string, blockedId: string): Promise<"blocked" | "no_user">;
  unblock(blockerId: string, blockedId: string): Promise<boolean>;
  /** The users `blockerId` blocked, newest first (at most 1000). */
  list(blockerId: string): Promise<BlockRow[]>;
  /** Of these pairs of users, each user blocked by the other one of its pair. */
  blockedAmong(pairs: readonly (readonly [string, string])[]): Promise<{ blocker: string; blocked: string }[]>;
}
