/** Blocks: the blocked user's writes are refused, their typing and presence hidden from the blocker, on every instance. */
import { describe, expect, test } from "bun:test";
import type { App } from "../src/app.ts";
import type { ChatError } from "../src/client/index.ts";
import { useChatClients } from "./support/chat-clients.ts";
import { createPair, db, describeWithRedis, env, settle, useOpenSockets, useServers, waitFor, type Pair } from "./helpers.ts";

const servers = useServers();
const { chatClient } = useChatClients();
const { open } = useOpenSockets();

function api(on: App, method: string, path: string, token: string) {
  return fetch(`${on.httpUrl}/api/${path}`, { method, headers: { authorization: `Bearer ${token}` } });
}

/** Alex (the inviter) on `one`, Sam on `two`, both joined and seeing each other online. */
async function joined(one: App, two: App, pair: Pair) {
  const alex = await open(one, pair.sessionId, pair.inviter.token);
  await alex.next("presence", 1);
  const sam = await open(two, pair.sessionId, pair.invitee.token);
  await sam.next("presence", 1);
  await waitFor("Alex sees Sam online", () => alex.of("presence").some((p) => p.user_id === pair.invitee.id && p.online));
  return { alex, sam };
}

describe("the block API", () => {
  test("block, list, unblock; oneself 400, an unknown user 404, no token 401", async () => {
    const app = await servers.start();
    const pair = await createPair();
    const alex = pair.inviter;
    expect(await (await api(app, "PUT", `blocks/${pair.invitee.id}`, alex.token)).json()).toEqual({ blocked: true });
    expect((await api(app, "PUT", `blocks/${pair.invitee.id}`, alex.token)).status).toBe(200); // again: still blocked
    const list = (await (await api(app, "GET", "blocks", alex.token)).json()) as { blocks: { user_id: string; display_name: string }[] };
    expect(list.blocks).toEqual([expect.objectContaining({ user_id: pair.invitee.id, display_name: pair.invitee.name })]);
    expect((await api(app, "PUT", `blocks/${alex.id}`, alex.token)).status).toBe(400);
    expect((await api(app, "PUT", `blocks/${crypto.randomUUID()}`, alex.token)).status).toBe(404);
    expect((await fetch(`${app.httpUrl}/api/blocks`)).status).toBe(401);
    expect(await (await api(app, "DELETE", `blocks/${pair.invitee.id}`, alex.token)).json()).toEqual({ unblocked: true });
    expect(await (await api(app, "DELETE", `blocks/${pair.invitee.id}`, alex.token)).json()).toEqual({ unblocked: false });
    // Sam's list is his own: empty.
    const sams = (await (await api(app, "GET", "blocks", pair.invitee.token)).json()) as { blocks: unknown[] };
    expect(sams.blocks).toEqual([]);
  });
});

test("through the client package: report a message, block; a blocked user's send rejects with `blocked`; unblock", async () => {
  const app = await servers.start();
  const pair = await createPair();
  const alex = chatClient(app.httpUrl, pair.sessionId, pair.inviter);
  const sam = chatClient(app.httpUrl, pair.sessionId, pair.invitee);
  await Promise.all([alex.client.connect(), sam.client.connect()]);
  const rude = await sam.client.send("something rude");
  expect(await alex.client.report(rude.seq, "harassment", "not ok")).toEqual({ report_id: expect.any(Number), duplicate: false });
  expect((await alex.client.report(rude.seq, "harassment")).duplicate).toBe(true);
  const bad = await alex.client.report(rude.seq, "boring").catch((e: ChatError) => e);
  expect((bad as ChatError).details.status).toBe(400);
  await alex.client.block(pair.invitee.id);
  const refused = await sam.client.send("are you there?").catch((e: ChatError) => e);
  expect((refused as ChatError).code).toBe("blocked");
  await alex.client.unblock(pair.invitee.id);
  expect((await sam.client.send("sorry")).content).toBe("sorry");
});

