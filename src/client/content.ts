/** The server's content rules, checked before sending so that a hopeless message fails at once. */

export const MAX_CONTENT_CODE_POINTS = 2000;

/** The error code the server would answer, or null when `content` is acceptable. */
export function contentProblem(content: string): "empty_content" | "content_too_long" | "invalid_content" | null {
  if (content.trim().length === 0) return "empty_content";
  let codePoints = 0;
  for (const _ of content) codePoints++;
  if (codePoints > MAX_CONTENT_CODE_POINTS) return "content_too_long";
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(content) || !isWellFormed(content)) return "invalid_content";
  return null;
}

function isWellFormed(s: string): boolean {
  const native = (s as { isWellFormed?: () => boolean }).isWellFormed;
  if (native) return native.call(s);
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}
