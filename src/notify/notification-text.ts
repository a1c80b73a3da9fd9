/**
 * What a notification says and how big it may be: the title is the sender, the body the first message
 * not yet notified, cut on a code-point boundary, with how many more there are ("(+2 more)").
 */
import type { NotificationEvent, Unnotified } from "./model.ts";

export const TITLE_CODE_POINTS = 80;
export const BODY_CODE_POINTS = 120;

/** Cuts to `max` code points (never inside a surrogate pair), with an ellipsis when cut. */
export function cut(text: string, max: number): string {
  const points = Array.from(text);
  return points.length <= max ? text : `${points.slice(0, max - 1).join("")}…`;
}

export function composeEvent(
  unnotified: Unnotified,
  to: { userId: string; sessionId: string },
  id: string = crypto.randomUUID(),
  now: Date = new Date(),
): NotificationEvent | null {
  if (unnotified.count === 0 || !unnotified.first) return null;
  const more = unnotified.count > 1 ? ` (+${unnotified.count - 1} more)` : "";
  return {
    id,
    type: "message",
    user_id: to.userId,
    session_id: to.sessionId,
    seq: unnotified.newestSeq,
    title: cut(unnotified.first.senderName, TITLE_CODE_POINTS),
    body: cut(unnotified.first.content.replace(/\s+/g, " ").trim(), BODY_CODE_POINTS) + more,
    count: unnotified.count,
    created_at: now.toISOString(),
  };
}

/**
 * The Web Push payload: what the page's service worker shows. Well under the 4 KB every push service
 * accepts (at most ~900 bytes of JSON with the cuts above).
 */
export function pushPayload(e: NotificationEvent): string {
  return JSON.stringify({ type: e.type, id: e.id, session_id: e.session_id, seq: e.seq, title: e.title, body: e.body });
}
