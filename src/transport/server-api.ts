/**
 * The server API: the backend's hand on the chat (moderation, reports, account deletion), server to server.
 * Off unless SERVER_API_KEY is set; every request carries `Authorization: Bearer <SERVER_API_KEY>`,
 * compared in constant time (no user token can pass: a user's JWT is never the key, and the config
 * refuses a key equal to a JWT or webhook secret). Its own rate limit, and every call in the audit
 * log (who, what, target, outcome; never content).
 */
import { timingSafeEqual } from "node:crypto";
import * as v from "valibot";
import type { Moderation } from "../chat/moderation.ts";
import type { ReportStore } from "../chat/ports.ts";
import type { Logger } from "../observability/log.ts";
import { json, jsonBody, queryParams } from "./json-response.ts";
import { tooManyRequests } from "./request-limits.ts";
import { TokenBucket } from "./rate-limit.ts";
import { sessionIdPattern } from "./upgrade.ts";

export const SERVER_API_PREFIX = "/api/server/";
/** Calls per second for the whole API (the backend is one caller), and the burst. */
const RATE_PER_SECOND = 50;
const BURST = 100;
const MAX_BODY = 1024;

const uuid = sessionIdPattern;
const REMOVE_PATH = new RegExp(`^/api/server/sessions/(${uuid})/messages/(\\d{1,15})/remove/?$`, "i");
const BAN_PATH = new RegExp(`^/api/server/users/(${uuid})/ban/?$`, "i");
const ERASE_PATH = new RegExp(`^/api/server/users/(${uuid})/erase/?$`, "i");
const POST_PATH = new RegExp(`^/api/server/sessions/(${uuid})/messages/?$`, "i");
const SystemMessage = v.object({
  content: v.string("content must be a string"),
  client_id: v.optional(v.pipe(v.string(), v.uuid("client_id must be a uuid"))),
});
const REPORTS_PATH = /^\/api\/server\/reports\/?$/;
const RESOLVE_PATH = /^\/api\/server\/reports\/(\d{1,15})\/resolve\/?$/;

const ReportsQuery = v.object({
  state: v.optional(v.picklist(["open", "resolved"], "must be open or resolved"), "open"),
  limit: v.optional(
    v.pipe(v.string(), v.regex(/^\d{1,3}$/, "must be an integer from 1 to 200"), v.transform(Number), v.minValue(1), v.maxValue(200)),
    "50",
  ),
  before: v.optional(v.pipe(v.string(), v.regex(/^\d{1,15}$/, "must be the next of a previous page"), v.transform(Number))),
});
const ResolveRequest = v.object({
  resolution: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(200, "resolution must be at most 200 characters")))),
});

const BanRequest = v.object({
  /** When the ban ends (ISO 8601, in the future); absent or null: for good. */
  until: v.optional(
    v.nullable(
      v.pipe(
        v.string(),
        v.isoTimestamp("until must be an ISO 8601 timestamp"),
        v.transform((s) => new Date(s)),
        v.check((d) => d.getTime() > Date.now(), "until must be in the future"),
      ),
    ),
  ),
});

type Route = {
  path: RegExp;
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** The audit log's name of the action. */
  action: string;
  handle: (deps: ServerApiDeps, params: string[], req: Request, url: URL) => Promise<Response>;
};

export type ServerApiDeps = { moderation: Moderation; reports: ReportStore };

