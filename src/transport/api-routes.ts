/**
 * The HTTP API beside the WebSocket: message history, unread counts and connect tickets, for
 * participants only, authenticated with `Authorization: Bearer <access JWT>`.
 */
import * as v from "valibot";
import type { DeniedReason } from "../chat/ports.ts";
import { cursorText } from "../chat/inbox.ts";
import type { Caller, ChatApi } from "../chat/chat-api.ts";
import type { TokenVerifier } from "../auth/tokens.ts";
import { sessionIdPattern } from "./upgrade.ts";
import { tooManyRequests, type RequestLimits } from "./request-limits.ts";
import { json, jsonBody, queryParams } from "./json-response.ts";
import { chain, type Middleware } from "./middleware.ts";
import type { Logger } from "../observability/log.ts";
import { REPORTS_PATH, fileReport } from "./report-routes.ts";
import { BLOCKS_PATH, BLOCK_PATH, block, blocks, unblock } from "./block-routes.ts";
import { PUSH_KEY_PATH, PUSH_SUBSCRIPTIONS_PATH, subscribe, unsubscribe, vapidPublicKey, type PushApi } from "./push-routes.ts";

const MESSAGES_PATH = new RegExp(`^/api/sessions/(${sessionIdPattern})/messages/?$`, "i");
const UNREAD_PATH = /^\/api\/sessions\/unread\/?$/;
const TICKET_PATH = /^\/api\/ws-ticket\/?$/;
const INBOX_PATH = /^\/api\/inbox\/?$/;
/** The inbox cursor: "<activity µs>.<session uuid>", from `next` of the previous page. */
const INBOX_CURSOR = new RegExp(`^(\\d{1,17})\\.(${sessionIdPattern})$`, "i");
/** `limit` of a page (history, inbox): 1 to 200, 50 by default. */
const pageLimit = v.optional(
  v.pipe(
    v.string(),
    v.regex(/^\d{1,4}$/, "must be an integer from 1 to 200"),
    v.transform(Number),
    v.minValue(1, "must be an integer from 1 to 200"),
    v.maxValue(200, "must be an integer from 1 to 200"),
  ),
  "50",
);
const InboxParams = v.object({
  limit: pageLimit,
  before: v.optional(v.pipe(v.string(), v.regex(INBOX_CURSOR, "must be the `next` cursor of a previous page"))),
});
const TicketRequest = v.union(
  [
    v.object({
      session_id: v.pipe(v.string(), v.regex(new RegExp(`^${sessionIdPattern}$`, "i"))),
    }),
    v.object({ inbox: v.literal(true) }),
  ],
  'must be {"session_id":"<session uuid>"} or {"inbox":true}',
);
/** A ticket request is a few dozen bytes. */
const MAX_TICKET_BODY = 1024;

const seqParam = v.pipe(v.string(), v.regex(/^\d{1,15}$/, "must be a non-negative integer"), v.transform(Number));
const HistoryParams = v.pipe(
  v.object({
    limit: pageLimit,
    before: v.optional(seqParam),
    after: v.optional(seqParam),
  }),
  v.check((p) => p.before === undefined || p.after === undefined, "before and after cannot be combined"),
);

export type ApiDeps = {
  log: Logger;
  chat: ChatApi;
  verify: TokenVerifier;
  requests: RequestLimits;
  pageMaxBytes: number;
  /** Web Push subscriptions; null when Web Push is not configured. */
  push: PushApi | null;
};

type Route = {
  path: RegExp;
  method: "GET" | "POST" | "PUT" | "DELETE";
  handle: (deps: ApiDeps, caller: Caller, req: Request, url: URL, params: string[]) => Promise<Response>;
};

/** Every authenticated route: path, method, handler. */
const routes: Route[] = [
  { path: MESSAGES_PATH, method: "GET", handle: (d, c, _, url, [id]) => history(d, c, id!.toLowerCase(), url) },
  { path: UNREAD_PATH, method: "GET", handle: (d, c) => unread(d.chat, c) },
  { path: INBOX_PATH, method: "GET", handle: (d, c, _, url) => inbox(d.chat, c, url) },
  { path: TICKET_PATH, method: "POST", handle: (d, c, req) => ticket(d, c, req) },
  { path: PUSH_SUBSCRIPTIONS_PATH, method: "POST", handle: (d, c, req) => subscribe(d.push, c.userId, req) },
  { path: PUSH_SUBSCRIPTIONS_PATH, method: "DELETE", handle: (d, c, req) => unsubscribe(d.push, c.userId, req) },
  { path: REPORTS_PATH, method: "POST", handle: (d, c, req) => fileReport(d.chat, d.requests, c, req) },
  { path: BLOCKS_PATH, method: "GET", handle: (d, c) => blocks(d.chat, c) },
  { path: BLOCK_PATH, method: "PUT", handle: (d, c, _, __, [id]) => block(d.chat, c, id!) },
  { path: BLOCK_PATH, method: "DELETE", handle: (d, c, _, __, [id]) => unblock(d.chat, c, id!) },
];

/** What a request to the API carries along its chain. */
type ApiContext = { req: Request; url: URL; ip: () => string; route: Route | null; params: string[]; caller: Caller | null };

/**
 * The API's path, one step each: the address's budget (before any token check or query), the route
 * (404, 405, or the one public route), the caller's token, the caller's budget and API slot, then the
 * handler.
 */
