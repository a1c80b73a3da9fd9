/**
 * The baseline: a bare `Bun.serve` pub/sub server with the real server's URL shape and message
 * frame, but no authentication, no database and no validation beyond JSON. What it costs is what
 * Bun alone costs; the real server's figures are printed as ratios to it.
 *
 * Started by the bench as a child process: PORT and HOST from the environment. The sender's id comes
 * from `?user=<id>` (the real server ignores that parameter); `?token=` is ignored here.
 */
import type { ServerWebSocket } from "bun";

const SESSION_PATH = /^\/ws\/sessions\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/?$/i;

type SocketData = { sessionId: string; userId: string };

const seqBySession = new Map<string, number>();

const server = Bun.serve<SocketData>({
  hostname: process.env.HOST ?? "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  development: false,

  fetch(req, server) {
    const url = new URL(req.url);
    if (url.pathname === "/readyz") return Response.json({ status: "ok" });
    const match = SESSION_PATH.exec(url.pathname);
    if (!match) return Response.json({ error: "not found" }, { status: 404 });
    const data: SocketData = { sessionId: match[1]!.toLowerCase(), userId: url.searchParams.get("user") ?? "unknown" };
    return server.upgrade(req, { data }) ? undefined : Response.json({ error: "upgrade failed" }, { status: 400 });
  },

  // The same socket settings as the real server.
  websocket: {
    maxPayloadLength: 65536,
    idleTimeout: 60,
    sendPings: true,
    backpressureLimit: 1048576,
    closeOnBackpressureLimit: true,
    perMessageDeflate: false,
    open(ws) {
      ws.subscribe(ws.data.sessionId);
    },
    message(ws, raw) {
      const content = messageContentOf(raw);
      if (content !== null) publishMessage(ws, content);
    },
  },
});

function messageContentOf(raw: string | Buffer): string | null {
  try {
    const frame = JSON.parse(String(raw)) as { type?: unknown; content?: unknown };
    return frame.type === "message" && typeof frame.content === "string" ? frame.content : null;
  } catch {
    return null;
  }
}

/** To every socket of the session, the sender's included, as the real server does. */
function publishMessage(ws: ServerWebSocket<SocketData>, content: string) {
  const { sessionId, userId } = ws.data;
  const seq = (seqBySession.get(sessionId) ?? 0) + 1;
  seqBySession.set(sessionId, seq);
  const frame = JSON.stringify({
    type: "message",
    message_id: crypto.randomUUID(),
    session_id: sessionId,
    seq,
    content,
    sender_id: userId,
    sender_name: `user ${userId.slice(0, 8)}`,
    // Microseconds, like the real server's timestamps, so that frames have the same size.
    created_at: new Date().toISOString().replace("Z", "000Z"),
  });
  server.publish(sessionId, frame);
}

// Never outlive the bench, even if it was killed without a chance to stop us.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1000).unref();
