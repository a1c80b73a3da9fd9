/**
 * Fan-out between instances over Redis sharded pub/sub (SSUBSCRIBE/SPUBLISH): on a Redis Cluster a
 * channel lives on the shard that owns its slot instead of being copied to every node. One subscriber
 * (on a cluster, one connection per master that owns a subscribed channel), subscribed only to
 * sessions with local sockets, and one publisher.
 *
 * Redis is best-effort transport: while it is down (or a cluster shard fails over), envelopes that
 * could not be published wait in a bounded buffer, and when the subscriptions are back the chat
 * service is told to resync its rooms from the store (seq numbers make both safe to repeat).
 * "Back" means every channel's SSUBSCRIBE was answered: a connection that is up but refuses a
 * subscription (a cluster node still rejoining says CLUSTERDOWN) keeps the bridge down and is asked again.
 */
import type { Envelope } from "../chat/ports.ts";
import { PubSub } from "./pub-sub.ts";
import { withTimeout } from "../lib/timeout.ts";
import type { Logger } from "../observability/log.ts";
import { batchable, decode, encode, encodeBatch } from "./envelope-codec.ts";
import { RedisNames } from "./redis-names.ts";
import type { RedisClient, RedisConnections } from "./redis-connect.ts";

const MAX_UNSENT = 10_000;
/** The longest a room waits for its subscription before it opens anyway (it resyncs later). */
const JOIN_WAIT_MS = 2000;
/** How often envelopes that could not be published are tried again. */
const RETRY_UNSENT_MS = 250;
/** How long to wait before subscribing again after Redis refused a subscription, and the longest an attempt may take. */
const RESUBSCRIBE_RETRY_MS = 250;
const RESUBSCRIBE_TIMEOUT_MS = 2000;
/** The most channels one SSUBSCRIBE or SUNSUBSCRIBE names. */
const MAX_CHANNELS_PER_COMMAND = 1000;

type SubscriptionOp = "ssubscribe" | "sunsubscribe";
/** Consecutive (un)subscriptions of one kind, sent as one command. */
type SubscriptionRun = { op: SubscriptionOp; channels: string[]; answered: PromiseWithResolvers<void> };

export class RedisBus extends PubSub {
  /** Identifies this instance on the bus (its own envelopes are ignored) and in presence entries. */
  private readonly originPrefix: string;
  private readonly pub: RedisClient;
  private readonly sub: RedisClient;
  /** Every subscribed channel's SSUBSCRIBE was answered since the subscriber last (re)connected. */
  private subscriptionsConfirmed = true;
  private resubscribing = false;
  private resubscribeAgain = false;
  private retryTimer: Timer | null = null;
  private readonly channels = new Set<string>();
  private unsent: string[][] = [];
  /** Envelopes published in this tick, per channel: sent together at its end (one SPUBLISH per channel). */
  private outbox = new Map<string, Envelope[]>();
  private wasDown = false;
  private lastState: "up" | "down" | null = null;
  private closing = false;
  private readonly unknownKinds = new Set<string>();
  /** (Un)subscriptions asked in this turn of the event loop, in order: sent together at its end. */
  private queued: SubscriptionRun[] = [];

  constructor(
    private readonly connections: RedisConnections,
    private readonly log: Logger,
    /** Identifies this instance on the bus (its own envelopes are dropped) and in presence entries: the instance id of its logs. */
    readonly origin: string = crypto.randomUUID(),
    /** This deployment's channel names (REDIS_KEY_PREFIX). */
    private readonly names: RedisNames = new RedisNames(),
  ) {
    super();
    this.originPrefix = `${origin} `;
    this.pub = connections.commands;
    this.sub = connections.subscriber;
    this.sub.on("smessage", (channel: string, payload: string) => this.receive(channel, payload));
    // On a cluster the shards' subscribers may be ready before the client passed its own ready check.
    this.sub.on("ready", () => void this.resubscribe());
    if (connections.mode === "cluster") {
      // ioredis follows the cluster (MOVED, failover, resharding) and resubscribes each shard's
      // channels itself, but ignores a refusal: the bus subscribes them again and waits for the answers.
      this.sub.on("-node", (_redis: unknown, nodeKey?: string) => nodeKey && this.shardLost());
      this.sub.on("subscribersReady", () => void this.resubscribe());
    }
    this.pub.on("ready", () => this.flushUnsent());
    for (const conn of [this.pub, this.sub]) {
      conn.on("error", () => {}); // state changes are logged once by reportState
      conn.on("close", () => this.reportState());
      conn.on("end", () => this.reportState());
      conn.on("ready", () => this.reportState());
    }
  }

  get mode(): "single" | "cluster" {
    return this.connections.mode;
  }

