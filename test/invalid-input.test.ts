/** Every bad frame gets a clear error code; the connection and the data survive. */
import { expect, test } from "bun:test";
import { db, useServerAndPair } from "./helpers.ts";

const shared = useServerAndPair();

const cases: [string, string | Uint8Array<ArrayBuffer>, string, string | null][] = [
  ["not JSON", "hello", "invalid_json", null],
  ["truncated JSON", '{"type":"message"', "invalid_json", null],
  ["an empty frame", "", "invalid_json", null],
  ["a JSON array", "[1,2]", "invalid_frame", null],
  ["a JSON string", '"message"', "invalid_frame", null],
  ["JSON null", "null", "invalid_frame", null],
  ["a number", "42", "invalid_frame", null],
  ["no type", '{"content":"hi"}', "invalid_frame", null],
  ["a numeric type", '{"type":1}', "invalid_frame", null],
  ["an unknown type", '{"type":"shout","content":"hi"}', "unknown_type", null],
  ["a prototype-ish type", '{"type":"__proto__"}', "unknown_type", null],
  ["a missing content", '{"type":"message"}', "invalid_field", "content"],
  ["a numeric content", '{"type":"message","content":42}', "invalid_field", "content"],
  ["a null content", '{"type":"message","content":null}', "invalid_field", "content"],
  ["an object content", '{"type":"message","content":{"a":1}}', "invalid_field", "content"],
  ["an empty content", '{"type":"message","content":""}', "empty_content", "content"],
  ["a whitespace content", '{"type":"message","content":"  \\n\\t "}', "empty_content", "content"],
  ["a too long content", JSON.stringify({ type: "message", content: "x".repeat(2001) }), "content_too_long", "content"],
  ["a NUL in content", '{"type":"message","content":"a\\u0000b"}', "invalid_content", "content"],
  ["an unpaired surrogate", '{"type":"message","content":"a\\ud800b"}', "invalid_content", "content"],
  ["a bad client_id", '{"type":"message","content":"hi","client_id":"nope"}', "invalid_field", "client_id"],
  ["a missing is_typing", '{"type":"typing"}', "invalid_field", "is_typing"],
  ["a string is_typing", '{"type":"typing","is_typing":"yes"}', "invalid_field", "is_typing"],
  ["a binary frame", new Uint8Array([0x7b, 0x7d]), "binary_frame", null],
];

test.each(cases)("%s gets an error frame and the connection stays open", async (_name, frame, code, field) => {
  const before = await countMessages();
  const c = await shared.join("inviter");
  c.ws.send(frame);
  const error = await c.next("error");
  expect(error.code).toBe(code);
  expect(typeof error.error).toBe("string");
  expect((error.error as string).length).toBeGreaterThan(5);
  if (field) expect(error.field).toBe(field);
  else expect(error.field).toBeUndefined();
  // Still open, still working, nothing stored by the bad frame.
  c.send({ type: "message", content: "still here" });
  expect((await c.next("message")).content).toBe("still here");
  expect(await countMessages()).toBe(before + 1);
  await c.close();
});

test("a rejected frame that carried a client_id gets it back", async () => {
  const c = await shared.join("inviter");
  const clientId = crypto.randomUUID();
  c.send({ type: "message", content: "", client_id: clientId });
  expect(await c.next("error")).toMatchObject({ code: "empty_content", client_id: clientId });
  await c.close();
});

test("extra fields are ignored (forward compatible)", async () => {
  const c = await shared.join("inviter");
  c.send({ type: "message", content: "with extras", mood: "psyched" });
  expect((await c.next("message")).content).toBe("with extras");
  await c.close();
});

async function countMessages(): Promise<number> {
  const [row] = await db`SELECT count(*)::int AS n FROM messages WHERE session_id = ${shared.pair.sessionId}`;
  return row!.n;
}

test("field errors say what is wrong in words", async () => {
  const c = await shared.join("inviter");
  c.send({ type: "message" });
  c.send({ type: "typing", is_typing: "yes" });
  expect((await c.next("error", 0)).error).toBe('field "content" is missing');
  expect((await c.next("error", 1)).error).toBe('field "is_typing" must be a boolean');
  await c.close();
});
