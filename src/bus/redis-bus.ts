/**
 * Fan-out between instances over Redis sharded pub/sub (SSUBSCRIBE/SPUBLISH): on a Redis Cluster a
 * channel lives on one shard instead of being copied to every node. One subscriber connection,
 * subscribed only to sessions with local sockets, and one publisher connection.
 *
 * Redis is best-effort transport: while it is down, envelopes that could not be published wait in a
 * bounded buffer, and when the subscriber is back the chat service is told to resync its rooms from
 * the store (seq numbers make both safe to repeat).
 */
import Redis from "ioredis";
import type { Bus, Envelope } from "../chat/ports.ts";
import type { Logger } from "../observability/log.ts";
import { channelOf, decode, encode, sessionOf } from "./envelope-codec.ts";

const MAX_UNSENT = 10_000;

export class RedisBus implements Bus {
  /** Identifies this instance on the bus (its own envelopes are ignored) and in presence entries. */
  readonly origin = crypto.randomUUID();
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly channels = new Set<string>();
  private unsent: string[][] = [];
  private envelopeHandler: (e: Envelope) => void = () => {};
  private resyncHandler: () => void = () => {};
  private wasDown = false;
  private lastState: "up" | "down" | null = null;
  private closing = false;

  constructor(
    url: string,
    private readonly log: Logger,
  ) {
    const options = {
      lazyConnect: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times: number) => Math.min(50 * times, 500),
      connectTimeout: 2000,
    };
    // The publisher must fail fast while down: the bounded `unsent` buffer replaces ioredis' unbounded queue.
    this.pub = new Redis(url, { ...options, enableOfflineQueue: false, connectionName: "chat-pub" });
    // Resubscription is ours (not ioredis' autoResubscribe) so that resync starts only once it is confirmed.
    this.sub = new Redis(url, { ...options, autoResubscribe: false, connectionName: "chat-sub" });
    this.sub.on("smessage", (channel: string, payload: string) => this.receive(channel, payload));
    this.sub.on("ready", () => void this.onSubscriberReady());
    this.pub.on("ready", () => this.flushUnsent());
    for (const conn of [this.pub, this.sub]) {
      conn.on("error", () => {}); // state changes are logged once by reportState
      conn.on("close", () => this.reportState());
      conn.on("ready", () => this.reportState());
    }
  }

  /** Resolves when Redis first answered, or rejects after `timeoutMs`. */
  async ready(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.status() !== "up") {
      if (Date.now() > deadline) throw new Error("Redis not reachable");
      await Bun.sleep(20);
    }
  }

  async join(sessionId: string): Promise<void> {
    const channel = channelOf(sessionId);
    this.channels.add(channel);
    if (this.sub.status === "ready") await this.sub.ssubscribe(channel);
    else this.wasDown = true; // subscribed on reconnect; the room then resyncs
  }

  leave(sessionId: string): void {
    const channel = channelOf(sessionId);
    this.channels.delete(channel);
    if (this.sub.status === "ready") this.sub.sunsubscribe(channel).catch(() => {});
  }

  publish(envelope: Envelope): void {
    const args = [channelOf(envelope.sessionId), encode(this.origin, envelope)];
    if (this.pub.status !== "ready") return this.keep(envelope, args);
    this.pub.spublish(args[0]!, args[1]!).catch(() => this.keep(envelope, args));
  }

  /** The connection for ordinary commands (presence); it fails fast while Redis is down. */
  get commands(): Redis {
    return this.pub;
  }

  onEnvelope(handler: (e: Envelope) => void): void {
    this.envelopeHandler = handler;
  }

  onResync(handler: () => void): void {
    this.resyncHandler = handler;
  }

  status(): "up" | "down" {
    return this.pub.status === "ready" && this.sub.status === "ready" ? "up" : "down";
  }

  async close(): Promise<void> {
    this.closing = true;
    this.flushUnsent();
    await Promise.allSettled([this.pub.quit(), this.sub.quit()]);
    this.pub.disconnect();
    this.sub.disconnect();
  }

  private receive(channel: string, payload: string) {
    const sessionId = sessionOf(channel);
    const decoded = sessionId ? decode(sessionId, payload) : null;
    if (!decoded || decoded.origin === this.origin) return; // our own: already delivered locally
    this.envelopeHandler(decoded.envelope);
  }

  private async onSubscriberReady() {
    const channels = [...this.channels];
    try {
      await Promise.all(channels.map((c) => this.sub.ssubscribe(c)));
    } catch (err) {
      this.log.warn("redis resubscribe failed", { err });
      return;
    }
    if (this.wasDown) {
      this.wasDown = false;
      this.resyncHandler();
    }
  }

  /** Messages and presence changes are kept for replay (receivers drop what they already have); typing is ephemeral. */
  private keep(envelope: Envelope, args: string[]) {
    if (envelope.kind === "direct" || this.closing) return;
    if (this.unsent.length >= MAX_UNSENT) this.unsent.shift(); // receivers recover the rest from the store
    this.unsent.push(args);
  }

  private flushUnsent() {
    if (this.pub.status !== "ready") return;
    const pending = this.unsent;
    this.unsent = [];
    for (const [channel, payload] of pending) this.pub.spublish(channel!, payload!).catch(() => {});
  }

  private reportState() {
    const state = this.status();
    if (state === this.lastState || this.closing) return;
    if (state === "down") {
      this.wasDown = true;
      if (this.lastState) this.log.warn("redis bridge down: sending and same-instance delivery continue; other instances catch up when it returns");
    } else if (this.lastState) {
      this.log.info("redis bridge up again");
    }
    this.lastState = state;
  }
}
