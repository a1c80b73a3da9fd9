/**
 * Presence of a single instance: who has a socket here is who is online. The chat service calls
 * arrive/depart at a user's first and last local socket, so each call is a change.
 */
import type { Presence, PresenceChange, PresenceState } from "../chat/ports.ts";

export class LocalPresence implements Presence {
  /**
   * Online users per session and the version of their arrival, flat: [user, version, user, version]
   * (at most two users: one small array per session, no object per user). Absent reads as offline.
   */
  private readonly sessions = new Map<string, (string | number)[]>();
  private version = 0;

  async arrive(sessionId: string, userId: string): Promise<PresenceChange> {
    return this.change(sessionId, userId, true);
  }

  async depart(sessionId: string, userId: string): Promise<PresenceChange> {
    return this.change(sessionId, userId, false);
  }

  async states(sessionId: string): Promise<Map<string, PresenceState>> {
    const online = this.sessions.get(sessionId) ?? [];
    const states = new Map<string, PresenceState>();
    for (let i = 0; i < online.length; i += 2) states.set(online[i] as string, { online: true, version: online[i + 1] as number });
    return states;
  }

  onChange(): void {}
  localUsers(): void {}
  drain(): void {} // nothing lapses: the entries are this process's own

  async close(): Promise<void> {}

  private change(sessionId: string, userId: string, online: boolean): PresenceChange {
    const version = ++this.version;
    const users = this.sessions.get(sessionId) ?? [];
    const at = users.indexOf(userId);
    if (at >= 0) users.splice(at, 2);
    if (online) users.push(userId, version);
    if (users.length > 0) this.sessions.set(sessionId, users);
    else this.sessions.delete(sessionId);
    return { sessionId, userId, online, version };
  }
}
