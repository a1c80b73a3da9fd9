/** The composition root's gauges: what this instance holds (rooms, sockets, writes, the bridge) and the notification outbox. */
import type { Bus } from "./chat/ports.ts";
import type { ChatService } from "./chat/chat-service.ts";
import type { Logger } from "./observability/log.ts";
import type { Metrics } from "./observability/metrics.ts";
import type { PostgresStore } from "./store/postgres-store.ts";

/** How often the outbox's depth is counted for the metrics (a count over its rows). */
const OUTBOX_COUNT_MS = 15_000;

/** The outbox's pending deliveries and dead letters (0 while notifications are off). */
export function observeOutbox(metrics: Metrics, store: PostgresStore | null, log: Logger): () => void {
  let depth = { pending: 0, dead: 0 };
  metrics.gauge(
    "chat_notification_outbox_pending",
    "Notification deliveries waiting or being retried (counted every 15 s)",
    () => depth.pending,
  );
  metrics.gauge("chat_notification_outbox_dead", "Notification deliveries that failed for good (counted every 15 s)", () => depth.dead);
  if (!store) return () => {};
  const count = () =>
    store.notifications.depth().then(
      (d) => {
        depth = d;
      },
      (err) => log.debug("the outbox could not be counted", { err }),
    );
  void count();
  const timer = setInterval(count, OUTBOX_COUNT_MS);
  return () => clearInterval(timer);
}

export function observe(
  metrics: Metrics,
  { store, bus, chat, poolMax }: { store: PostgresStore; bus: Bus; chat: ChatService; poolMax: number },
) {
  metrics.gauge("chat_rooms", "Sessions with at least one socket on this instance", () => chat.roomCount);
  metrics.gauge("chat_inbox_sockets", "Inbox sockets open on this instance", () => chat.inboxes.socketCount);
  metrics.gauge("chat_db_writes_pending", "Messages waiting for the next group commit", () => store.writer.pending);
  metrics.gauge("chat_db_pool_max", "PostgreSQL connections this instance may open", () => poolMax);
  metrics.gauge("chat_redis_configured", "1 when this instance bridges through Redis, 0 when it runs alone", () =>
    bus.status() === "local" ? 0 : 1,
  );
  metrics.gauge("chat_redis_up", "1 when the Redis bridge is connected; 0 when it is down or there is none", () =>
    bus.status() === "up" ? 1 : 0,
  );
  metrics.gauge("chat_bridge_unsent", "Envelopes waiting to be published while Redis is down (bounded at 10,000)", () => bus.backlog());
}
