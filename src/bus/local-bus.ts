/** A single instance: nothing crosses processes, so the bus has nothing to do. */
import type { Bus } from "../chat/ports.ts";

export class LocalBus implements Bus {
  async join(): Promise<void> {}
  leave(): void {}
  async joinUser(): Promise<void> {}
  leaveUser(): void {}
  publish(): void {}
  onEnvelope(): void {}
  onResync(): void {}
  status() {
    return "local" as const;
  }
  async close(): Promise<void> {}
}
