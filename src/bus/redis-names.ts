/**
 * The names this deployment uses in Redis: its channels and its presence keys, all under one prefix
 * (REDIS_KEY_PREFIX, "chat" by default), so that two deployments can share one Redis. Braces make a
 * Redis Cluster hash tag: one session (or one user's inbox), one slot.
 */
import type { Envelope } from "../chat/ports.ts";

export type Route = { sessionId: string } | { userId: string };

export const DEFAULT_KEY_PREFIX = "chat";

export class RedisNames {
  private readonly session: string;
  private readonly inbox: string;
  private readonly presence: string;

  constructor(prefix = DEFAULT_KEY_PREFIX) {
    this.session = `${prefix}:{`;
    this.inbox = `${prefix}:inbox:{`;
    this.presence = `${prefix}:presence:{`;
  }

  /** A session's channel. */
  channelOf(sessionId: string): string {
    return `${this.session}${sessionId}}`;
  }

  /** A user's inbox channel. */
  inboxChannelOf(userId: string): string {
    return `${this.inbox}${userId}}`;
  }

  /** The channel an envelope travels on: its user's for inbox envelopes, its session's for the rest. */
  channelFor(e: Envelope): string {
    return e.kind === "inbox" ? this.inboxChannelOf(e.userId) : this.channelOf(e.sessionId);
  }

  /** Whose channel it is, or null when it is not one of this deployment's. */
  routeOf(channel: string): Route | null {
    if (!channel.endsWith("}")) return null;
    if (channel.startsWith(this.inbox)) return { userId: channel.slice(this.inbox.length, -1) };
    if (channel.startsWith(this.session)) return { sessionId: channel.slice(this.session.length, -1) };
    return null;
  }

  /** A session's presence keys: who is there, and each user's state. */
  presenceKeys(sessionId: string): [members: string, state: string] {
    return [`${this.presence}${sessionId}}`, `${this.presence}${sessionId}}:state`];
  }
}
