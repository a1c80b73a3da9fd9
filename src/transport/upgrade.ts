/**
 * The connection path: from an HTTP upgrade request to "who is this socket", in at most one
 * database round trip. The outcome travels to the WebSocket `open` handler in `ws.data`, because the
 * protocol accepts the connection first and then closes it with a 4xxx code.
 */
import type { Store } from "../chat/ports.ts";
import { ChatService, type Member } from "../chat/chat-service.ts";
import { CloseCode } from "../protocol/codes.ts";
import type { TokenVerifier } from "../auth/tokens.ts";

export const sessionIdPattern = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const SESSION_PATH = new RegExp(`^/ws/sessions/(${sessionIdPattern})/?$`, "i");

/** The session id of a WebSocket path, or null when the path is not one. */
export function sessionIdOf(pathname: string): string | null {
  const match = SESSION_PATH.exec(pathname);
  return match ? match[1]!.toLowerCase() : null;
}

/** `?token=` as the original service, or `Authorization: Bearer` for non-browser clients. */
export function tokenOf(req: Request, url: URL): string | null {
  const fromQuery = url.searchParams.get("token");
  if (fromQuery) return fromQuery;
  const header = req.headers.get("authorization");
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return match ? match[1]! : null;
}

export type UpgradeOutcome = { ok: true; member: Member; expiresAt: number; afterSeq: number | null } | { ok: false; close: CloseCode };

/** `?after=<seq>`: resume after the last message seen. Undefined when malformed. */
export function afterSeqOf(url: URL): number | null | undefined {
  const raw = url.searchParams.get("after");
  if (raw === null || raw === "") return null;
  return /^\d{1,15}$/.test(raw) ? Number(raw) : undefined;
}

/** `mayAttempt`: the per-user connection-attempt limit, asked once the token says who it is. */
export async function admit(store: Store, verify: TokenVerifier, sessionId: string, req: Request, url: URL, mayAttempt: (userId: string) => boolean): Promise<UpgradeOutcome> {
  const token = tokenOf(req, url);
  if (!token) return { ok: false, close: CloseCode.NoToken };
  const afterSeq = afterSeqOf(url);
  if (afterSeq === undefined) return { ok: false, close: CloseCode.BadRequest };
  const checked = await verify(token);
  if (!checked.ok) return { ok: false, close: CloseCode.InvalidToken };
  if (!mayAttempt(checked.userId)) return { ok: false, close: CloseCode.TooManyAttempts };
  let auth;
  try {
    auth = await store.authorize(sessionId, checked.userId);
  } catch {
    return { ok: false, close: CloseCode.TryAgainLater };
  }
  if (!auth.ok) return { ok: false, close: auth.reason === "user_not_found" ? CloseCode.UserNotFound : CloseCode.NotParticipant };
  return { ok: true, member: ChatService.member(auth.user, auth.session), expiresAt: checked.expiresAt, afterSeq };
}
