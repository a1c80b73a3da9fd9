/** `Bun.serve` wiring: health, readiness, metrics, the HTTP API, and the WebSocket upgrade. */
import type { Server } from "bun";
import type { AccessSnapshot, Bus, Directory, TicketBook } from "../chat/ports.ts";
import type { ChatService } from "../chat/chat-service.ts";
import type { ChatApi } from "../chat/chat-api.ts";
import type { TokenVerifier } from "../auth/tokens.ts";
import type { Limits } from "../config/config.ts";
import type { Logger } from "../observability/log.ts";
import type { Metrics } from "../observability/metrics.ts";
import { CloseCode } from "../protocol/codes.ts";
import { admit, socketTargetOf } from "./upgrade.ts";
import { apiHandler } from "./api-routes.ts";
import { SERVER_API_PREFIX, serverApiHandler, type ServerApiDeps } from "./server-api.ts";
import type { PushApi } from "./push-routes.ts";
import { originAllowed } from "./origin.ts";
import { SocketRegistry } from "./socket-registry.ts";
import { RequestLimits, tooManyRequests } from "./request-limits.ts";
import type { TrustedProxies } from "../config/trusted-proxies.ts";
import { websocketHandler } from "./websocket.ts";
import { AccessGuard } from "./access-guard.ts";
import { withTimeout } from "../lib/timeout.ts";
import { VERSION } from "../version.ts";
import type { SocketData } from "./types.ts";

/** Where to listen and the bounds of the edge, from the configuration. */
export type HttpSettings = {
  host: string;
  port: number;
  limits: Limits;
  allowedOrigins: string[] | null;
  trustedProxies: TrustedProxies | null;
  clockSkewSeconds: number;
};

export type HttpDeps = {
  settings: HttpSettings;
  /** The HTTP API's use cases (history, unread, inbox, tickets). */
  api: ChatApi;
  /** The sockets' side of the domain. */
  chat: ChatService;
  /** Who may open which socket: the directory, and tickets spent by an upgrade. */
  admission: { directory: Directory; tickets: TicketBook };
  /** Which sessions and users still exist, for the access resync (store/access-feed.ts). */
  accessSnapshot: (sessionIds: string[], userIds: string[]) => Promise<AccessSnapshot>;
  /** What /readyz looks at. `accepting` turns false once shutdown closes the doors (upgrades refused); `draining` is true from SIGTERM on. */
  health: { pingDatabase: () => Promise<void>; redis: Bus["status"]; accepting: () => boolean; draining: () => boolean };
  verify: TokenVerifier;
  log: Logger;
  metrics: Metrics;
  /** Web Push subscriptions (null: not configured). */
  push: PushApi | null;
  /** The backend's server API (moderation): off while `key` is null. */
  serverApi: { key: string | null } & ServerApiDeps;
  /** Development-only routes: static pages (the demo page, bundled by Bun) and handlers (demo accounts). */
  dev?: {
    pages: Record<string, Bun.HTMLBundle | Response>;
    route?: (req: Request, url: URL, server: Server<SocketData>) => Promise<Response | null>;
  };
};

export type HttpServer = { server: Server<SocketData>; registry: SocketRegistry; access: AccessGuard };

const json = (status: number, body: unknown) => Response.json(body, { status });

/** How long /readyz reuses its last look at the database, and how long it waits for one. */
const READY_CACHE_MS = 1000;
const READY_PING_TIMEOUT_MS = 2000;

