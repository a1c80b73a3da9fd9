/**
 * `POST /api/reports`: a participant reports a message of a session, or the whole session (its other
 * participant), with a reason from a fixed list and an optional note. Stored once per reporter and
 * message; a participant may file REPORTS_PER_MINUTE a minute.
 */
import * as v from "valibot";
import type { Caller, ChatApi } from "../chat/chat-api.ts";
import { REPORT_REASONS } from "../chat/ports.ts";
import { json, jsonBody } from "./json-response.ts";
import { tooManyRequests, type RequestLimits } from "./request-limits.ts";
import { sessionIdPattern } from "./upgrade.ts";

export const REPORTS_PATH = /^\/api\/reports\/?$/;
export const MAX_NOTE_CODE_POINTS = 500;

const ReportRequest = v.object({
  session_id: v.pipe(v.string(), v.regex(new RegExp(`^${sessionIdPattern}$`, "i"), "session_id must be a session's uuid")),
  /** The reported message; absent or 0: the whole session. */
  seq: v.optional(v.pipe(v.number(), v.safeInteger("seq must be an integer"), v.minValue(0, "seq must be 0 or more")), 0),
  reason: v.picklist(REPORT_REASONS, `reason must be one of ${REPORT_REASONS.join(", ")}`),
  note: v.optional(
    v.nullable(
      v.pipe(
        v.string(),
        v.check((s) => [...s].length <= MAX_NOTE_CODE_POINTS, `note must be at most ${MAX_NOTE_CODE_POINTS} characters`),
      ),
    ),
  ),
});

export async function fileReport(chat: ChatApi, requests: RequestLimits, caller: Caller, req: Request): Promise<Response> {
  const wait = requests.report(caller.userId);
  if (wait > 0) return tooManyRequests(wait, "too many reports, retry later");
  const body = await jsonBody(req, ReportRequest, {
    maxBytes: 4096,
    expected: '{"session_id":"<uuid>","seq":42,"reason":"harassment","note":"…"}',
  });
  if ("error" in body) return body.error;
  const { session_id, seq, reason, note } = body.value;
  const filed = await chat.report(caller, { sessionId: session_id.toLowerCase(), seq, reason, note: note?.trim() || null });
  if (filed.ok) return json(filed.duplicate ? 200 : 201, { report_id: filed.reportId, duplicate: filed.duplicate });
  if (filed.reason === "not_participant") return json(403, { error: "not a participant of this session" });
  if (filed.reason === "no_message") return json(404, { error: "no message with this seq in the session" });
  if (filed.reason === "system_message") return json(400, { error: "a system message (the backend's) cannot be reported" });
  return json(400, { error: "your own message cannot be reported" });
}
