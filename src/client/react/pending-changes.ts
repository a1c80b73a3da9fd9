/**
 * The user's edits, deletions and reactions from the moment they are asked for until the server
 * stored them (they then show in the messages) or refused them (they stay, "failed", for a retry).
 */
import type { ChatClient } from "../chat-client.ts";
import { newClientId } from "../client-id.ts";
import type { ChatError } from "../types.ts";

/** An edit, a deletion or a reaction not acknowledged yet: show it on the message `seq` as pending. */
export type PendingChange = ({ kind: "edit"; content: string } | { kind: "delete" } | { kind: "react"; emoji: string; on: boolean }) & {
  id: string;
  seq: number;
  /** "sending" until stored (then the message shows it and it leaves `pendingChanges`); "failed" after a refusal. */
  status: "sending" | "failed";
  error: ChatError | null;
};

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type ChangeClient = Pick<ChatClient, "edit" | "remove" | "react">;

export class PendingChanges {
  constructor(
    private readonly list: () => readonly PendingChange[],
    private readonly set: (list: readonly PendingChange[]) => void,
  ) {}

  add(what: DistributiveOmit<PendingChange, "id" | "seq" | "status" | "error">, seq: number, client: ChangeClient | null): void {
    const pending = { ...what, id: newClientId(), seq, status: "sending", error: null } as PendingChange;
    this.set([...this.list(), pending]);
    this.send(pending, client);
  }

  /** Sends a failed change again (harmless if it was applied after all). */
  retry(id: string, client: ChangeClient | null): void {
    const failed = this.list().find((c) => c.id === id && c.status === "failed");
    if (failed) this.send(failed, client);
  }

  /** Forgets a failed change. */
  discard(id: string): void {
    this.set(this.list().filter((c) => c.id !== id || c.status !== "failed"));
  }

  /** The client sends it (again on every reconnect) until the server answers; its `change` event shows it. */
  private send(c: PendingChange, client: ChangeClient | null) {
    const patch = (p: Partial<PendingChange>) => this.set(this.list().map((x) => (x.id === c.id ? ({ ...x, ...p } as PendingChange) : x)));
    if (!client) return patch({ status: "failed" });
    patch({ status: "sending", error: null });
    const sent =
      c.kind === "edit" ? client.edit(c.seq, c.content) : c.kind === "delete" ? client.remove(c.seq) : client.react(c.seq, c.emoji, c.on);
    sent.then(
      () => this.set(this.list().filter((x) => x.id !== c.id)),
      (error: ChatError) => patch({ status: "failed", error }),
    );
  }
}