const routes: Route[] = [
  {
    path: POST_PATH,
    method: "POST",
    action: "post_system_message",
    async handle({ moderation }, [sessionId], req) {
      const body = await jsonBody(req, SystemMessage, { maxBytes: 16 * 1024, expected: '{"content":"…","client_id":"<uuid>"}' });
      if ("error" in body) return body.error;
      const posted = await moderation.postSystemMessage(sessionId!.toLowerCase(), body.value.content, body.value.client_id ?? null);
      if (posted.ok) return json(posted.appended.duplicate ? 200 : 201, { message: posted.appended.message });
      if (posted.reason === "no_session") return json(404, { error: "no such session" });
      return json(400, { error: `content: ${posted.problem!.replaceAll("_", " ")}` });
    },
  },
  {
    path: REPORTS_PATH,
    method: "GET",
    action: "list_reports",
    async handle({ reports }, _, __, url) {
      const query = queryParams(url, ReportsQuery);
      if ("error" in query) return query.error;
      const { state, limit, before } = query.value;
      return json(200, await reports.list(state, limit, before ?? null));
    },
  },
  {
    path: RESOLVE_PATH,
    method: "POST",
    action: "resolve_report",
    async handle({ reports }, [id], req) {
      const body = await jsonBody(req, ResolveRequest, { maxBytes: MAX_BODY, expected: '{"resolution":"…"} or {}' });
      if ("error" in body) return body.error;
      const done = await reports.resolve(Number(id), body.value.resolution ?? null);
      return done ? json(200, { resolved: true }) : json(404, { error: "no such report" });
    },
  },
  {
    path: REMOVE_PATH,
    method: "POST",
    action: "remove_message",
    async handle({ moderation: m }, [sessionId, seq]) {
      const changed = await m.removeMessage(sessionId!.toLowerCase(), Number(seq));
      return changed ? json(200, { message: changed.message }) : json(404, { error: "no such message in this session" });
    },
  },
  {
    path: BAN_PATH,
    method: "PUT",
    action: "ban",
    async handle({ moderation: m }, [userId], req) {
      const body = await jsonBody(req, BanRequest, { maxBytes: MAX_BODY, expected: '{"until":"<ISO 8601>"} or {}' });
      if ("error" in body) return body.error;
      const until = body.value.until ?? null;
      if (!(await m.ban(userId!.toLowerCase(), until))) return json(404, { error: "no such user" });
      return json(200, { banned: true, until: until?.toISOString() ?? null });
    },
  },
  {
    path: BAN_PATH,
    method: "DELETE",
    action: "unban",
    async handle({ moderation: m }, [userId]) {
      return json(200, { unbanned: await m.unban(userId!.toLowerCase()) });
    },
  },
  {
    path: ERASE_PATH,
    method: "POST",
    action: "erase_user",
    async handle({ moderation: m }, [userId]) {
      const erased = await m.eraseUser(userId!.toLowerCase());
      return erased ? json(200, erased) : json(404, { error: "no such user" });
    },
  },
];

export function serverApiHandler(key: string | null, deps: ServerApiDeps, log: Logger): (req: Request, url: URL) => Promise<Response> {
  const budget = new TokenBucket(RATE_PER_SECOND, BURST);
  const expected = key === null ? null : digest(key);
  return async (req, url) => {
    if (!expected) return json(404, { error: "not found" });
    const started = performance.now();
    const onPath = routes.filter((r) => r.path.test(url.pathname));
    const route = onPath.find((r) => r.method === req.method);
    const audit = (status: number, extra: Record<string, unknown> = {}) =>
      log.info("server api", {
        who: "backend",
        action: route?.action ?? "unknown",
        path: url.pathname,
        status,
        duration_ms: Math.round((performance.now() - started) * 10) / 10,
        ...extra,
      });
    if (!authorized(req, expected)) {
      audit(401);
      return json(401, { error: "the server API needs Authorization: Bearer <SERVER_API_KEY>" });
    }
    if (!budget.take()) {
      audit(429);
      return tooManyRequests(budget.secondsUntilToken());
    }
    if (onPath.length === 0) return json(404, { error: "not found" });
    if (!route) return json(405, { error: "method not allowed" });
    const res = await route.handle(deps, route.path.exec(url.pathname)!.slice(1), req, url);
    audit(res.status);
    return res;
  };
}

/** The presented key's digest against the configured one's, in constant time whatever their lengths. */
function authorized(req: Request, expected: Uint8Array): boolean {
  const header = req.headers.get("authorization") ?? "";
  const presented = header.startsWith("Bearer ") ? header.slice(7) : "";
  return timingSafeEqual(digest(presented), expected);
}

function digest(text: string): Uint8Array {
  return new Bun.CryptoHasher("sha256").update(text).digest();
}
