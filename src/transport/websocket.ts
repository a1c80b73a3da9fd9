/** Bun's WebSocket handlers: thin, each hands a parsed frame to the chat domain. */
import type { ServerWebSocket, WebSocketHandler } from "bun";
import type { ChatService } from "../chat/chat-service.ts";
import { CloseCode, CloseReason, ErrorCode } from "../protocol/codes.ts";
import { errorFrame, parseClientFrame } from "../protocol/frames.ts";
import type { Logger } from "../observability/log.ts";
import type { UpgradeOutcome } from "./upgrade.ts";

export type SocketData = {
  connId: string;
  sessionId: string;
  outcome: UpgradeOutcome;
  /** Settles when the socket has joined its room; leaving waits for it. Null: never joined. */
  joining: Promise<void> | null;
};
export type ChatSocket = ServerWebSocket<SocketData>;

export type WebSocketLimits = { maxFrameBytes: number; idleTimeoutSeconds: number; backpressureLimitBytes: number };

/** `sockets` is filled with every open socket: shutdown closes them with 1001. */
export function websocketHandler(
  chat: ChatService,
  log: Logger,
  limits: WebSocketLimits,
  sockets: Set<ChatSocket>,
): WebSocketHandler<SocketData> {
  return {
    maxPayloadLength: limits.maxFrameBytes,
    idleTimeout: limits.idleTimeoutSeconds,
    sendPings: true,
    backpressureLimit: limits.backpressureLimitBytes,
    closeOnBackpressureLimit: true,
    perMessageDeflate: false,

    open(ws) {
      const { outcome, connId, sessionId } = ws.data;
      if (!outcome.ok) {
        log.info("connection refused", { conn: connId, session_id: sessionId, close_code: outcome.close });
        ws.close(outcome.close, CloseReason[outcome.close]);
        return;
      }
      log.info("connection opened", { conn: connId, session_id: sessionId, user_id: outcome.member.user.userId });
      sockets.add(ws);
      ws.data.joining = chat.join(ws, outcome.member, outcome.afterSeq).catch((err) => {
        // The replay could not be read: the client reconnects and resumes from the same point.
        log.warn("join failed", { err, conn: connId });
        ws.close(CloseCode.TryAgainLater, CloseReason[CloseCode.TryAgainLater]);
      });
    },

    message(ws, raw) {
      const { outcome } = ws.data;
      if (!outcome.ok) return;
      if (typeof raw !== "string") {
        ws.send(errorFrame({ code: ErrorCode.BinaryFrame, error: "binary frames are not supported: send JSON text" }));
        return;
      }
      const parsed = parseClientFrame(raw);
      if (!parsed.ok) {
        ws.send(errorFrame(parsed.error));
        return;
      }
      chat.handle(ws, outcome.member, parsed.frame).catch((err) => {
        log.error("frame handling failed", { err, conn: ws.data.connId });
        ws.send(errorFrame({ code: ErrorCode.InternalError, error: "the frame could not be handled" }));
      });
    },

    close(ws, code) {
      const { outcome, connId, joining } = ws.data;
      if (!outcome.ok || !joining) return;
      sockets.delete(ws);
      void joining.then(() => chat.leave(ws, outcome.member));
      log.debug("connection closed", { conn: connId, code });
    },
  };
}