export function apiHandler(deps: ApiDeps): (req: Request, url: URL, ip: () => string) => Promise<Response> {
  const { requests, verify } = deps;
  const perAddress: Middleware<ApiContext> = (ctx, next) => {
    const wait = requests.ip(ctx.ip());
    return wait > 0 ? Promise.resolve(tooManyRequests(wait)) : next();
  };
  const routed: Middleware<ApiContext> = async (ctx, next) => {
    const { req, url } = ctx;
    if (PUSH_KEY_PATH.test(url.pathname))
      return req.method === "GET" ? vapidPublicKey(deps.push) : json(405, { error: "method not allowed" });
    const onPath = routes.filter((r) => r.path.test(url.pathname));
    if (onPath.length === 0) return json(404, { error: "not found" });
    ctx.route = onPath.find((r) => r.method === req.method) ?? null;
    if (!ctx.route) return json(405, { error: "method not allowed" });
    ctx.params = ctx.route.path.exec(url.pathname)!.slice(1);
    return next();
  };
  const authenticated: Middleware<ApiContext> = async (ctx, next) => {
    ctx.caller = await authenticate(ctx.req, verify);
    return ctx.caller ? next() : json(401, { error: "a valid access token is required (Authorization: Bearer <token>)" });
  };
  const perCaller: Middleware<ApiContext> = async (ctx, next) => {
    const userId = ctx.caller!.userId;
    const wait = requests.api(userId);
    if (wait > 0) return tooManyRequests(wait);
    return (await requests.inSlot(userId, next)) ?? tooManyRequests(1, "too many requests in flight for this user, retry later");
  };
  const logged: Middleware<ApiContext> = async (ctx, next) => {
    const started = performance.now();
    const res = await next();
    // The path only: never the query string (it may carry a token) nor a body.
    deps.log.info("api request", {
      method: ctx.req.method,
      path: ctx.url.pathname,
      status: res.status,
      duration_ms: Math.round((performance.now() - started) * 10) / 10,
      ...(ctx.caller ? { user_id: ctx.caller.userId } : {}),
    });
    return res;
  };
  const handle = chain<ApiContext>([logged, perAddress, routed, authenticated, perCaller], (ctx) =>
    ctx.route!.handle(deps, ctx.caller!, ctx.req, ctx.url, ctx.params),
  );
  return (req, url, ip) => handle({ req, url, ip, route: null, params: [], caller: null });
}

async function authenticate(req: Request, verify: TokenVerifier): Promise<Caller | null> {
  const match = /^Bearer\s+(\S+)$/i.exec(req.headers.get("authorization") ?? "");
  if (!match) return null;
  const checked = await verify(match[1]!);
  return checked.ok ? { userId: checked.userId, expiresAt: checked.expiresAt } : null;
}

/**
 * `POST /api/ws-ticket` `{"session_id":"…"}` or `{"inbox":true}`: a one-use ticket to open that
 * session's WebSocket (or the inbox's) without the JWT in the URL.
 */
async function ticket({ chat }: ApiDeps, caller: Caller, req: Request): Promise<Response> {
  const body = await jsonBody(req, TicketRequest, {
    maxBytes: MAX_TICKET_BODY,
    expected: '{"session_id":"<uuid>"} or {"inbox":true}',
    prefix: "the body ",
  });
  if ("error" in body) return body.error;
  const target = "inbox" in body.value ? body.value : { sessionId: body.value.session_id.toLowerCase() };
  const issued = await chat.ticket(caller, target);
  if (!issued.ok) return accessDenied(issued.reason);
  return json(200, { ticket: issued.ticket, expires_at: new Date(issued.expiresAt).toISOString() });
}

async function history({ chat, pageMaxBytes }: ApiDeps, caller: Caller, sessionId: string, url: URL): Promise<Response> {
  const params = queryParams(url, HistoryParams);
  if ("error" in params) return params.error;
  const { limit, before, after } = params.value;
  const page = await chat.history(caller, sessionId, { limit, before: before ?? null, after: after ?? null, maxBytes: pageMaxBytes });
  if (!page.ok) return accessDenied(page.reason);
  const first = page.messages[0]?.seq ?? null;
  const last = page.messages.at(-1)?.seq ?? null;
  // The rows' JSON comes from PostgreSQL as text and goes out as is: no parse and re-serialise.
  // Older page: ?before=<cursors.before>; newer page: ?after=<cursors.after>.
  const body = `{"messages":[${page.messages.map((m) => m.json).join(",")}],"has_more":${page.hasMore},"cursors":${JSON.stringify({ before: first, after: last })},"last_seq":${page.lastSeq},"last_change":${page.lastChange}}`;
  return new Response(body, { headers: { "content-type": "application/json;charset=utf-8", "cache-control": "no-store" } });
}

/** `GET /api/inbox?limit=50&before=<next>`: the caller's sessions, most recent activity first. */
async function inbox(chat: ChatApi, caller: Caller, url: URL): Promise<Response> {
  const params = queryParams(url, InboxParams);
  if ("error" in params) return params.error;
  const cursor = params.value.before ? INBOX_CURSOR.exec(params.value.before) : null;
  const before = cursor ? { activity: Number(cursor[1]), sessionId: cursor[2]!.toLowerCase() } : null;
  const result = await chat.inbox(caller, { limit: params.value.limit, before });
  if (!result.ok) return accessDenied(result.reason);
  const { page } = result;
  return json(200, { sessions: page.entries, has_more: page.hasMore, next: page.next && cursorText(page.next) });
}

async function unread(chat: ChatApi, caller: Caller): Promise<Response> {
  const result = await chat.unread(caller);
  return result.ok ? json(200, { sessions: result.sessions }) : accessDenied(result.reason);
}

/** Why a caller may not have a session's data, as every route answers it. */
function accessDenied(reason: DeniedReason): Response {
  if (reason === "user_not_found") return json(401, { error: "user not found" });
  if (reason === "banned") return json(403, { error: "banned by a moderator" });
  if (reason === "no_session") return json(404, { error: "session not found" });
  return json(403, { error: "not a participant of this session" });
}
