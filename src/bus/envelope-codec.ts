/**
 * The bytes of an envelope on a Redis channel: one header line, then the frame untouched, so the
 * receiver never parses the frame. The channel names the session.
 *   message:  "<origin> m <seq> <sent-at ms>\n<frame>"
 *   direct:   "<origin> d <userId> <sent-at ms>\n<frame>"
 */
import type { Envelope } from "../chat/ports.ts";

const PREFIX = "chat:";

/** Braces make a Redis Cluster hash tag: one session, one slot. */
export const channelOf = (sessionId: string) => `${PREFIX}{${sessionId}}`;

export function sessionOf(channel: string): string | null {
  if (!channel.startsWith(PREFIX + "{") || !channel.endsWith("}")) return null;
  return channel.slice(PREFIX.length + 1, -1);
}

export function encode(origin: string, e: Envelope, sentAt = Date.now()): string {
  return e.kind === "message" ? `${origin} m ${e.seq} ${sentAt}\n${e.frame}` : `${origin} d ${e.toUserId} ${sentAt}\n${e.frame}`;
}

export function decode(sessionId: string, payload: string): { origin: string; envelope: Envelope } | null {
  const nl = payload.indexOf("\n");
  if (nl < 0) return null;
  const [origin, kind, arg, sent] = payload.slice(0, nl).split(" ");
  const frame = payload.slice(nl + 1);
  const sentAt = Number(sent);
  if (!origin || !arg || !Number.isSafeInteger(sentAt)) return null;
  if (kind === "m") {
    const seq = Number(arg);
    return Number.isSafeInteger(seq) ? { origin, envelope: { kind: "message", sessionId, seq, frame, sentAt } } : null;
  }
  if (kind === "d") return { origin, envelope: { kind: "direct", sessionId, toUserId: arg, frame, sentAt } };
  return null;
}
