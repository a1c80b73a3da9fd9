/**
 * POSTs to push services and the webhook: a timeout on every request, and TLS that trusts the
 * system's CAs plus the PEM file named by NODE_EXTRA_CA_CERTS (read from the configuration, so it
 * holds for this server whatever the runtime does with the variable).
 */
import { rootCertificates } from "node:tls";
import { readFileSync } from "node:fs";
import { classify, type Attempt } from "./delivery-policy.ts";

export type Post = (url: string, headers: Record<string, string>, body: Uint8Array | string) => Promise<Response>;

export const REQUEST_TIMEOUT_MS = 10_000;

export function createPost(extraCaFile: string | null, timeoutMs = REQUEST_TIMEOUT_MS): Post {
  const ca = extraCaFile ? [...rootCertificates, readFileSync(extraCaFile, "utf8")] : null;
  return (url, headers, body) =>
    fetch(url, {
      method: "POST",
      headers,
      body: body as BodyInit,
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
      ...(ca ? { tls: { ca } } : {}),
    });
}

/** One attempt: the answer classified; a network failure or timeout is worth a retry. */
export async function attempt(
  post: Post,
  url: string,
  headers: Record<string, string>,
  body: Uint8Array | string,
  pushService: boolean,
): Promise<Attempt> {
  try {
    const res = await post(url, headers, body);
    await drain(res);
    return classify(res.status, res.headers.get("retry-after"), pushService);
  } catch (err) {
    const name = (err as Error)?.name;
    return { kind: "retry", error: name === "TimeoutError" ? "timed out" : `network error (${name ?? "unknown"})`, unreachable: true };
  }
}

/** Nothing of an answer's body is used: a few KB are read (a short body lets the connection be reused), the rest is dropped. */
export const MAX_ANSWER_BYTES = 4096;

async function drain(res: Response): Promise<void> {
  const reader = res.body?.getReader();
  if (!reader) return;
  try {
    for (let read = 0; read <= MAX_ANSWER_BYTES; ) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value.byteLength;
    }
    await reader.cancel();
  } catch {
    // the answer's status is what counts
  }
}
