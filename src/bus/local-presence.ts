/**
 * Presence of a single instance: who has a socket here is who is online. The chat service calls
 * arrive/depart at a user's first and last local socket, so each call is a change.
 */
import type { Presence, PresenceChange, PresenceState } from "../chat/ports.ts";

export class LocalPresence implements Presence {
  /** Online users per session; offline ones are dropped (absent reads as offline). */
  private readonly sessions = new Map<string, Map<string, PresenceState>>();
  private version = 0;

  async arrive(sessionId: string, userId: string): Promise<PresenceChange> {
    return this.change(sessionId, userId, true);
  }

  async depart(sessionId: string, userId: string): Promise<PresenceChange> {
    return this.change(sessionId, userId, false);
  }

  async states(sessionId: string): Promise<Map<string, PresenceState>> {
    return new Map(this.sessions.get(sessionId));
  }

  onChange(): void {}
  localUsers(): void {}
  async close(): Promise<void> {}

  private change(sessionId: string, userId: string, online: boolean): PresenceChange {
    const state = { online, version: ++this.version };
    const users = this.sessions.get(sessionId) ?? new Map<string, PresenceState>();
    if (online) users.set(userId, state);
    else users.delete(userId);
    if (users.size > 0) this.sessions.set(sessionId, users);
    else this.sessions.delete(sessionId);
    return { sessionId, userId, ...state };
  }
}
