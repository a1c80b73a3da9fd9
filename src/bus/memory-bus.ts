/**
 * Several instances in one process, linked by a hub: what Redis does between processes, for tests of
 * multi-instance behaviour without Redis (`bun run test:unit`). The hub carries an envelope to every
 * other node that joined its session (or user) on a later microtask, in the order it was broadcast,
 * as the network would. `cut()` is an outage: what is broadcast meanwhile is lost, and `restore()`
 * tells every node to resync, as RedisBus does when Redis is back.
 */
import type { Envelope } from "../chat/ports.ts";
import { channelFor, channelOf, inboxChannelOf } from "./envelope-codec.ts";
import { PubSub } from "./pub-sub.ts";

export class MemoryHub {
  private readonly nodes = new Set<MemoryBus>();
  private up = true;

  node(): MemoryBus {
    const node = new MemoryBus(this);
    this.nodes.add(node);
    return node;
  }

  get isUp(): boolean {
    return this.up;
  }

  cut(): void {
    this.up = false;
  }

  restore(): void {
    this.up = true;
    for (const node of this.nodes) node.backUp();
  }

  carry(from: MemoryBus, envelope: Envelope): void {
    if (!this.up) return;
    const channel = channelFor(envelope);
    const sentAt = Date.now();
    for (const node of this.nodes) {
      if (node !== from && node.listens(channel)) queueMicrotask(() => node.receive({ ...envelope, sentAt }));
    }
  }

  remove(node: MemoryBus): void {
    this.nodes.delete(node);
  }
}

export class MemoryBus extends PubSub {
  private readonly channels = new Set<string>();

  constructor(private readonly hub: MemoryHub) {
    super();
  }

  listens(channel: string): boolean {
    return this.channels.has(channel);
  }

  /** From the hub: another node's envelope. */
  receive(envelope: Envelope): void {
    if (this.hub.isUp) this.deliver(envelope);
  }

  backUp(): void {
    this.resynced();
  }

  protected send(envelope: Envelope): void {
    this.hub.carry(this, envelope);
  }

  async join(sessionId: string): Promise<void> {
    this.channels.add(channelOf(sessionId));
  }

  leave(sessionId: string): void {
    this.channels.delete(channelOf(sessionId));
  }

  async joinUser(userId: string): Promise<void> {
    this.channels.add(inboxChannelOf(userId));
  }

  leaveUser(userId: string): void {
    this.channels.delete(inboxChannelOf(userId));
  }

  status(): "up" | "down" {
    return this.hub.isUp ? "up" : "down";
  }

  async close(): Promise<void> {
    this.channels.clear();
    this.hub.remove(this);
  }
}
