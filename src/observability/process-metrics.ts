/**
 * What operators size and alert on, about the process itself: memory, CPU, file descriptors, how
 * late the event loop runs, and which build this is. Read at scrape time, except the event loop's
 * lag, which a timer samples (unref'd: it never keeps the process alive).
 */
import { readdirSync } from "node:fs";
import type { Metrics } from "./metrics.ts";

const LAG_SAMPLE_MS = 500;

/** Registers the process's metrics; returns the function that stops the lag sampler. */
export function registerProcessMetrics(metrics: Metrics, version: string): () => void {
  const startedAt = Date.now() / 1000 - process.uptime();
  metrics.gauge("chat_build_info", "Always 1; the version label says which build runs", () => 1, { labels: { version } });
  metrics.gauge("process_resident_memory_bytes", "Resident memory of this process", () => process.memoryUsage.rss());
  metrics.gauge("process_cpu_seconds_total", "User and system CPU time of this process", cpuSeconds, { type: "counter" });
  metrics.gauge("process_open_fds", "Open file descriptors of this process (sockets included)", openFds);
  metrics.gauge("process_start_time_seconds", "When this process started (Unix seconds)", () => startedAt);
  let lag = 0;
  let expected = performance.now() + LAG_SAMPLE_MS;
  const timer = setInterval(() => {
    const now = performance.now();
    lag = Math.max(0, now - expected) / 1000;
    expected = now + LAG_SAMPLE_MS;
  }, LAG_SAMPLE_MS);
  timer.unref();
  metrics.gauge("chat_event_loop_lag_seconds", "How late the last event-loop sample ran (sampled every 0.5 s)", () => lag);
  return () => clearInterval(timer);
}

function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** Linux: the entries of /proc/self/fd; -1 where the process cannot list them. */
function openFds(): number {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return -1;
  }
}
