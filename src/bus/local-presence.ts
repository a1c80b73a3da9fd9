/**
 * Presence of a single instance: who has a socket here is who is online. The chat service calls
 * arrive/depart at a user's first and last local socket, so each call is a change.
 */
import type { Presence, PresenceChange, PresenceState } from "../chat/ports.ts";

export class LocalPresence implements Presence {
  /** Online users per session (at most two: a small array, not a map per session); absent reads as offline. */
  private readonly sessions = new Map<string, { userId: string; version: number }[]>();
  private version = 0;

  async arrive(sessionId: string, userId: string): Promise<PresenceChange> {
    return this.change(sessionId, userId, true);
  }

  async depart(sessionId: string, userId: string): Promise<PresenceChange> {
    return this.change(sessionId, userId, false);
  }

  async states(sessionId: string): Promise<Map<string, PresenceState>> {
    return new Map((this.sessions.get(sessionId) ?? []).map(({ userId, version }) => [userId, { online: true, version }]));
  }

  onChange(): void {}
  localUsers(): void {}
  async close(): Promise<void> {}

  private change(sessionId: string, userId: string, online: boolean): PresenceChange {
    const version = ++this.version;
    const users = (this.sessions.get(sessionId) ?? []).filter((u) => u.userId !== userId);
    if (online) users.push({ userId, version });
    if (users.length > 0) this.sessions.set(sessionId, users);
    else this.sessions.delete(sessionId);
    return { sessionId, userId, online, version };
  }
}
