/** What the transport keeps per socket (Bun's `ws.data`), in one place for the handlers and the registry. */
import type { ServerWebSocket } from "bun";
import type { SocketRateLimiter } from "./rate-limit.ts";
import type { UpgradeOutcome } from "./upgrade.ts";

export type SocketData = {
  connId: string;
  /** The session of a chat socket; null for an inbox socket. */
  sessionId: string | null;
  outcome: UpgradeOutcome;
  /** Created on the first frame: idle sockets stay small. */
  limiter: SocketRateLimiter | null;
  /** Settles when the socket has joined its room; leaving waits for it. Null: never joined. */
  joining: Promise<void> | null;
  /** True once `joining` settled: frames that arrive before wait for it, so nothing overtakes a replay. */
  joined: boolean;
};

export type ChatSocket = ServerWebSocket<SocketData>;
