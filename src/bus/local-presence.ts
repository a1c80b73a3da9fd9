/**
 * Presence of a single instance: who has a socket here is who is online. The chat service calls
 * arrive/depart on a user's first and last local socket, so there is nothing to count here.
 */
import type { Presence } from "../chat/ports.ts";

export class LocalPresence implements Presence {
  constructor(private readonly usersHere: (sessionId: string) => string[]) {}

  async arrive(): Promise<boolean> {
    return true;
  }

  async depart(): Promise<boolean> {
    return true;
  }

  async online(sessionId: string): Promise<Set<string>> {
    return new Set(this.usersHere(sessionId));
  }

  onLapsed(): void {}
  onRevived(): void {}
  async close(): Promise<void> {}
}
