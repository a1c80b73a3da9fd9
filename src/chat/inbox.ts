/**
 * A user's inbox: their sessions, most recent activity first, each with its unread count, its newest
 * message (cut to a preview) and the other participant, with whether they are online in it.
 */
import type { ChatQueries, InboxQuery, InboxRow, Presence } from "./ports.ts";
import type { InboxView } from "../protocol/frames.ts";

export type InboxEntry = InboxView;
export type InboxPage = { entries: InboxEntry[]; hasMore: boolean; next: InboxRow["cursor"] | null };

/** The cursor as clients carry it: "<activity µs>.<session id>". */
export const cursorText = (c: InboxRow["cursor"]) => `${c.activity}.${c.sessionId}`;

/** Null when the user does not exist. Presence that cannot be read counts as offline. */
export async function readInbox(
  store: Pick<ChatQueries, "inbox">,
  presence: Presence,
  userId: string,
  query: InboxQuery,
): Promise<InboxPage | null> {
  const rows = await store.inbox(userId, query);
  if (!rows) return null;
  const hasMore = rows.length > query.limit;
  const page = rows.slice(0, query.limit);
  const states = await Promise.all(page.map((r) => presence.states(r.session_id).catch(() => null)));
  const entries = page.map(({ cursor: _, other, ...row }, i) => ({
    ...row,
    other: { ...other, online: states[i]?.get(other.user_id)?.online ?? false },
  }));
  return { entries, hasMore, next: hasMore ? page.at(-1)!.cursor : null };
}
