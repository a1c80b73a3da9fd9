/**
 * Bun's WebSocket handlers: thin. Each text frame is rate-limited, parsed, then handed to the chat
 * domain; token refreshes (`auth` frames) are handled here because they change who the socket is
 * allowed to be for how long, which is the transport's business.
 */
import type { WebSocketHandler } from "bun";
import type { ChatService } from "../chat/chat-service.ts";
import { CloseCode, CloseReason, ErrorCode } from "../protocol/codes.ts";
import { authOkFrame, errorFrame, parseClientFrame, type FrameError } from "../protocol/frames.ts";
import type { TokenVerifier } from "../auth/tokens.ts";
import type { Limits } from "../config/config.ts";
import type { Logger } from "../observability/log.ts";
import type { Metrics } from "../observability/metrics.ts";
import { SocketRateLimiter } from "./rate-limit.ts";
import type { RequestLimits } from "./request-limits.ts";
import type { SocketRegistry } from "./socket-registry.ts";
import type { ChatSocket, SocketData } from "./types.ts";
import { accessWithdrawn, type Admitted } from "./upgrade.ts";
import type { AccessGuard } from "./access-guard.ts";
import type { Directory } from "../chat/ports.ts";

export type WebSocketDeps = {
  chat: ChatService;
  directory: Directory;
  registry: SocketRegistry;
  access: AccessGuard;
  requests: RequestLimits;
  verify: TokenVerifier;
  limits: Limits;
  log: Logger;
  metrics: Metrics;
};

/** Frames that write: a user's messages and changes share the per-user budget. */
const WRITES: ReadonlySet<string> = new Set(["message", "edit", "delete", "react"]);

export function websocketHandler({
  chat,
  directory,
  registry,
  access,
  requests,
  verify,
  limits,
  log,
  metrics,
}: WebSocketDeps): WebSocketHandler<SocketData> {
  const sendError = (ws: ChatSocket, e: FrameError) => {
    metrics.frameErrors.inc({ code: e.code });
    ws.send(errorFrame(e));
  };

  return {
    maxPayloadLength: limits.maxFrameBytes,
    idleTimeout: limits.idleTimeoutSeconds,
    sendPings: true,
    // A reader that falls this far behind is cut at once (the client sees 1006 and resumes with
    // `after`): never a frame dropped silently, never memory growing without bound.
    backpressureLimit: limits.backpressureLimitBytes,
    closeOnBackpressureLimit: true,
    perMessageDeflate: false,

    open(ws) {
      const { outcome, connId } = ws.data;
      if (!outcome.ok) {
        log.info("connection refused", { conn: connId, session_id: outcome.sessionId, close_code: outcome.close });
        metrics.connectionsRefused.inc({ code: String(outcome.close) });
        ws.close(outcome.close, CloseReason[outcome.close]);
        return;
      }
      log.info("connection opened", {
        conn: connId,
        user_id: outcome.userId,
        ...(outcome.kind === "session" ? { session_id: outcome.session.sessionId, resume: outcome.resume !== null } : { inbox: true }),
      });
      const withdrawn = access.missedSince(outcome, ws.data.checkedAt);
      if (withdrawn !== null) {
        metrics.connectionsRefused.inc({ code: String(withdrawn) });
        return ws.close(withdrawn, CloseReason[withdrawn]);
      }
      metrics.connectionsOpened.inc();
      registry.add(ws, outcome.userId);
      ws.data.joining = joined(ws, outcome)
        .catch((err) => {
          // The replay could not be read: the client reconnects and resumes from the same point.
          log.warn("join failed", { err, conn: connId });
          registry.close(ws, CloseCode.TryAgainLater);
        })
        .then(() => {
          ws.data.joining = null; // an idle socket keeps no settled promise
          ws.data.joined = true;
        });
    },

    message(ws, raw) {
      const { outcome } = ws.data;
      if (!outcome.ok) return;
      const parsed = typeof raw === "string" ? parseClientFrame(raw) : null;
      ws.data.limiter ??= new SocketRateLimiter(limits);
      let verdict = ws.data.limiter.check(parsed?.ok ? parsed.frame.type : null);
      // A user's sockets together: twenty tabs do not get twenty times the budget.
      if (verdict === "ok" && parsed?.ok && WRITES.has(parsed.frame.type) && !requests.message(outcome.userId)) verdict = "limited";
      if (verdict === "abuse") return registry.close(ws, CloseCode.PolicyViolation);
      if (verdict === "limited") {
        const clientId = parsed?.ok ? (parsed.frame as { client_id?: string }).client_id : parsed?.error.client_id;
        return sendError(ws, {
          code: ErrorCode.RateLimited,
          error: "too many frames, slow down",
          ...(clientId ? { client_id: clientId } : {}),
        });
      }
      if (!parsed) return sendError(ws, { code: ErrorCode.BinaryFrame, error: "binary frames are not supported: send JSON text" });
      if (!parsed.ok) return sendError(ws, parsed.error);
      const frame = parsed.frame;
      if (outcome.kind === "inbox" && frame.type !== "auth") {
        return sendError(ws, { code: ErrorCode.UnknownType, error: `the inbox socket accepts only "auth" frames, not "${frame.type}"` });
      }
      const handle = async () => {
        if (frame.type === "auth") return refresh(ws, frame.token);
        if (outcome.kind === "session") return chat.handle(ws, outcome, frame);
      };
      const work = ws.data.joining ? ws.data.joining.then(handle) : handle();
      work.catch((err) => {
        log.error("frame handling failed", { err, conn: ws.data.connId });
        sendError(ws, { code: ErrorCode.InternalError, error: "the frame could not be handled" });
      });
    },

    close(ws, code) {
      const { outcome, connId, joining, joined } = ws.data;
      if (!outcome.ok || !(joining || joined)) return;
      registry.remove(ws, outcome.userId);
      registry.departed(() => {
        if (outcome.kind === "inbox") return chat.inboxes.close(ws, outcome.userId);
        return joining ? joining.then(() => chat.leave(ws, outcome)) : chat.leave(ws, outcome);
      });
      log.info("connection closed", { conn: connId, code });
    },
  };

  /** A chat socket joins its room (after a replay when resuming); an inbox socket gets its snapshot. */
  async function joined(ws: ChatSocket, outcome: Admitted): Promise<void> {
    if (outcome.kind === "session") return chat.join(ws, outcome, outcome.resume);
    if (!(await chat.inboxes.open(ws, outcome.userId))) registry.close(ws, CloseCode.UserNotFound);
  }

  /**
   * A new token for the same user extends the socket's life, once its access is checked again (the
   * backend may have removed it from the session); anything else changes nothing.
   */
  async function refresh(ws: ChatSocket, token: string) {
    const { outcome } = ws.data;
    if (!outcome.ok) return;
    const checked = await verify(token);
    if (!checked.ok || checked.userId !== outcome.userId) {
      return sendError(ws, {
        code: ErrorCode.AuthFailed,
        error: checked.ok ? "the token is for another user" : "the token is invalid or expired",
      });
    }
    let withdrawn: CloseCode | null;
    try {
      withdrawn = await accessWithdrawn(directory, outcome);
    } catch {
      return sendError(ws, { code: ErrorCode.Unavailable, error: "access could not be checked (database unavailable), retry" });
    }
    if (withdrawn !== null) return registry.close(ws, withdrawn);
    outcome.expiresAt = checked.expiresAt;
    ws.send(authOkFrame(checked.expiresAt));
  }
}