export function startHttpServer(deps: HttpDeps): HttpServer {
  let nextConn = 0;
  const { settings, health } = deps;
  const registry = new SocketRegistry(settings.clockSkewSeconds * 1000, deps.metrics);
  const requests = new RequestLimits(settings.limits, settings.trustedProxies);
  const access = new AccessGuard(registry, deps.accessSnapshot, deps.log);
  const api = apiHandler({
    log: deps.log,
    chat: deps.api,
    verify: deps.verify,
    requests,
    pageMaxBytes: settings.limits.historyPageMaxBytes,
    push: deps.push,
  });
  const serverApi = serverApiHandler(deps.serverApi.key, deps.serverApi, deps.log);
  deps.metrics.gauge("chat_open_sockets", "Open WebSocket connections", () => registry.size);

  const server = Bun.serve<SocketData>({
    hostname: settings.host,
    port: settings.port,
    development: false,
    routes: deps.dev?.pages ?? {},
    // Never share the port silently with another process (a second instance must fail, not split traffic).
    reusePort: false,
    // No request needs a body beyond a few bytes (POST /api/ws-ticket): refuse big ones before reading them.
    maxRequestBodySize: 64 * 1024,
    websocket: websocketHandler({
      chat: deps.chat,
      directory: deps.admission.directory,
      registry,
      access,
      requests,
      verify: deps.verify,
      limits: settings.limits,
      log: deps.log,
      metrics: deps.metrics,
    }),

    async fetch(req, server) {
      const url = urlOf(req);
      if (!url) {
        // Bun builds the URL from the Host header: an unparsable one is the client's error.
        deps.log.debug("malformed request URL or Host header");
        return json(400, { error: "malformed Host header or URL" });
      }
      if (url.pathname === "/healthz") return json(200, { status: "ok", version: VERSION });
      if (url.pathname === "/readyz") return readiness(databaseState(), health.redis(), health.draining());
      if (url.pathname === "/metrics")
        return new Response(deps.metrics.render(), { headers: { "content-type": "text/plain; version=0.0.4" } });
      const ip = () => requests.ipOf(server.requestIP(req)?.address ?? "", req.headers.get("x-forwarded-for"));
      if (url.pathname.startsWith(SERVER_API_PREFIX)) return serverApi(req, url);
      if (url.pathname.startsWith("/api/")) return api(req, url, ip);

      const target = socketTargetOf(url.pathname);
      if (!target) return (await deps.dev?.route?.(req, url, server)) ?? json(404, { error: "not found" });
      if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") return json(426, { error: "websocket upgrade required" });
      if (!originAllowed(req, settings.allowedOrigins)) return refuse(403, "origin not allowed");
      if (!health.accepting()) return refuse(503, "shutting down, reconnect to another instance");
      const wait = requests.ip(ip());
      if (wait > 0) {
        deps.metrics.connectionsRefused.inc({ code: "429" });
        deps.log.info("upgrade refused", { status: 429, reason: "too many requests from this address" });
        return tooManyRequests(wait);
      }

      const checkedAt = performance.now();
      let outcome = await admit(
        {
          ...deps.admission,
          verify: deps.verify,
          mayAttempt: (userId) => requests.connect(userId) === 0,
          onTicket: () => deps.metrics.ticketsRedeemed.inc(),
        },
        target,
        req,
        url,
      );
      if (outcome.ok && registry.connectionsOf(outcome.userId) >= settings.limits.maxConnectionsPerUser) {
        outcome = { ok: false, close: CloseCode.TooManyConnections };
      }
      // A refused socket is closed at once: it may carry its session for the log line.
      if (!outcome.ok && target.kind === "session") outcome = { ...outcome, sessionId: target.sessionId };
      const data: SocketData = {
        connId: ++nextConn,
        slot: -1,
        outcome,
        checkedAt,
        limiter: null,
        joining: null,
        joined: false,
      };
      if (server.upgrade(req, { data })) return undefined;
      return json(400, { error: "websocket upgrade failed" });
    },

    error(err) {
      deps.log.error("http handler failed", { err });
      return json(500, { error: "internal error" });
    },
  });

  /**
   * The database's state as /readyz shows it: one `SELECT 1` a second at most, whoever asks (a proxy
   * may expose the route, and a health checker may poll it hard).
   */
  let lastPing: { at: number; state: Promise<"up" | "down"> } | null = null;
  function databaseState(): Promise<"up" | "down"> {
    const now = performance.now();
    if (lastPing && now - lastPing.at < READY_CACHE_MS) return lastPing.state;
    const ping = health.pingDatabase().then(
      () => "up" as const,
      () => "down" as const,
    );
    const state = withTimeout(ping, READY_PING_TIMEOUT_MS, () => "down" as const);
    lastPing = { at: now, state };
    return state;
  }

  function refuse(status: number, error: string) {
    deps.metrics.connectionsRefused.inc({ code: String(status) });
    deps.log.info("upgrade refused", { status, reason: error });
    return json(status, { error });
  }

  return { server, registry, access };
}

function urlOf(req: Request): URL | null {
  try {
    return new URL(req.url);
  } catch {
    return null;
  }
}

async function readiness(databaseState: Promise<"up" | "down">, redis: "up" | "down" | "local", draining: boolean): Promise<Response> {
  const database = await databaseState;
  const ready = database === "up" && !draining;
  const status = draining ? "draining" : database !== "up" ? "unavailable" : redis === "down" ? "degraded" : "ok";
  // Degraded still serves: sends persist and same-instance delivery works without Redis.
  return json(ready ? 200 : 503, { status, database, redis });
}