  /** Resolves when Redis first answered, or rejects after `timeoutMs`. */
  async ready(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.status() !== "up") {
      if (Date.now() > deadline) throw new Error("Redis not reachable");
      await Bun.sleep(20);
    }
  }

  /**
   * Resolves once subscribed, or at once while Redis is unreachable (the subscription is made when it
   * is back, and the room then resyncs), and never later than JOIN_WAIT_MS: a joining socket must not
   * wait for a shard that is failing over.
   */
  join(sessionId: string): Promise<void> {
    return this.subscribe(this.names.channelOf(sessionId));
  }

  leave(sessionId: string): void {
    this.unsubscribe(this.names.channelOf(sessionId));
  }

  joinUser(userId: string): Promise<void> {
    return this.subscribe(this.names.inboxChannelOf(userId));
  }

  leaveUser(userId: string): void {
    this.unsubscribe(this.names.inboxChannelOf(userId));
  }

  private async subscribe(channel: string): Promise<void> {
    this.channels.add(channel);
    if (this.sub.status !== "ready") {
      this.wasDown = true;
      // A single server is resubscribed by onSubscriberReady; the cluster client queues the command itself.
      if (this.mode === "cluster") this.sub.ssubscribe(channel).catch(() => {});
      return;
    }
    try {
      await withTimeout(this.command("ssubscribe", channel), JOIN_WAIT_MS, () => {
        this.wasDown = true;
      });
    } catch {
      this.wasDown = true;
      void this.resubscribe();
    }
  }

  private unsubscribe(channel: string): void {
    this.channels.delete(channel);
    if (this.sub.status === "ready") this.command("sunsubscribe", channel).catch(() => {});
  }

  /**
   * On one Redis, the (un)subscriptions of a turn of the event loop leave as one command per run of a
   * kind, in the order asked: in a reconnect storm each socket's open is its own turn of JavaScript,
   * and one write per channel cost more than the rest of the subscription. A cluster's channels are
   * on different slots, which one command may not mix: there each goes alone.
   */
  private command(op: SubscriptionOp, channel: string): Promise<unknown> {
    if (this.mode === "cluster") return this.sub[op](channel);
    const last = this.queued.at(-1);
    if (last?.op === op && last.channels.length < MAX_CHANNELS_PER_COMMAND) {
      last.channels.push(channel);
      return last.answered.promise;
    }
    if (this.queued.length === 0) setImmediate(() => this.sendQueued());
    const run: SubscriptionRun = { op, channels: [channel], answered: Promise.withResolvers<void>() };
    this.queued.push(run);
    return run.answered.promise;
  }

  private sendQueued() {
    const runs = this.queued;
    this.queued = [];
    for (const { op, channels, answered } of runs) this.sub[op](...channels).then(() => answered.resolve(), answered.reject);
  }

  /**
   * Queued for the end of the tick: a committed batch settles all its messages in one tick, so each
   * session's channel gets one SPUBLISH for all of them (in order), and each subscriber one message
   * to parse instead of one per chat message.
   */
  protected send(envelope: Envelope): void {
    if (this.outbox.size === 0) queueMicrotask(() => this.flushOutbox());
    const channel = this.names.channelFor(envelope);
    const queued = this.outbox.get(channel);
    if (queued) queued.push(envelope);
    else this.outbox.set(channel, [envelope]);
  }

  private flushOutbox() {
    const outbox = this.outbox;
    this.outbox = new Map();
    for (const [channel, envelopes] of outbox) {
      const together = envelopes.length > 1 && envelopes.every(batchable);
      if (together) this.publish(envelopes, [channel, encodeBatch(this.origin, envelopes)]);
      else for (const e of envelopes) this.publish([e], [channel, encode(this.origin, e)]);
    }
  }

  private publish(envelopes: Envelope[], args: string[]) {
    if (this.pub.status !== "ready") {
      this.keep(envelopes, args);
      return;
    }
    this.pub.spublish(args[0]!, args[1]!).catch(() => this.keep(envelopes, args));
  }

  override backlog(): number {
    return this.unsent.length;
  }

  status(): "up" | "down" {
    const subscribed = this.sub.status === "ready" && this.subscriptionsConfirmed;
    return this.pub.status === "ready" && subscribed ? "up" : "down";
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.flushOutbox();
    this.flushUnsent();
    await Promise.allSettled([this.pub.quit(), this.sub.quit()]);
    this.pub.disconnect();
    this.sub.disconnect();
  }

  private receive(channel: string, payload: string) {
    // Our own (already delivered locally) come back too: dropped before any parsing.
    if (payload.startsWith(this.originPrefix)) return;
    const route = this.names.routeOf(channel);
    const decoded = route ? decode(route, payload) : null;
    if (!decoded || decoded.origin === this.origin) return;
    for (const envelope of decoded.envelopes) this.deliver(envelope);
    for (const kind of decoded.unknownKinds) this.noteUnknownKind(kind, decoded.wire);
  }

  /** A newer instance sends a kind this version skips (a rolling upgrade): said once per kind. */
  private noteUnknownKind(kind: string, wire: number) {
    if (this.unknownKinds.has(kind)) return;
    this.unknownKinds.add(kind);
    this.log.info("skipping envelopes of a kind this version does not know, from a newer instance", { kind, wire });
  }

  /**
   * Subscribes every channel again until Redis has answered each SSUBSCRIBE, asking again every
   * RESUBSCRIBE_RETRY_MS (also while the subscriber is still reconnecting: ioredis' events alone do
   * not say when a cluster's subscribers are all back), then resyncs the rooms if anything was missed.
   * The answers are the truth: ioredis' own resubscription drops refusals.
   */
  private async resubscribe(): Promise<void> {
    this.subscriptionsConfirmed = false;
    // On a cluster each channel is unsubscribed for a moment (subscribeAgain): what was published then
    // comes from the store, so the rooms always resync afterwards.
    if (this.mode === "cluster") this.wasDown = true;
    if (this.resubscribing) {
      this.resubscribeAgain = true;
      return;
    }
    this.resubscribing = true;
    let refusals = 0;
    try {
      while (!this.closing) {
        this.resubscribeAgain = false;
        const refusal = this.sub.status === "ready" ? await this.subscribeAll() : "not connected";
        if (refusal === null && !this.resubscribeAgain) break;
        if (refusal === null) continue;
        if (refusal !== "not connected" && refusals++ === 0)
          this.log.warn("redis refused a subscription; asking again until it takes it", { err: refusal });
        this.wasDown = true;
        this.reportState();
        await Bun.sleep(RESUBSCRIBE_RETRY_MS);
      }
    } finally {
      this.resubscribing = false;
    }
    if (this.closing) return;
    this.subscriptionsConfirmed = true;
    this.reportState();
    if (this.wasDown) {
      this.wasDown = false;
      this.resynced();
    }
  }

  /** null once every channel is subscribed, else why not. */
  private subscribeAll(): Promise<unknown> {
    const all = Promise.all([...this.channels].map((c) => this.subscribeAgain(c))).then(
      () => null,
      (err: unknown) => err ?? new Error("redis resubscribe failed"),
    );
    return withTimeout(all, RESUBSCRIBE_TIMEOUT_MS, () => new Error("redis resubscribe timed out"));
  }

  /**
   * ioredis' cluster client keeps its own list of each slot's channels and appends to it on every
   * SSUBSCRIBE: unsubscribing first keeps one entry per channel (the resync covers the moment between).
   */
  private async subscribeAgain(channel: string): Promise<void> {
    if (this.mode === "cluster") await this.sub.sunsubscribe(channel);
    await this.sub.ssubscribe(channel);
    if (!this.channels.has(channel)) await this.sub.sunsubscribe(channel); // left meanwhile
  }

  /** A shard's subscriber connection ended: down (resubscribe unconfirms at once) until every channel is confirmed again. */
  private shardLost() {
    this.wasDown = true;
    void this.resubscribe();
    this.reportState();
  }

  /** Messages, presence changes and inbox touches are kept for replay (receivers drop what they already have); typing is ephemeral. */
  private keep(envelopes: Envelope[], args: string[]) {
    const kept = envelopes.filter((e) => e.kind !== "direct");
    if (kept.length === envelopes.length) this.keepForRetry(args);
    else if (kept.length === 1) this.keepForRetry([args[0]!, encode(this.origin, kept[0]!)]);
    else if (kept.length > 1) this.keepForRetry([args[0]!, encodeBatch(this.origin, kept)]);
  }

  private keepForRetry(args: string[]) {
    if (this.closing) return;
    if (this.unsent.length >= MAX_UNSENT) this.unsent.shift(); // receivers recover the rest from the store
    this.unsent.push(args);
    // A cluster's publisher stays "ready" while one shard fails over: try again on a timer too.
    this.retryTimer ??= setTimeout(() => {
      this.retryTimer = null;
      this.flushUnsent();
    }, RETRY_UNSENT_MS);
  }

  private flushUnsent() {
    if (this.pub.status !== "ready" || this.unsent.length === 0) return;
    const pending = this.unsent;
    this.unsent = [];
    for (const args of pending) this.pub.spublish(args[0]!, args[1]!).catch(() => this.keepForRetry(args));
  }

  private reportState() {
    const state = this.status();
    if (state === this.lastState || this.closing) return;
    if (state === "down") {
      this.wasDown = true;
      if (this.lastState)
        this.log.warn("redis bridge down: sending and same-instance delivery continue; other instances catch up when it returns");
    } else if (this.lastState) {
      this.log.info("redis bridge up again");
    }
    this.lastState = state;
  }
}
