/**
 * The bytes of an envelope on a Redis channel: one header line, then the frame untouched, so the
 * receiver never parses the frame. A session's channel names the session:
 *   message:  "<origin> m <seq> <sent-at ms>\n<frame>"
 *   direct:   "<origin> d <userId> <sent-at ms>\n<frame>"
 *   presence: "<origin> p <userId> <sent-at ms>\n<1|0> <version>" (each receiver builds its own frame)
 * A user's inbox channel names the user:
 *   inbox:    "<origin> i <sessionId> <sent-at ms>\n" (each receiver reads the state from the store)
 */
import type { Envelope } from "../chat/ports.ts";

const PREFIX = "chat:";

/** Braces make a Redis Cluster hash tag: one session, one slot. */
export const channelOf = (sessionId: string) => `${PREFIX}{${sessionId}}`;

const INBOX_PREFIX = `${PREFIX}inbox:`;

/** A user's inbox channel: one user, one slot. */
export const inboxChannelOf = (userId: string) => `${INBOX_PREFIX}{${userId}}`;

/** The channel an envelope travels on: its user's for inbox envelopes, its session's for the rest. */
export const channelFor = (e: Envelope) => (e.kind === "inbox" ? inboxChannelOf(e.userId) : channelOf(e.sessionId));

export type Route = { sessionId: string } | { userId: string };

/** Whose channel it is, or null when it is not one of ours. */
export function routeOf(channel: string): Route | null {
  if (!channel.endsWith("}")) return null;
  if (channel.startsWith(INBOX_PREFIX + "{")) return { userId: channel.slice(INBOX_PREFIX.length + 1, -1) };
  if (channel.startsWith(PREFIX + "{")) return { sessionId: channel.slice(PREFIX.length + 1, -1) };
  return null;
}

export function encode(origin: string, e: Envelope, sentAt = Date.now()): string {
  switch (e.kind) {
    case "message":
      return `${origin} m ${e.seq} ${sentAt}\n${e.frame}`;
    case "direct":
      return `${origin} d ${e.toUserId} ${sentAt}\n${e.frame}`;
    case "presence":
      return `${origin} p ${e.userId} ${sentAt}\n${e.online ? 1 : 0} ${e.version}`;
    case "inbox":
      return `${origin} i ${e.sessionId} ${sentAt}\n`;
  }
}

export function decode(route: Route, payload: string): { origin: string; envelope: Envelope } | null {
  const nl = payload.indexOf("\n");
  if (nl < 0) return null;
  const [origin, kind, arg, sent] = payload.slice(0, nl).split(" ");
  const frame = payload.slice(nl + 1);
  const sentAt = Number(sent);
  if (!origin || !arg || !Number.isSafeInteger(sentAt)) return null;
  if ("userId" in route) return kind === "i" ? { origin, envelope: { kind: "inbox", userId: route.userId, sessionId: arg, sentAt } } : null;
  const { sessionId } = route;
  if (kind === "m") {
    const seq = Number(arg);
    return Number.isSafeInteger(seq) ? { origin, envelope: { kind: "message", sessionId, seq, frame, sentAt } } : null;
  }
  if (kind === "d") return { origin, envelope: { kind: "direct", sessionId, toUserId: arg, frame, sentAt } };
  if (kind === "p") {
    const [online, version] = frame.split(" ").map(Number);
    if ((online !== 0 && online !== 1) || !Number.isSafeInteger(version)) return null;
    return { origin, envelope: { kind: "presence", sessionId, userId: arg, online: online === 1, version: version!, sentAt } };
  }
  return null;
}
