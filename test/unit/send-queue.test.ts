/** SendQueue: frames awaiting acknowledgement, their ids, retries, resends on a new socket or after silence, the in-flight window. */
import { describe, expect, test } from "bun:test";
import { SendQueue, type SendQueueOptions } from "../../src/client/send-queue.ts";
import { ChatError, type ErrorFrame } from "../../src/client/types.ts";

/** Records what is sent on it: the queue only calls send() and compares sockets by identity. */
class FakeSocket {
  sent: string[] = [];
  send(text: string) {
    this.sent.push(text);
  }
  frames(): Record<string, unknown>[] {
    return this.sent.map((t) => JSON.parse(t));
  }
}

/** A queue over a socket the test swaps (or takes away) at will. */
function queueOn<R>(options: SendQueueOptions, first: FakeSocket | null = new FakeSocket()) {
  const holder = { socket: first };
  // The cast: a FakeSocket has the only member the queue uses (send), and a real WebSocket needs a server.
  const queue = new SendQueue<R>(() => holder.socket as unknown as WebSocket | null, options);
  return { queue, holder };
}

const refusal = (code: string, ids: Partial<Pick<ErrorFrame, "client_id" | "change_id">>): [ErrorFrame, ChatError] => [
  { code, error: `refused: ${code}`, ...ids },
  new ChatError(code, `refused: ${code}`),
];

const FAST = { initialMs: 1, maxMs: 5 };