describe("one instance", () => {
  test("the blocked user's messages and changes get `blocked`, nothing stored; their typing and presence no longer reach the blocker; history stays", async () => {
    const app = await servers.start();
    const pair = await createPair();
    const { alex, sam } = await joined(app, app, pair);
    sam.send({ type: "message", content: "before the block" });
    await alex.next("message");
    await api(app, "PUT", `blocks/${pair.invitee.id}`, pair.inviter.token);
    // Alex is shown Sam offline at once.
    await waitFor("Sam shown offline to Alex", () => alex.of("presence").at(-1)?.online === false);
    expect(alex.of("presence").at(-1)).toMatchObject({ user_id: pair.invitee.id, online: false });
    const clientId = crypto.randomUUID();
    sam.send({ type: "message", content: "are you there?", client_id: clientId });
    expect(await sam.next("error")).toMatchObject({ code: "blocked", client_id: clientId });
    sam.send({ type: "react", seq: 1, emoji: "👍", change_id: clientId });
    expect(await sam.next("error", 1)).toMatchObject({ code: "blocked", seq: 1 });
    sam.send({ type: "typing", is_typing: true });
    await settle(200); // nothing may arrive: no condition can say so
    expect(alex.of("typing")).toHaveLength(0);
    expect(alex.of("message")).toHaveLength(1);
    // The blocker's own messages still reach the blocked user.
    alex.send({ type: "message", content: "I blocked you" });
    expect((await sam.next("message", 1)).content).toBe("I blocked you");
    const rows = await db`SELECT content FROM messages WHERE session_id = ${pair.sessionId} ORDER BY seq`;
    expect(rows.map((r) => r.content)).toEqual(["before the block", "I blocked you"]);
    // The blocker still reads the history received before; it is not rewritten.
    const page = (await (await api(app, "GET", `sessions/${pair.sessionId}/messages`, pair.inviter.token)).json()) as {
      messages: { content: string }[];
    };
    expect(page.messages.map((m) => m.content)).toEqual(["before the block", "I blocked you"]);
    // A reconnecting blocker sees the blocked user offline.
    const again = await open(app, pair.sessionId, pair.inviter.token);
    await again.next("presence", 1);
    expect(again.of("presence").find((p) => p.user_id === pair.invitee.id)).toMatchObject({ online: false });
    // Lifted: Sam writes again, Alex sees him online.
    await api(app, "DELETE", `blocks/${pair.invitee.id}`, pair.inviter.token);
    await waitFor("Sam shown online again", () => alex.of("presence").at(-1)?.online === true);
    sam.send({ type: "message", content: "after the block" });
    expect((await alex.next("message", 2)).content).toBe("after the block");
  });
});

describeWithRedis("across two instances", () => {
  test("a block made through one instance holds on the other within 2 s; a block made in the database by the backend too", async () => {
    const one = await servers.start({ redisUrl: env.redisUrl });
    const two = await servers.start({ redisUrl: env.redisUrl });
    const pair = await createPair();
    const { alex, sam } = await joined(one, two, pair);
    await api(one, "PUT", `blocks/${pair.invitee.id}`, pair.inviter.token);
    const deadline = Date.now() + 2000;
    let refused = false;
    for (let i = 0; !refused && Date.now() < deadline; i++) {
      sam.send({ type: "message", content: `probe ${i}` });
      await Bun.sleep(50);
      refused = sam.of("error").some((e) => e.code === "blocked");
    }
    expect(refused).toBe(true);
    await waitFor("Sam shown offline to Alex on the other instance", () => alex.of("presence").at(-1)?.online === false, 2000);
    // Lifted directly in the database (the backend may own this table too): followed live as well.
    await db`DELETE FROM chat_blocks WHERE blocker_id = ${pair.inviter.id}`;
    await waitFor("Sam online again", () => alex.of("presence").at(-1)?.online === true, 2000);
    // Each instance follows on its own: Sam's may take its moment too (within the same 2 s).
    const lifted = Date.now();
    let accepted = false;
    for (let i = 0; !accepted && Date.now() - lifted < 2000; i++) {
      sam.send({ type: "message", content: `hello again ${i}` });
      await Bun.sleep(100);
      accepted = alex.of("message").some((m) => String(m.content).startsWith("hello again"));
    }
    expect(accepted).toBe(true);
  });
});
