/**
 * The connection path: from an HTTP upgrade request to "who is this socket", in at most one
 * database round trip. The outcome travels to the WebSocket `open` handler in `ws.data`, because the
 * protocol accepts the connection first and then closes it with a 4xxx code.
 */
import { INBOX_TICKET_SCOPE, type DeniedReason, type Directory, type TicketBook } from "../chat/ports.ts";
import type { Member, ResumePoint } from "../chat/types.ts";
import { CloseCode } from "../protocol/codes.ts";
import type { TokenVerifier } from "../auth/tokens.ts";

export const sessionIdPattern = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const SESSION_PATH = new RegExp(`^/ws/sessions/(${sessionIdPattern})/?$`, "i");
const INBOX_PATH = /^\/ws\/inbox\/?$/;

/** What a socket is for: one session's chat, or the user's inbox (all their sessions). */
export type SocketTarget = { kind: "session"; sessionId: string } | { kind: "inbox" };

/** The target of a WebSocket path, or null when the path is not one. */
export function socketTargetOf(pathname: string): SocketTarget | null {
  const match = SESSION_PATH.exec(pathname);
  if (match) return { kind: "session", sessionId: match[1]!.toLowerCase() };
  return INBOX_PATH.test(pathname) ? { kind: "inbox" } : null;
}

/** `?token=` as the original service, or `Authorization: Bearer` for non-browser clients. */
function tokenOf(req: Request, url: URL): string | null {
  const fromQuery = url.searchParams.get("token");
  if (fromQuery) return fromQuery;
  const header = req.headers.get("authorization");
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return match ? match[1]! : null;
}

/** An admitted chat socket is its own Member (user and session), so that an idle socket holds one object, not two. */
export type Admitted = { ok: true; userId: string; expiresAt: number } & (
  | ({ kind: "session"; resume: ResumePoint | null } & Member)
  | { kind: "inbox" }
);
export type Refused = { ok: false; close: CloseCode; sessionId?: string };
export type UpgradeOutcome = Admitted | Refused;

/**
 * `?after=<seq>`: resume after the last message seen; with `&changes_after=<change_seq>`, also get the
 * changes made since to the messages seen. Undefined when malformed (or `changes_after` alone).
 */
export function resumePointOf(url: URL): ResumePoint | null | undefined {
  const after = integerParam(url, "after");
  const changesAfter = integerParam(url, "changes_after");
  if (after === undefined || changesAfter === undefined) return undefined;
  if (after === null) return changesAfter === null ? null : undefined;
  return { afterSeq: after, changesAfter };
}

function integerParam(url: URL, name: string): number | null | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return null;
  return /^\d{1,15}$/.test(raw) ? Number(raw) : undefined;
}

export type AdmitDeps = {
  directory: Directory;
  verify: TokenVerifier;
  tickets: Pick<TicketBook, "redeem">;
  /** The per-user connection-attempt limit, asked once the credential says who it is. */
  mayAttempt: (userId: string) => boolean;
  /** A ticket was redeemed (for the metric). */
  onTicket?: () => void;
};

type Identity = { ok: true; userId: string; expiresAt: number } | { ok: false; close: CloseCode };

export async function admit(deps: AdmitDeps, target: SocketTarget, req: Request, url: URL): Promise<UpgradeOutcome> {
  const ticket = url.searchParams.get("ticket");
  const token = ticket ? null : tokenOf(req, url);
  if (!ticket && !token) return { ok: false, close: CloseCode.NoToken };
  const resume = resumePointOf(url);
  if (resume === undefined) return { ok: false, close: CloseCode.BadRequest };
  const scope = target.kind === "session" ? target.sessionId : INBOX_TICKET_SCOPE;
  let who: Identity;
  try {
    who = ticket ? await redeem(deps, ticket, scope) : await verified(deps.verify, token!);
  } catch {
    return { ok: false, close: CloseCode.TryAgainLater };
  }
  if (!who.ok) return who;
  if (!deps.mayAttempt(who.userId)) return { ok: false, close: CloseCode.TooManyAttempts };
  try {
    return target.kind === "session"
      ? await joinSession(deps.directory, target.sessionId, who, resume)
      : await openInbox(deps.directory, who);
  } catch {
    return { ok: false, close: CloseCode.TryAgainLater };
  }
}

async function joinSession(
  store: Directory,
  sessionId: string,
  who: Identity & { ok: true },
  resume: ResumePoint | null,
): Promise<UpgradeOutcome> {
  const auth = await store.authorize(sessionId, who.userId);
  if (!auth.ok) return { ok: false, close: refusalOf(auth.reason) };
  return { ok: true, kind: "session", userId: who.userId, user: auth.user, session: auth.session, expiresAt: who.expiresAt, resume };
}

async function openInbox(store: Directory, who: Identity & { ok: true }): Promise<UpgradeOutcome> {
  if (!(await store.userExists(who.userId))) return { ok: false, close: CloseCode.UserNotFound };
  return { ok: true, kind: "inbox", userId: who.userId, expiresAt: who.expiresAt };
}

const refusalOf = (reason: DeniedReason) =>
  reason === "banned" ? CloseCode.Banned : reason === "user_not_found" ? CloseCode.UserNotFound : CloseCode.NotParticipant;

/**
 * Asked again of an open socket (an in-band token refresh): may it still read what it joined? The
 * close code when not (4002 the user is gone or deactivated, 4004 no longer a participant), else null.
 */
export async function accessWithdrawn(store: Directory, outcome: Admitted): Promise<CloseCode | null> {
  if (outcome.kind === "inbox") return (await store.userExists(outcome.userId)) ? null : CloseCode.UserNotFound;
  const auth = await store.authorize(outcome.session.sessionId, outcome.userId);
  return auth.ok ? null : refusalOf(auth.reason);
}

/** A ticket stands for the token it was issued against, for its session (or the inbox) only, once. */
async function redeem({ tickets, onTicket }: AdmitDeps, ticket: string, sessionId: string): Promise<Identity> {
  const grant = await tickets.redeem(ticket);
  if (!grant || grant.sessionId !== sessionId) return { ok: false, close: CloseCode.InvalidToken };
  onTicket?.();
  return { ok: true, userId: grant.userId, expiresAt: grant.tokenExpiresAt };
}

async function verified(verify: TokenVerifier, token: string): Promise<Identity> {
  const checked = await verify(token);
  return checked.ok ? { ok: true, userId: checked.userId, expiresAt: checked.expiresAt } : { ok: false, close: CloseCode.InvalidToken };
}
