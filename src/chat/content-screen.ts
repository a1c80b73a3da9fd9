/**
 * What a message's or an edit's content goes through before it is stored: the blocked terms
 * (BLOCKED_TERMS_FILE: refused or masked), then, when configured, the backend's pre-send check over
 * HTTP (PRESEND_CHECK_URL), which may allow, refuse or replace it. Both run before any database
 * transaction: nothing waits on the network while holding a lock.
 */
import { ErrorCode } from "../protocol/codes.ts";
import { contentProblem } from "../protocol/content.ts";
import type { TermFilter } from "./term-filter.ts";

/** Blocked terms: a message or an edit with one is refused (`reject`) or stored with the terms masked (`mask`). */
export type ContentPolicy = { filter: TermFilter; action: "reject" | "mask" };

/** What the content is, for whom: what the backend's check is told. */
export type ContentSubject = { kind: "message" | "edit"; userId: string; sessionId: string; seq?: number };

/** The backend's answer; `unreachable` when it did not give one in time (or gave nonsense). */
export type CheckAnswer =
  | { action: "allow" }
  | { action: "reject"; reason: string }
  | { action: "replace"; content: string }
  | { action: "unreachable" };

/** The pre-send check's port (notify/presend-check.ts): never throws, answers within its timeout. */
export type ContentCheck = { check(content: string, subject: ContentSubject): Promise<CheckAnswer>; failure: "open" | "closed" };

export type Screened = { ok: true; content: string } | { ok: false; code: ErrorCode; error: string };

export class ContentScreen {
  constructor(
    private readonly policy: ContentPolicy | null,
    private readonly backend: ContentCheck | null,
  ) {}

  get active(): boolean {
    return this.policy !== null || this.backend !== null;
  }

  async screen(content: string, subject: ContentSubject): Promise<Screened> {
    const verdict = this.policy?.filter.check(content);
    if (verdict?.blocked) {
      if (this.policy!.action === "reject")
        return { ok: false, code: ErrorCode.ContentBlocked, error: "the message contains a blocked term" };
      content = verdict.masked;
    }
    if (!this.backend) return { ok: true, content };
    const answer = await this.backend.check(content, subject);
    switch (answer.action) {
      case "allow":
        return { ok: true, content };
      case "reject":
        return { ok: false, code: ErrorCode.ContentRejected, error: answer.reason };
      case "replace":
        return contentProblem(answer.content) === null ? { ok: true, content: answer.content } : this.unreachable(content);
      case "unreachable":
        return this.unreachable(content);
    }
  }

  /** No usable answer: sent as it is (fail open), or refused as unavailable, to be retried (fail closed). */
  private unreachable(content: string): Screened {
    if (this.backend!.failure === "open") return { ok: true, content };
    return { ok: false, code: ErrorCode.Unavailable, error: "the content check is unavailable, retry" };
  }
}
