/** What the transport keeps per socket (Bun's `ws.data`), in one place for the handlers and the registry. */
import type { ServerWebSocket } from "bun";
import type { SocketRateLimiter } from "./rate-limit.ts";
import type { UpgradeOutcome } from "./upgrade.ts";

export type SocketData = {
  /** Unique on this instance (the logger adds the instance). */
  connId: number;
  /** Its index in the registry's list of open sockets; -1 when not in it. */
  slot: number;
  outcome: UpgradeOutcome;
  /** performance.now() before the admission read the database: access changes told since then are checked at open. */
  checkedAt: number;
  /** Created on the first frame: idle sockets stay small. */
  limiter: SocketRateLimiter | null;
  /** Settles when the socket has joined its room (or got its inbox snapshot); frames and leaving wait for it. Null once settled. */
  joining: Promise<void> | null;
  /** True once `joining` settled. Neither joining nor joined: refused, never opened. */
  joined: boolean;
};

export type ChatSocket = ServerWebSocket<SocketData>;
