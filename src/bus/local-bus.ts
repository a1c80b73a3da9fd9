/** A single instance: every envelope is this instance's own, delivered by the broadcast itself; nothing crosses processes. */
import type { Envelope } from "../chat/ports.ts";
import { PubSub } from "./pub-sub.ts";

export class LocalBus extends PubSub {
  protected send(_envelope: Envelope): void {}
  async join(): Promise<void> {}
  leave(): void {}
  async joinUser(): Promise<void> {}
  leaveUser(): void {}
  status() {
    return "local" as const;
  }
  async close(): Promise<void> {}
}
