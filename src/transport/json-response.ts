/** JSON in and out of the HTTP API: answers are never cached (they are per user); bodies are small and bounded. */
import * as v from "valibot";

export const json = (status: number, body: unknown) => Response.json(body, { status, headers: { "cache-control": "no-store" } });

/**
 * A request's JSON body checked against `schema`: 413 beyond `maxBytes` (read no further), 400 when
 * it is not JSON (saying `expected`) or does not fit (the schema's first message, after `prefix`).
 */
export async function jsonBody<S extends v.GenericSchema>(
  req: Request,
  schema: S,
  { maxBytes, expected, prefix = "" }: { maxBytes: number; expected: string; prefix?: string },
): Promise<{ value: v.InferOutput<S> } | { error: Response }> {
  const tooLarge = { error: json(413, { error: "the body is too large" }) };
  if (Number(req.headers.get("content-length") ?? 0) > maxBytes) return tooLarge;
  const text = await req.text().catch(() => "");
  if (text.length > maxBytes) return tooLarge;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { error: json(400, { error: `the body must be JSON: ${expected}` }) };
  }
  const parsed = v.safeParse(schema, data);
  return parsed.success ? { value: parsed.output } : { error: json(400, { error: `${prefix}${parsed.issues[0].message}` }) };
}

/** A request's query parameters checked against `schema`: 400 naming the first parameter that does not fit. */
export function queryParams<S extends v.GenericSchema>(url: URL, schema: S): { value: v.InferOutput<S> } | { error: Response } {
  const parsed = v.safeParse(schema, Object.fromEntries(url.searchParams));
  if (parsed.success) return { value: parsed.output };
  const issue = parsed.issues[0];
  const name = issue.path?.[0]?.key;
  return { error: json(400, { error: name ? `${String(name)} ${issue.message}` : issue.message }) };
}
