/**
 * The backend's pre-send check (PRESEND_CHECK_URL): every message and edit is asked about, signed;
 * allowed, refused or replaced; no answer in time means sent (fail open) or refused as unavailable
 * (fail closed); a socket's messages keep their order whatever the check's latency.
 */
import { afterAll, describe, expect, test } from "bun:test";
import type { App } from "../src/app.ts";
import { signature } from "../src/notify/webhook-sender.ts";
import { createPair, db, joinBoth, useServers } from "./helpers.ts";

const SECRET = "presend-check-secret-0123456789abcdefgh";
const servers = useServers();
const asked: { body: Record<string, unknown>; signed: boolean }[] = [];

/** The backend's check: what it answers depends on the content's first word. */
const backend = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(req) {
    const text = await req.text();
    const [t, v1] = (req.headers.get("x-chat-signature") ?? "").split(",").map((p) => p.split("=")[1] ?? "");
    const body = JSON.parse(text) as { content: string };
    asked.push({ body, signed: v1 === signature(SECRET, Number(t), text) });
    const [word, arg] = body.content.split(" ");
    if (word === "slow") await Bun.sleep(1000);
    if (word === "delay") await Bun.sleep(Number(arg));
    if (word === "broken") return new Response("oops", { status: 500 });
    if (word === "nonsense") return Response.json({ action: "maybe" });
    if (word === "reject") return Response.json({ action: "reject", reason: "not on our app, please" });
    if (word === "replace") return Response.json({ action: "replace", content: "[removed by the backend]" });
    return Response.json({ action: "allow" });
  },
});
afterAll(() => backend.stop(true));

const envFor = (failure: "open" | "closed") => ({
  PRESEND_CHECK_URL: `http://127.0.0.1:${backend.port}/check`,
  PRESEND_CHECK_SECRET: SECRET,
  PRESEND_CHECK_TIMEOUT_MS: "300",
  PRESEND_CHECK_FAILURE: failure,
});

async function chatting(app: App) {
  const pair = await createPair();
  return { pair, ...(await joinBoth(app, pair)) };
}

describe("fail closed (the default)", () => {
  test("allowed, refused with the backend's reason, replaced; every request signed and naming who and where", async () => {
    const app = await servers.start({}, envFor("closed"));
    const { pair, a, b } = await chatting(app);
    a.send({ type: "message", content: "allow this one" });
    expect((await b.next("message")).content).toBe("allow this one");
    a.send({ type: "message", content: "reject this", client_id: crypto.randomUUID() });
    expect(await a.next("error")).toMatchObject({ code: "content_rejected", error: "not on our app, please", field: "content" });
    a.send({ type: "message", content: "replace this" });
    expect((await b.next("message", 1)).content).toBe("[removed by the backend]");
    a.send({ type: "edit", seq: 1, content: "reject the edit" });
    expect(await a.next("error", 1)).toMatchObject({ code: "content_rejected", seq: 1 });
    const mine = asked.filter((q) => q.body.session_id === pair.sessionId);
    expect(mine.every((q) => q.signed)).toBe(true);
    expect(mine[0]!.body).toEqual({ type: "message", user_id: pair.inviter.id, session_id: pair.sessionId, content: "allow this one" });
    expect(mine.at(-1)!.body).toMatchObject({ type: "edit", seq: 1, content: "reject the edit" });
    const rows = await db`SELECT content FROM messages WHERE session_id = ${pair.sessionId} ORDER BY seq`;
    expect(rows.map((r) => r.content)).toEqual(["allow this one", "[removed by the backend]"]);
  });

  test("no answer in time, an error status or nonsense: refused as unavailable (the client retries), nothing stored", async () => {
    const app = await servers.start({}, envFor("closed"));
    const { pair, a } = await chatting(app);
    for (const [i, content] of ["slow one", "broken one", "nonsense one"].entries()) {
      const started = performance.now();
      a.send({ type: "message", content, client_id: crypto.randomUUID() });
      expect(await a.next("error", i)).toMatchObject({ code: "unavailable", field: "content" });
      expect(performance.now() - started).toBeLessThan(900); // the 300 ms timeout, not the backend's 1 s
    }
    expect((await db`SELECT count(*)::int AS n FROM messages WHERE session_id = ${pair.sessionId}`)[0]!.n).toBe(0);
  });

  test("a socket's messages keep their order whatever each check takes", async () => {
    const app = await servers.start({}, envFor("closed"));
    const { pair, a, b } = await chatting(app);
    const delays = [120, 0, 60, 10, 90, 0, 30];
    for (const [i, d] of delays.entries()) a.send({ type: "message", content: `delay ${d} #${i}` });
    await b.until((f) => f.filter((x) => x.type === "message").length === delays.length, "all of them");
    expect(b.of("message").map((m) => m.content)).toEqual(delays.map((d, i) => `delay ${d} #${i}`));
    const rows = await db`SELECT content FROM messages WHERE session_id = ${pair.sessionId} ORDER BY seq`;
    expect(rows.map((r) => r.content)).toEqual(delays.map((d, i) => `delay ${d} #${i}`));
  });
});

describe("fail open", () => {
  test("no answer in time: the message is sent as it is", async () => {
    const app = await servers.start({}, envFor("open"));
    const { a, b } = await chatting(app);
    a.send({ type: "message", content: "slow but fine" });
    expect((await b.next("message")).content).toBe("slow but fine");
    a.send({ type: "message", content: "reject still works" });
    expect(await a.next("error")).toMatchObject({ code: "content_rejected" });
  });
});
