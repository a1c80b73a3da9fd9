/**
 * What a message's content may be: one rule for the server (which refuses) and the client (which
 * refuses before sending). Dependency-free, so that browser bundles import it as is.
 */
import { ErrorCode } from "./codes.ts";

/** As the original service: 2000 characters, counted as code points (2000 emoji pass). */
export const MAX_CONTENT_CODE_POINTS = 2000;

/**
 * C0 control characters except tab, line feed and carriage return. NUL cannot be stored in
 * PostgreSQL text; the others mean nothing in a chat and cost 6 bytes each in JSON.
 */
export const FORBIDDEN_CONTROLS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/;

/** Code points, not UTF-16 units. */
export function codePointLength(s: string): number {
  if (s.length <= MAX_CONTENT_CODE_POINTS) return s.length; // fast path: never more code points than units
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/** An unpaired surrogate would be stored as U+FFFD: refused. */
export function isWellFormed(s: string): boolean {
  const native = (s as { isWellFormed?: () => boolean }).isWellFormed;
  if (native) return native.call(s);
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

export type ContentProblem = typeof ErrorCode.EmptyContent | typeof ErrorCode.ContentTooLong | typeof ErrorCode.InvalidContent;

/** The error code the server answers for `content`, or null when it is acceptable. */
export function contentProblem(content: string): ContentProblem | null {
  if (content.trim().length === 0) return ErrorCode.EmptyContent;
  if (content.length > 2 * MAX_CONTENT_CODE_POINTS || codePointLength(content) > MAX_CONTENT_CODE_POINTS) return ErrorCode.ContentTooLong;
  if (FORBIDDEN_CONTROLS.test(content) || !isWellFormed(content)) return ErrorCode.InvalidContent;
  return null;
}

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });
/** A pictograph, a keycap, or a flag's regional indicators. */
const EMOJI = /^(?:\p{Extended_Pictographic}|\p{Regional_Indicator}|[#*0-9]\uFE0F?\u20E3)/u;

/** One emoji: a single grapheme cluster (skin tones, ZWJ sequences and flags included) of at most 32 UTF-16 units. */
export function isOneEmoji(text: string): boolean {
  if (text.length === 0 || text.length > 32 || !EMOJI.test(text)) return false;
  let count = 0;
  for (const _ of graphemes.segment(text)) if (++count > 1) return false;
  return true;
}
