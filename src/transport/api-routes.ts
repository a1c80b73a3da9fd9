/**
 * The HTTP API beside the WebSocket: message history and unread counts, for participants only,
 * authenticated with `Authorization: Bearer <access JWT>`.
 */
import * as v from "valibot";
import type { Store } from "../chat/ports.ts";
import type { TokenVerifier } from "../auth/tokens.ts";
import { sessionIdPattern } from "./upgrade.ts";
import { tooManyRequests, type RequestLimits } from "./request-limits.ts";

const MESSAGES_PATH = new RegExp(`^/api/sessions/(${sessionIdPattern})/messages/?$`, "i");
const UNREAD_PATH = /^\/api\/sessions\/unread\/?$/;

const seqParam = v.pipe(v.string(), v.regex(/^\d{1,15}$/, "must be a non-negative integer"), v.transform(Number));
const HistoryParams = v.pipe(
  v.object({
    limit: v.optional(v.pipe(v.string(), v.regex(/^\d{1,4}$/, "must be an integer from 1 to 200"), v.transform(Number), v.minValue(1, "must be an integer from 1 to 200"), v.maxValue(200, "must be an integer from 1 to 200")), "50"),
    before: v.optional(seqParam),
    after: v.optional(seqParam),
  }),
  v.check((p) => p.before === undefined || p.after === undefined, "before and after cannot be combined"),
);

const json = (status: number, body: unknown) => Response.json(body, { status, headers: { "cache-control": "no-store" } });

export type ApiDeps = { store: Store; verify: TokenVerifier; requests: RequestLimits; pageMaxBytes: number };

/** Answers an /api/ request, or null when the path is not one of the API's. */
export async function apiRoute(req: Request, url: URL, deps: ApiDeps): Promise<Response | null> {
  const messages = MESSAGES_PATH.exec(url.pathname);
  const isUnread = UNREAD_PATH.test(url.pathname);
  if (!messages && !isUnread) return null;
  if (req.method !== "GET") return json(405, { error: "method not allowed" });
  const userId = await authenticate(req, deps.verify);
  if (!userId) return json(401, { error: "a valid access token is required (Authorization: Bearer <token>)" });
  const wait = deps.requests.api(userId);
  if (wait > 0) return tooManyRequests(wait);
  const answer = await deps.requests.inSlot(userId, () =>
    messages ? history(deps, messages[1]!.toLowerCase(), userId, url) : unread(deps.store, userId),
  );
  return answer ?? tooManyRequests(1, "too many requests in flight for this user, retry later");
}

async function authenticate(req: Request, verify: TokenVerifier): Promise<string | null> {
  const match = /^Bearer\s+(\S+)$/i.exec(req.headers.get("authorization") ?? "");
  if (!match) return null;
  const checked = await verify(match[1]!);
  return checked.ok ? checked.userId : null;
}

async function history({ store, pageMaxBytes }: ApiDeps, sessionId: string, userId: string, url: URL): Promise<Response> {
  const parsed = v.safeParse(HistoryParams, Object.fromEntries(url.searchParams));
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const name = issue.path?.[0]?.key;
    return json(400, { error: name ? `${String(name)} ${issue.message}` : issue.message });
  }
  const { limit, before, after } = parsed.output;
  const page = await store.history(sessionId, userId, { limit, before: before ?? null, after: after ?? null, maxBytes: pageMaxBytes });
  if (!page.ok) {
    if (page.reason === "user_not_found") return json(401, { error: "user not found" });
    if (page.reason === "no_session") return json(404, { error: "session not found" });
    return json(403, { error: "not a participant of this session" });
  }
  const first = page.messages[0]?.seq ?? null;
  const last = page.messages.at(-1)?.seq ?? null;
  // The rows' JSON comes from PostgreSQL as text and goes out as is: no parse and re-serialise.
  // Older page: ?before=<cursors.before>; newer page: ?after=<cursors.after>.
  const body = `{"messages":[${page.messages.map((m) => m.json).join(",")}],"has_more":${page.hasMore},"cursors":${JSON.stringify({ before: first, after: last })},"last_seq":${page.lastSeq}}`;
  return new Response(body, { headers: { "content-type": "application/json;charset=utf-8", "cache-control": "no-store" } });
}

async function unread(store: Store, userId: string): Promise<Response> {
  const rows = await store.unread(userId);
  if (!rows) return json(401, { error: "user not found" });
  return json(200, { sessions: rows });
}
