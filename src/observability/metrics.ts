/**
 * Prometheus metrics in the text exposition format, Bun-native: counters, gauges read at scrape time,
 * and histograms with fixed buckets. About a hundred lines instead of prom-client, whose process and
 * cluster collectors lean on Node internals this service does not need.
 */
type Labels = Record<string, string>;

const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const ROWS = [1, 2, 5, 10, 20, 50, 100, 200, 500];

/** The series key; without labels (most calls, several per message) it allocates nothing. */
const labelText = (labels: Labels) => {
  let text = "";
  for (const k in labels) text += `${text ? "," : ""}${k}="${labels[k]!.replace(/["\\\n]/g, "_")}"`;
  return text ? `{${text}}` : "";
};

export class Counter {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels)) ?? 0;
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.values.size === 0) lines.push(`${this.name} 0`);
    for (const [key, value] of this.values) lines.push(`${this.name}${key} ${value}`);
    return lines;
  }
}

export class Gauge {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number,
  ) {}
  render(): string[] {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${this.read()}`];
  }
}

export class Histogram {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets = SECONDS,
  ) {}
  observe(value: number, labels: Labels = {}): void {
    const key = labelText(labels);
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [key, s] of this.series) {
      const inner = key.slice(1, -1);
      const withLe = (le: string) => `{${inner ? inner + "," : ""}le="${le}"}`;
      this.buckets.forEach((b, i) => {
        lines.push(`${this.name}_bucket${withLe(String(b))} ${s.counts[i]}`);
      });
      lines.push(
        `${this.name}_bucket${withLe("+Inf")} ${s.count}`,
        `${this.name}_sum${key} ${s.sum}`,
        `${this.name}_count${key} ${s.count}`,
      );
    }
    return lines;
  }
}

/** Every metric the service exports; gauges are attached by the composition root. */
export class Metrics {
  readonly messagesReceived = new Counter("chat_messages_received_total", "Valid message frames received from clients");
  readonly messagesPersisted = new Counter("chat_messages_persisted_total", "Messages committed to PostgreSQL by this instance");
  readonly messagesDelivered = new Counter(
    "chat_messages_delivered_total",
    "Messages published to this instance's local sockets, whatever their origin (local commit, bus, store)",
  );
  readonly frameErrors = new Counter("chat_frame_errors_total", "Error frames sent, by code");
  readonly connectionsRefused = new Counter("chat_connections_refused_total", "Connections refused, by close code or HTTP status");
  readonly connectionsOpened = new Counter("chat_connections_opened_total", "Connections accepted");
  readonly ticketsRedeemed = new Counter(
    "chat_ws_tickets_redeemed_total",
    "Connect tickets redeemed: connections opened without a JWT in the URL",
  );
  readonly socketsClosedByServer = new Counter("chat_sockets_closed_total", "Sockets closed by the server, by close code");
  readonly notifications = new Counter(
    "chat_notifications_total",
    "Offline notifications decided, by result: queued (its deliveries recorded) or skipped (read, recipient online, no target)",
  );
  readonly notificationDeliveries = new Counter(
    "chat_notification_deliveries_total",
    "Notification delivery attempts, by target (push, webhook) and result: sent, retried, failed (dead letter), gone (subscription deleted)",
  );
  readonly persistSeconds = new Histogram("chat_persist_seconds", "Time to commit a message (group commit included)");
  readonly messageSeconds = new Histogram("chat_message_seconds", "From a message frame's arrival to its broadcast on this instance");
  readonly bridgeLagSeconds = new Histogram("chat_bridge_lag_seconds", "From publication on another instance to receipt through Redis");
  readonly writeBatchSize = new Histogram("chat_db_write_batch_rows", "Rows per group-commit statement", ROWS);
  private readonly gauges: Gauge[] = [];

  gauge(name: string, help: string, read: () => number): void {
    this.gauges.push(new Gauge(name, help, read));
  }

  render(): string {
    const all = [
      this.messagesReceived,
      this.messagesPersisted,
      this.messagesDelivered,
      this.frameErrors,
      this.connectionsRefused,
      this.connectionsOpened,
      this.ticketsRedeemed,
      this.socketsClosedByServer,
      this.persistSeconds,
      this.messageSeconds,
      this.bridgeLagSeconds,
      this.writeBatchSize,
      ...this.gauges,
    ];
    return all.flatMap((m) => m.render()).join("\n") + "\n";
  }
}