describe("SendQueue", () => {
  test("the frame goes out at once with its id under idField; a generated id when none is given", () => {
    const changes = queueOn<void>({ idField: "change_id" });
    void changes.queue.add({ type: "edit", seq: 3, content: "x" }, "c-1");
    expect(changes.holder.socket!.frames()).toEqual([{ type: "edit", seq: 3, content: "x", change_id: "c-1" }]);

    const sends = queueOn<string>({ idField: "client_id" });
    void sends.queue.add({ type: "message", content: "hi" });
    const [frame] = sends.holder.socket!.frames();
    expect(typeof frame!.client_id).toBe("string");
    expect((frame!.client_id as string).length).toBeGreaterThan(0);
    expect(frame!.change_id).toBeUndefined();
  });

  test("the same id is queued once: the second add returns the same promise and sends nothing", () => {
    const { queue, holder } = queueOn<string>({ idField: "client_id" });
    const a = queue.add({ type: "message", content: "a" }, "id-1");
    const b = queue.add({ type: "message", content: "a" }, "id-1");
    expect(b).toBe(a);
    expect(holder.socket!.sent).toHaveLength(1);
    expect(queue.size).toBe(1);
  });

  test("acknowledged resolves with the result and forgets the frame; unknown or missing ids change nothing", async () => {
    const { queue } = queueOn<{ seq: number }>({ idField: "client_id" });
    const p = queue.add({ type: "message", content: "a" }, "id-1");
    queue.acknowledged("other", { seq: 99 });
    queue.acknowledged(undefined, { seq: 98 });
    expect(queue.size).toBe(1);
    queue.acknowledged("id-1", { seq: 7 });
    expect(await p).toEqual({ seq: 7 });
    expect(queue.size).toBe(0);
  });

  test("a retryable refusal is sent again after a backoff, same frame, up to 5 times; the 6th refusal rejects", async () => {
    const { queue, holder } = queueOn<string>({ idField: "client_id", backoff: FAST });
    const ws = holder.socket!;
    const p = queue.add({ type: "message", content: "a" }, "id-1");
    const outcome = p.then(
      () => "resolved",
      (e: ChatError) => e,
    );
    for (let i = 1; i <= 5; i++) {
      const code = i % 2 ? "unavailable" : "rate_limited";
      expect(queue.refused(...refusal(code, { client_id: "id-1" }))).toBe(true);
      // Waiting for its backoff: another frame's pump does not send it early.
      void queue.add({ type: "message", content: `other ${i}` }, `other-${i}`);
      expect(ws.sent.filter((t) => t.includes('"id-1"'))).toHaveLength(i);
      await Bun.sleep(20);
      expect(ws.sent.filter((t) => t.includes('"id-1"'))).toHaveLength(i + 1);
    }
    expect(new Set(ws.sent.filter((t) => t.includes('"id-1"')))).toEqual(
      new Set([JSON.stringify({ type: "message", content: "a", client_id: "id-1" })]),
    );
    const [frame, error] = refusal("unavailable", { client_id: "id-1" });
    expect(queue.refused(frame, error)).toBe(true);
    expect(await outcome).toBe(error);
    expect(queue.size).toBe(5); // only the others remain
    await Bun.sleep(20);
    expect(ws.sent.filter((t) => t.includes('"id-1"'))).toHaveLength(6);
  });

  test("a retry acknowledged after a refusal resolves", async () => {
    const { queue, holder } = queueOn<string>({ idField: "client_id", backoff: FAST });
    const p = queue.add({ type: "message", content: "a" }, "id-1");
    queue.refused(...refusal("unavailable", { client_id: "id-1" }));
    await Bun.sleep(20);
    expect(holder.socket!.sent).toHaveLength(2);
    queue.acknowledged("id-1", "stored");
    expect(await p).toBe("stored");
  });

  test("a non-retryable refusal rejects with the ChatError given; a refusal of an unknown id is not ours", async () => {
    const { queue, holder } = queueOn<void>({ idField: "change_id", backoff: FAST });
    const p = queue.add({ type: "edit", seq: 1, content: "x" }, "c-1");
    expect(queue.refused(...refusal("not_sender", { change_id: "c-2" }))).toBe(false);
    expect(queue.refused(...refusal("not_sender", { client_id: "c-1" }))).toBe(false); // the other id field
    expect(queue.size).toBe(1);
    const [frame, error] = refusal("not_sender", { change_id: "c-1" });
    expect(queue.refused(frame, error)).toBe(true);
    await expect(p).rejects.toBe(error);
    expect(queue.size).toBe(0);
    await Bun.sleep(20);
    expect(holder.socket!.sent).toHaveLength(1); // not retried
  });

  test("a refusal whose code is in doneOn resolves; other codes still reject", async () => {
    const { queue } = queueOn<void>({ idField: "change_id", backoff: FAST });
    const done = new Set(["message_deleted"]);
    const deleted = queue.add({ type: "delete", seq: 1 }, "c-1", done);
    const other = queue.add({ type: "delete", seq: 2 }, "c-2", done);
    const plain = queue.add({ type: "edit", seq: 3, content: "x" }, "c-3");
    queue.refused(...refusal("message_deleted", { change_id: "c-1" }));
    expect(await deleted).toBeUndefined();
    const [frame, error] = refusal("not_sender", { change_id: "c-2" });
    queue.refused(frame, error);
    await expect(other).rejects.toBe(error);
    const [frame3, error3] = refusal("message_deleted", { change_id: "c-3" });
    queue.refused(frame3, error3);
    await expect(plain).rejects.toBe(error3);
  });

  test("without a socket nothing is sent; unsent() then pump() sends everything again on the new socket with the same ids", () => {
    const { queue, holder } = queueOn<string>({ idField: "client_id" }, null);
    void queue.add({ type: "message", content: "a" }, "id-a");
    const ws1 = new FakeSocket();
    holder.socket = ws1;
    queue.pump();
    void queue.add({ type: "message", content: "b" }, "id-b");
    expect(ws1.frames().map((f) => f.client_id)).toEqual(["id-a", "id-b"]);
    queue.pump(); // same socket: nothing sent twice
    expect(ws1.sent).toHaveLength(2);

    queue.unsent();
    holder.socket = null;
    queue.pump();
    const ws2 = new FakeSocket();
    holder.socket = ws2;
    queue.pump();
    expect(ws2.sent).toEqual(ws1.sent);
    expect(ws1.sent).toHaveLength(2);
    queue.acknowledged("id-a", "stored");
    const ws3 = new FakeSocket();
    holder.socket = ws3;
    queue.unsent();
    queue.pump();
    expect(ws3.frames().map((f) => f.client_id)).toEqual(["id-b"]);
  });

  test("answerTimeoutMs: unanswered, sent again on the same socket after the timeout, 5 times at most", async () => {
    const { queue, holder } = queueOn<void>({ idField: "change_id", answerTimeoutMs: 5 });
    const ws = holder.socket!;
    void queue.add({ type: "react", seq: 1, emoji: "👍", on: true }, "c-1");
    expect(ws.sent).toHaveLength(1);
    await Bun.sleep(2);
    expect(ws.sent).toHaveLength(1); // not before the timeout
    await Bun.sleep(100);
    expect(ws.sent).toHaveLength(6); // the first send and 5 resends
    expect(new Set(ws.frames().map((f) => f.change_id))).toEqual(new Set(["c-1"]));
    await Bun.sleep(30);
    expect(ws.sent).toHaveLength(6);
    expect(queue.size).toBe(1); // still awaiting its answer
  });

  test("answerTimeoutMs: an answer in time, or the loss of the socket, stops the resends", async () => {
    const { queue, holder } = queueOn<void>({ idField: "change_id", answerTimeoutMs: 10 });
    const ws = holder.socket!;
    const p = queue.add({ type: "edit", seq: 1, content: "x" }, "c-1");
    void queue.add({ type: "edit", seq: 2, content: "y" }, "c-2");
    queue.acknowledged("c-1", undefined);
    await p;
    queue.unsent(); // c-2: waits for the next socket, not resent on this one
    holder.socket = null;
    await Bun.sleep(40);
    expect(ws.frames().map((f) => f.change_id)).toEqual(["c-1", "c-2"]);
  });

  test("at most 20 frames in flight per socket; each answer lets the next one out", async () => {
    const { queue, holder } = queueOn<string>({ idField: "client_id" });
    const ws = holder.socket!;
    const promises = Array.from({ length: 25 }, (_, i) => queue.add({ type: "message", content: `m${i}` }, `id-${i}`));
    expect(ws.frames().map((f) => f.client_id)).toEqual(Array.from({ length: 20 }, (_, i) => `id-${i}`));
    queue.pump();
    expect(ws.sent).toHaveLength(20);
    queue.acknowledged("id-0", "ok");
    expect(ws.sent).toHaveLength(21);
    expect(ws.frames()[20]!.client_id).toBe("id-20");
    const [frame, error] = refusal("content_too_long", { client_id: "id-1" });
    queue.refused(frame, error);
    await expect(promises[1]!).rejects.toBe(error);
    expect(ws.sent).toHaveLength(22);
    // A new socket: the 23 left, 20 of them at once, oldest first.
    queue.unsent();
    const ws2 = new FakeSocket();
    holder.socket = ws2;
    queue.pump();
    expect(ws2.frames().map((f) => f.client_id)).toEqual(Array.from({ length: 20 }, (_, i) => `id-${i + 2}`));
  });

  test("rejectAll rejects every pending frame and cancels its retry", async () => {
    const { queue, holder } = queueOn<string>({ idField: "client_id", backoff: FAST });
    const a = queue.add({ type: "message", content: "a" }, "id-a");
    const b = queue.add({ type: "message", content: "b" }, "id-b");
    queue.refused(...refusal("unavailable", { client_id: "id-a" }));
    const closed = new ChatError("closed", "the client was closed");
    queue.rejectAll(closed);
    await expect(a).rejects.toBe(closed);
    await expect(b).rejects.toBe(closed);
    expect(queue.size).toBe(0);
    await Bun.sleep(20);
    expect(holder.socket!.sent).toHaveLength(2);
  });
});
