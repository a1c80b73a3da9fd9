/** `Bun.serve` wiring: health routes, the WebSocket upgrade, and 404 for everything else. */
import type { Server } from "bun";
import type { Bus, Store } from "../chat/ports.ts";
import type { ChatService } from "../chat/chat-service.ts";
import type { TokenVerifier } from "../auth/tokens.ts";
import type { Logger } from "../observability/log.ts";
import { admit, sessionIdOf } from "./upgrade.ts";
import { apiRoute } from "./api-routes.ts";
import { websocketHandler, type ChatSocket, type SocketData, type WebSocketLimits } from "./websocket.ts";

export type HttpDeps = {
  host: string;
  port: number;
  store: Store;
  bus: Bus;
  chat: ChatService;
  verify: TokenVerifier;
  log: Logger;
  limits: WebSocketLimits;
  /** False once shutdown began: new upgrades are refused. */
  accepting: () => boolean;
  /** Development-only routes (the demo); null answers 404. */
  devRoute?: (req: Request, url: URL, server: Server<SocketData>) => Promise<Response | null>;
};

const json = (status: number, body: unknown) => Response.json(body, { status });

export type HttpServer = { server: Server<SocketData>; sockets: Set<ChatSocket> };

export function startHttpServer(deps: HttpDeps): HttpServer {
  let nextConn = 0;
  const connPrefix = crypto.randomUUID().slice(0, 8);
  const sockets = new Set<ChatSocket>();

  const server = Bun.serve<SocketData>({
    hostname: deps.host,
    port: deps.port,
    development: false,
    // Never share the port silently with another process (a second instance must fail, not split traffic).
    reusePort: false,
    websocket: websocketHandler(deps.chat, deps.log, deps.limits, sockets),

    async fetch(req, server) {
      const url = new URL(req.url);
      if (url.pathname === "/healthz") return json(200, { status: "ok" });
      if (url.pathname === "/readyz") return readiness(deps);

      if (url.pathname.startsWith("/api/")) {
        return (await apiRoute(req, url, deps)) ?? json(404, { error: "not found" });
      }
      const sessionId = sessionIdOf(url.pathname);
      if (!sessionId) return (await deps.devRoute?.(req, url, server)) ?? json(404, { error: "not found" });
      if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") return json(426, { error: "websocket upgrade required" });
      if (!deps.accepting()) return json(503, { error: "shutting down, reconnect to another instance" });

      const outcome = await admit(deps.store, deps.verify, sessionId, req, url);
      const data: SocketData = { connId: `${connPrefix}-${++nextConn}`, sessionId, outcome, joining: null };
      if (server.upgrade(req, { data })) return undefined;
      return json(400, { error: "websocket upgrade failed" });
    },

    error(err) {
      deps.log.error("http handler failed", { err });
      return json(500, { error: "internal error" });
    },
  });
  return { server, sockets };
}

async function readiness({ store, bus }: HttpDeps): Promise<Response> {
  const database = await Promise.race([
    store.ping().then(() => "up" as const, () => "down" as const),
    Bun.sleep(2000).then(() => "down" as const),
  ]);
  const redis = bus.status();
  const ready = database === "up";
  const status = !ready ? "unavailable" : redis === "down" ? "degraded" : "ok";
  // Degraded still serves: sends persist and same-instance delivery works without Redis.
  return json(ready ? 200 : 503, { status, database, redis });
}
