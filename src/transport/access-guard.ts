/**
 * Open sockets follow the backend's changes to who may read what (store/access-feed.ts tells them
 * as they commit): a socket whose user is deleted or deactivated is closed with 4002, one whose
 * session was deleted or no longer has its user as a participant with 4004. Each is unsubscribed
 * before it is closed, so nothing published after the change reaches it. Changes are rare: each walks
 * this instance's sockets once.
 */
import type { AccessChange, AccessSnapshot } from "../chat/ports.ts";
import type { Logger } from "../observability/log.ts";
import { CloseCode } from "../protocol/codes.ts";
import type { SocketRegistry } from "./socket-registry.ts";
import type { ChatSocket } from "./types.ts";
import type { Admitted } from "./upgrade.ts";

/** How long a change is remembered for sockets admitted before it and opened after it. */
const RECENT_MS = 10_000;

export class AccessGuard {
  /** Changes of the last RECENT_MS, oldest first: a socket's admission read the database before its open. */
  private recent: { at: number; change: AccessChange }[] = [];

  constructor(
    private readonly registry: SocketRegistry,
    private readonly snapshot: (sessionIds: string[], userIds: string[]) => Promise<AccessSnapshot>,
    private readonly log: Logger,
  ) {}

  changed(change: AccessChange): void {
    const now = performance.now();
    this.recent = this.recent.filter((r) => now - r.at < RECENT_MS);
    this.recent.push({ at: now, change });
    this.closeWhere((o) => verdictOnChange(o, change));
  }

  /**
   * For a socket opening now whose admission read the database at `checkedAt`: the close code of a
   * change told since then (its walk over the open sockets came before this one was among them).
   */
  missedSince(o: Admitted, checkedAt: number): CloseCode | null {
    for (const r of this.recent) {
      if (r.at < checkedAt) continue;
      const code = verdictOnChange(o, r.change);
      if (code !== null) return code;
    }
    return null;
  }

  /** Checks every open socket against the database: after the feed missed changes (it was away, or cannot be told). */
  async resync(): Promise<void> {
    const asked = this.registry.list().filter((ws) => ws.data.outcome.ok);
    if (asked.length === 0) return;
    const sessions = new Set<string>();
    const users = new Set<string>();
    for (const ws of asked) {
      const o = ws.data.outcome as Admitted;
      users.add(o.userId);
      if (o.kind === "session") sessions.add(o.session.sessionId);
    }
    let snap: AccessSnapshot;
    try {
      snap = await this.snapshot([...sessions], [...users]);
    } catch (err) {
      this.log.warn("access resync failed; the next one checks again", { err });
      return;
    }
    // Only the sockets asked about: one opened meanwhile was checked when it connected.
    for (const ws of asked) {
      const code = verdictOnSnapshot(ws.data.outcome as Admitted, snap);
      if (code !== null) this.evict(ws, code);
    }
  }

  private closeWhere(verdict: (o: Admitted) => CloseCode | null) {
    for (const ws of this.registry.list()) {
      const o = ws.data.outcome;
      const code = o.ok ? verdict(o) : null;
      if (code !== null) this.evict(ws, code);
    }
  }

  private evict(ws: ChatSocket, code: CloseCode) {
    for (const topic of ws.subscriptions) ws.unsubscribe(topic);
    const o = ws.data.outcome as Admitted;
    this.log.info("socket closed: the backend withdrew its access", {
      conn: ws.data.connId,
      user_id: o.userId,
      ...(o.kind === "session" ? { session_id: o.session.sessionId } : { inbox: true }),
      close_code: code,
    });
    this.registry.close(ws, code);
  }
}

export function verdictOnChange(o: Admitted, change: AccessChange): CloseCode | null {
  if (change.kind === "block") return null; // a block closes nothing: the rooms refuse and hold back (chat/chat-service.ts)
  if (change.kind === "user") {
    if (o.userId !== change.userId) return null;
    return change.banned ? CloseCode.Banned : CloseCode.UserNotFound;
  }
  if (o.kind !== "session" || o.session.sessionId !== change.sessionId) return null;
  return change.participants?.includes(o.userId) ? null : CloseCode.NotParticipant;
}

export function verdictOnSnapshot(o: Admitted, snap: AccessSnapshot): CloseCode | null {
  if (snap.bannedUsers.has(o.userId)) return CloseCode.Banned;
  if (!snap.activeUsers.has(o.userId)) return CloseCode.UserNotFound;
  if (o.kind !== "session") return null;
  return snap.sessions.get(o.session.sessionId)?.includes(o.userId) ? null : CloseCode.NotParticipant;
}
