/** BLOCKED_TERMS_FILE on a real server: refused or masked, for messages and edits alike; a missing list stops the start. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPair, db, joinBoth, useServers } from "./helpers.ts";

const servers = useServers();
const dir = mkdtempSync(join(tmpdir(), "blocked-terms-"));
const list = join(dir, "terms.txt");
writeFileSync(list, "# test list\nscam\nwire me money\n");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("reject (the default policy)", () => {
  test("a message or an edit with a blocked term gets content_blocked, nothing is stored, however it is disguised", async () => {
    const app = await servers.start({}, { BLOCKED_TERMS_FILE: list });
    const pair = await createPair();
    const { a, b } = await joinBoth(app, pair);
    const disguises = ["this is a SCAM", "S\u200BC\u200BA\u200BM", "ｓｃａｍ", "Wire me Mónéy"];
    for (const [i, content] of disguises.entries()) {
      const clientId = crypto.randomUUID();
      a.send({ type: "message", content, client_id: clientId });
      expect(await a.next("error", i)).toMatchObject({ code: "content_blocked", field: "content", client_id: clientId });
    }
    a.send({ type: "message", content: "see you at the crag" });
    await b.next("message");
    a.send({ type: "edit", seq: 1, content: "it was a scam", change_id: crypto.randomUUID() });
    expect(await a.next("error", disguises.length)).toMatchObject({ code: "content_blocked", seq: 1 });
    const rows = await db`SELECT content FROM messages WHERE session_id = ${pair.sessionId}`;
    expect(rows.map((r) => r.content)).toEqual(["see you at the crag"]);
    expect(b.of("message")).toHaveLength(1);
    expect(b.of("message_changed")).toHaveLength(0);
  });
});

describe("mask", () => {
  test("the message is stored and delivered with every occurrence masked; so is an edit", async () => {
    const app = await servers.start({}, { BLOCKED_TERMS_FILE: list, BLOCKED_TERMS_POLICY: "mask" });
    const pair = await createPair();
    const { a, b } = await joinBoth(app, pair);
    a.send({ type: "message", content: "not a Scam, really: wire me money" });
    expect((await b.next("message")).content).toBe("not a ****, really: *************");
    a.send({ type: "edit", seq: 1, content: "ok, a scam" });
    expect((await b.next("message_changed")).content).toBe("ok, a ****");
    const [row] = await db`SELECT content FROM messages WHERE session_id = ${pair.sessionId}`;
    expect(row!.content).toBe("ok, a ****");
  });
});

test("a BLOCKED_TERMS_FILE that does not exist stops the start with a clear error", async () => {
  const failed = await servers.start({}, { BLOCKED_TERMS_FILE: join(dir, "missing.txt") }).catch((e: Error) => e);
  expect(failed).toBeInstanceOf(Error);
  expect((failed as Error).message).toContain("BLOCKED_TERMS_FILE");
});
