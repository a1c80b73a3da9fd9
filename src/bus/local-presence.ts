/** Presence of a single instance: who has a socket here is who is online. */
import type { Presence } from "../chat/ports.ts";

export class LocalPresence implements Presence {
  private readonly sessions = new Map<string, Set<string>>();

  async arrive(sessionId: string, userId: string): Promise<boolean> {
    const users = this.sessions.get(sessionId) ?? new Set();
    this.sessions.set(sessionId, users);
    const was = users.has(userId);
    users.add(userId);
    return !was;
  }

  async depart(sessionId: string, userId: string): Promise<boolean> {
    const users = this.sessions.get(sessionId);
    const was = users?.delete(userId) ?? false;
    if (users?.size === 0) this.sessions.delete(sessionId);
    return was;
  }

  async online(sessionId: string): Promise<Set<string>> {
    return new Set(this.sessions.get(sessionId));
  }

  onLapsed(): void {}
  onRevived(): void {}
  async close(): Promise<void> {}
}
