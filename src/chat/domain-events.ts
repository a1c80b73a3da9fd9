/**
 * What happened in the domain, told to the modules that follow it (the inbox feed today): the next
 * feature is a new listener, not new branches in the modules that decide. Listeners are registered
 * once, when the modules are built, and called synchronously in the order they were registered.
 */
import type { PresenceChange, SessionInfo } from "./ports.ts";

export type DomainEventMap = {
  /** This instance stored a message of the session (its own commit, or one that committed late). */
  messageStored: [session: SessionInfo];
  /** A message of the session was edited, deleted or reacted to (committed on this instance). */
  messageChanged: [session: SessionInfo];
  /** A participant's read mark moved. */
  readMoved: [session: SessionInfo, userId: string];
  /** This instance decided a presence change (an arrival, a departure, a lapse). */
  presenceChanged: [change: PresenceChange, session: SessionInfo];
};

type Listener<K extends keyof DomainEventMap> = (...args: DomainEventMap[K]) => void;

export class DomainEvents {
  private readonly listeners = new Map<keyof DomainEventMap, Listener<never>[]>();

  on<K extends keyof DomainEventMap>(name: K, listener: Listener<K>): void {
    const list = this.listeners.get(name) ?? [];
    list.push(listener as Listener<never>);
    this.listeners.set(name, list);
  }

  emit<K extends keyof DomainEventMap>(name: K, ...args: DomainEventMap[K]): void {
    for (const listener of this.listeners.get(name) ?? []) (listener as Listener<K>)(...args);
  }
}
