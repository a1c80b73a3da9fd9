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
    /** Counted by label (code, result…): no sample until the first one, rather than a stray unlabelled series. */
    private readonly labelled = false,
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
    if (this.values.size === 0 && !this.labelled) lines.push(`${this.name} 0`);
    for (const [key, value] of this.values) lines.push(`${this.name}${key} ${value}`);
    return lines;
  }
}

/** A value read at scrape time: a gauge, or a counter kept elsewhere (the process's CPU seconds). */
export class Gauge {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number,
    private readonly options: { labels?: Labels; type?: "gauge" | "counter" } = {},
  ) {}
  render(): string[] {
    const type = this.options.type ?? "gauge";
    const sample = `${this.name}${labelText(this.options.labels ?? {})} ${this.read()}`;
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${type}`, sample];
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

/**
 * Every metric the service exports; gauges are attached by the composition root. Each instrument is
 * registered as it is made, so none can be left out of the rendering (test/observability.test.ts
 * checks the rendering against the table in docs/operations.md).
 */
export class Metrics {
  private readonly registered: { render(): string[] }[] = [];
  readonly messagesReceived = this.counter("chat_messages_received_total", "Valid message frames received from clients");
  readonly messagesPersisted = this.counter("chat_messages_persisted_total", "Messages committed to PostgreSQL by this instance");
  readonly messagesDelivered = this.counter(
    "chat_messages_delivered_total",
    "Messages published to this instance's local sockets, whatever their origin (local commit, bus, store)",
  );
  readonly frameErrors = this.counter("chat_frame_errors_total", "Error frames sent, by code", true);
  readonly connectionsRefused = this.counter("chat_connections_refused_total", "Connections refused, by close code or HTTP status", true);
  readonly connectionsOpened = this.counter("chat_connections_opened_total", "Connections accepted");
  readonly ticketsRedeemed = this.counter(
    "chat_ws_tickets_redeemed_total",
    "Connect tickets redeemed: connections opened without a JWT in the URL",
  );
  readonly socketsClosedByServer = this.counter("chat_sockets_closed_total", "Sockets closed by the server, by close code", true);
  readonly notifications = this.counter(
    "chat_notifications_total",
    "Offline notifications decided, by result: queued (its deliveries recorded) or skipped (read, recipient online, no target)",
    true,
  );
  readonly notificationDeliveries = this.counter(
    "chat_notification_deliveries_total",
    "Notification delivery attempts, by target (push, webhook) and result: sent, retried, failed (dead letter), gone (subscription deleted)",
    true,
  );
  readonly bridgeResyncs = this.counter(
    "chat_bridge_resyncs_total",
    "Times this instance caught its rooms up from the stores after the bus came back (what was broadcast meanwhile was lost)",
  );
  readonly persistSeconds = this.histogram("chat_persist_seconds", "Time to commit a message (group commit included)");
  readonly messageSeconds = this.histogram("chat_message_seconds", "From a message frame's arrival to its broadcast on this instance");
  readonly bridgeLagSeconds = this.histogram("chat_bridge_lag_seconds", "From publication on another instance to receipt through Redis");
  readonly writeBatchSize = this.histogram("chat_db_write_batch_rows", "Rows per group-commit statement", ROWS);

  gauge(name: string, help: string, read: () => number, options?: ConstructorParameters<typeof Gauge>[3]): void {
    this.registered.push(new Gauge(name, help, read, options));
  }

  render(): string {
    return this.registered.flatMap((m) => m.render()).join("\n") + "\n";
  }

  private counter(name: string, help: string, labelled = false): Counter {
    const counter = new Counter(name, help, labelled);
    this.registered.push(counter);
    return counter;
  }

  private histogram(name: string, help: string, buckets?: number[]): Histogram {
    const histogram = new Histogram(name, help, buckets);
    this.registered.push(histogram);
    return histogram;
  }
}
