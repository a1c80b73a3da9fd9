/** The conversation's pure functions: messages merged by seq, changes applied by change number, reply quotes following. */
import { messageView } from "../support/message-views.ts";
import { describe, expect, test } from "bun:test";
import { applyChange, mergeMessages } from "../../src/client/react/conversation.ts";
import type { ChatMessage } from "../../src/client/types.ts";

const msg = messageView;

const replyTo = (seq: number, original: ChatMessage, over: Partial<ChatMessage> = {}): ChatMessage =>
  msg(seq, {
    reply_to: { seq: original.seq, sender_id: original.sender_id, sender_name: original.sender_name, preview: original.content },
    ...over,
  });

const seqs = (list: readonly ChatMessage[]) => list.map((m) => m.seq);

describe("mergeMessages", () => {
  test("adds only unknown seqs, each once (also within the incoming batch), in seq order", () => {
    const list = [msg(2), msg(4)];
    const merged = mergeMessages(list, [msg(5), msg(1), msg(4, { content: "dup" }), msg(3), msg(1, { content: "dup" })]);
    expect(seqs(merged)).toEqual([1, 2, 3, 4, 5]);
    // The held message wins over a duplicate; the first of a duplicated incoming one is kept.
    expect(merged.find((m) => m.seq === 4)!.content).toBe("m4");
    expect(merged.find((m) => m.seq === 1)!.content).toBe("m1");
    // The input is not mutated.
    expect(seqs(list)).toEqual([2, 4]);
  });

  test("returns the very same array when nothing is new", () => {
    const list = [msg(1), msg(2)];
    expect(mergeMessages(list, [])).toBe(list);
    expect(mergeMessages(list, [msg(2), msg(1, { content: "replayed" })])).toBe(list);
    expect(mergeMessages(list, [msg(3)])).not.toBe(list);
  });

  test("an empty list takes the incoming messages sorted", () => {
    expect(seqs(mergeMessages([], [msg(9), msg(7), msg(8)]))).toEqual([7, 8, 9]);
  });
});

describe("applyChange", () => {
  test("a newer change replaces the message with its seq; the others stay the same objects", () => {
    const list = [msg(1), msg(2, { change_seq: 3 }), msg(3)];
    const edited = msg(2, { content: "edited", change_seq: 4, edited_at: "2026-12-02T00:01:00.000000Z" });
    const after = applyChange(list, edited);
    expect(after).not.toBe(list);
    expect(after[1]).toBe(edited);
    expect(after[0]).toBe(list[0]!);
    expect(after[2]).toBe(list[2]!);
    expect(seqs(after)).toEqual([1, 2, 3]);
    expect(list[1]!.content).toBe("m2"); // not mutated
  });

  test("a first change (change_seq given) replaces a message that had none", () => {
    const list = [msg(1)];
    expect(applyChange(list, msg(1, { content: "x", change_seq: 1 }))[0]!.content).toBe("x");
  });

  test("an older or equal change, or one without change_seq, is ignored: the same array", () => {
    const list = [msg(1, { content: "current", change_seq: 5 })];
    expect(applyChange(list, msg(1, { content: "older", change_seq: 4 }))).toBe(list);
    expect(applyChange(list, msg(1, { content: "same", change_seq: 5 }))).toBe(list);
    expect(applyChange(list, msg(1, { content: "no number" }))).toBe(list);
  });

  test("a change to a seq not in the list is ignored: the same array", () => {
    const list = [msg(1), msg(2)];
    expect(applyChange(list, msg(3, { content: "x", change_seq: 9 }))).toBe(list);
  });

  test("an edit updates the quote of replies to it (first 100 code points), not the quotes of other messages", () => {
    const original = msg(1, { sender_id: "ann", sender_name: "Ann" });
    const other = msg(2);
    const reply = replyTo(3, original);
    const replyToOther = replyTo(4, other);
    const plain = msg(5);
    const list = [original, other, reply, replyToOther, plain];
    // 150 astral code points (two UTF-16 units each): the preview counts code points, not units.
    const content = "🧗".repeat(150);
    const after = applyChange(list, msg(1, { sender_id: "ann", sender_name: "Ann", content, change_seq: 1 }));
    expect(after[2]!.reply_to).toEqual({ seq: 1, sender_id: "ann", sender_name: "Ann", preview: "🧗".repeat(100) });
    expect(after[2]!.content).toBe("m3");
    expect(after[1]).toBe(other);
    expect(after[3]).toBe(replyToOther);
    expect(after[4]).toBe(plain);
    expect(list[2]!.reply_to!.preview).toBe("m1"); // not mutated
  });

  test("a short edit is quoted whole", () => {
    const original = msg(1);
    const after = applyChange([original, replyTo(2, original)], msg(1, { content: "fixed typo", change_seq: 2 }));
    expect(after[1]!.reply_to!.preview).toBe("fixed typo");
  });

  test("a deletion empties the quotes of replies and marks them deleted", () => {
    const original = msg(1);
    const list = [original, replyTo(2, original), replyTo(3, original)];
    const deleted = msg(1, { content: "", deleted_at: "2026-12-02T00:02:00.000000Z", change_seq: 7 });
    const after = applyChange(list, deleted);
    expect(after[0]).toBe(deleted);
    for (const r of after.slice(1)) {
      expect(r.reply_to).toEqual({ seq: 1, sender_id: "sam", sender_name: "Sam", preview: "", deleted: true });
    }
  });

  test("an ignored (stale) change leaves reply quotes alone", () => {
    const original = msg(1, { change_seq: 3 });
    const list = [original, replyTo(2, original)];
    expect(applyChange(list, msg(1, { content: "", deleted_at: "2026-12-02T00:02:00.000000Z", change_seq: 2 }))).toBe(list);
  });

  test("a deletion of a message older than the pages loaded still erases the quotes of loaded replies to it", () => {
    const original = msg(1);
    const list = [replyTo(40, original), msg(41)];
    const after = applyChange(list, msg(1, { content: "", deleted_at: "2026-12-02T00:02:00.000000Z", change_seq: 9 }));
    expect(after[0]!.reply_to).toMatchObject({ seq: 1, preview: "", deleted: true });
    expect(after[1]).toBe(list[1]);
    expect(seqs(after)).toEqual([40, 41]);
  });
});
