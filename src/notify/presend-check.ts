/**
 * The backend's pre-send check over HTTP (PRESEND_CHECK_URL), as Centrifugo's publish proxy: every
 * message and edit is POSTed, signed as the webhook is (X-Chat-Signature under PRESEND_CHECK_SECRET),
 * and the answer allows, refuses or replaces it. An answer later than PRESEND_CHECK_TIMEOUT_MS, an
 * error status or a body that is not one of the three counts as no answer (`unreachable`).
 */
import * as v from "valibot";
import type { CheckAnswer, ContentCheck, ContentSubject } from "../chat/content-screen.ts";
import type { Post } from "./http-post.ts";
import { signature } from "./webhook-sender.ts";

const Answer = v.variant("action", [
  v.object({ action: v.literal("allow") }),
  v.object({ action: v.literal("reject"), reason: v.optional(v.pipe(v.string(), v.maxLength(200))) }),
  v.object({ action: v.literal("replace"), content: v.string() }),
]);

/** An answer is a few dozen bytes: more is not read. */
const MAX_ANSWER_BYTES = 16 * 1024;

export type PresendCheckConfig = { url: string; secret: string; failure: "open" | "closed" };

export function presendCheck(config: PresendCheckConfig, post: Post): ContentCheck {
  return {
    failure: config.failure,
    async check(content: string, subject: ContentSubject): Promise<CheckAnswer> {
      const body = JSON.stringify({
        type: subject.kind,
        user_id: subject.userId,
        session_id: subject.sessionId,
        ...(subject.seq !== undefined ? { seq: subject.seq } : {}),
        content,
      });
      const t = Math.floor(Date.now() / 1000);
      try {
        const res = await post(
          config.url,
          { "content-type": "application/json", "x-chat-signature": `t=${t},v1=${signature(config.secret, t, body)}` },
          body,
        );
        if (!res.ok) return { action: "unreachable" };
        const text = await res.text();
        if (text.length > MAX_ANSWER_BYTES) return { action: "unreachable" };
        const parsed = v.safeParse(Answer, JSON.parse(text));
        if (!parsed.success) return { action: "unreachable" };
        const answer = parsed.output;
        return answer.action === "reject" ? { action: "reject", reason: answer.reason ?? "the message was refused" } : answer;
      } catch {
        return { action: "unreachable" };
      }
    },
  };
}
