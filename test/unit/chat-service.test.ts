/** The chat domain on one instance, with the in-memory store and fake sockets: what each kind of frame does. */
import { describe, expect, test } from "bun:test";
import { ChatService } from "../../src/chat/chat-service.ts";
import { StoreUnavailableError, type Appended, type NewMessage } from "../../src/chat/ports.ts";
import type { Member } from "../../src/chat/types.ts";
import { LocalBus } from "../../src/bus/local-bus.ts";
import { LocalPresence } from "../../src/bus/local-presence.ts";
import { createLogger } from "../../src/observability/log.ts";
import { Metrics } from "../../src/observability/metrics.ts";
import { MemoryStore } from "../support/memory-store.ts";
import { FakeSockets } from "../support/fake-sockets.ts";

/** The store's appends can be held back (a slow database) or made to fail (a database that is down). */
class GatedStore extends MemoryStore {
  gate: Promise<void> | null = null;
  down = false;
  override async append(m: NewMessage): Promise<Appended> {
    if (this.down) throw new StoreUnavailableError();
    await this.gate;
    return super.append(m);
  }
}

function setup(maxPendingPerUser?: number) {
  const store = new GatedStore();
  store.addUser("alex", "Alex");
  store.addUser("sam", "Sam");
  store.addSession("s1", "alex", "sam");
  const sockets = new FakeSockets();
  const chat = new ChatService({
    store,
    bus: new LocalBus(),
    presence: new LocalPresence(),
    fanout: sockets.fanout,
    log: createLogger("silent"),
    metrics: new Metrics(),
    ...(maxPendingPerUser ? { maxPendingPerUser } : {}),
  });
  const join = async (userId: string) => {
    const auth = await store.authorize("s1", userId);
    if (!auth.ok) throw new Error(auth.reason);
    const socket = sockets.open();
    const member: Member = { user: auth.user, session: auth.session };
    await chat.join(socket, member, null);
    return { socket, member };
  };
  return { store, chat, join, sockets };
}

describe("ChatService", () => {
  test("a resumed socket gets the missed messages, then resumed and its snapshot in one write, then live ones", async () => {
    const { chat, join, store, sockets } = setup();
    const alex = await join("alex");
    for (const content of ["one", "two", "three"]) await chat.handle(alex.socket, alex.member, { type: "message", content });
    const auth = await store.authorize("s1", "sam");
    if (!auth.ok) throw new Error(auth.reason);
    const socket = sockets.open();
    await chat.join(socket, { user: auth.user, session: auth.session }, { afterSeq: 1, changesAfter: null });
    await chat.handle(alex.socket, alex.member, { type: "message", content: "four" });
    const types = socket.writes.map((w) => w.map((f) => JSON.parse(f).type));
    expect(types).toEqual([["message"], ["message"], ["resumed", "presence", "presence"], ["message"]]);
    expect(socket.of("message").map((m) => m.seq)).toEqual([2, 3, 4]);
  });

  test("typing reaches the other participant's sockets only, never the sender's own", async () => {
    const { chat, join } = setup();
    const alex = await join("alex");
    const alexPhone = await join("alex");
    const sam = await join("sam");
    await chat.handle(alex.socket, alex.member, { type: "typing", is_typing: true });
    expect(sam.socket.of("typing")).toEqual([{ type: "typing", sender_id: "alex", sender_name: "Alex", is_typing: true }]);
    expect(alex.socket.of("typing")).toEqual([]);
    expect(alexPhone.socket.of("typing")).toEqual([]);
  });

  test("a retried client_id is answered with the original, to the retrying socket only; nothing is stored twice", async () => {
    const { chat, join, store } = setup();
    const alex = await join("alex");
    const sam = await join("sam");
    const clientId = crypto.randomUUID();
    await chat.handle(alex.socket, alex.member, { type: "message", content: "6 pm?", client_id: clientId });
    await chat.handle(alex.socket, alex.member, { type: "message", content: "6 pm?", client_id: clientId });
    expect(alex.socket.of("message").map((m) => m.seq)).toEqual([1, 1]);
    expect(sam.socket.of("message").map((m) => m.seq)).toEqual([1]);
    expect(await store.messagesAfter("s1", 0, 10)).toHaveLength(1);
  });

  test("a database that is down: `unavailable` with the client_id, the socket stays and the next send works", async () => {
    const { chat, join, store } = setup();
    const alex = await join("alex");
    store.down = true;
    await chat.handle(alex.socket, alex.member, { type: "message", content: "lost?", client_id: "c1" });
    expect(alex.socket.of("error")).toMatchObject([{ code: "unavailable", client_id: "c1" }]);
    store.down = false;
    await chat.handle(alex.socket, alex.member, { type: "message", content: "back", client_id: "c1" });
    expect(alex.socket.of("message")).toMatchObject([{ seq: 1, content: "back" }]);
  });

  test("one user's messages waiting for the store are capped: the next is refused with rate_limited", async () => {
    const { chat, join, store } = setup(2);
    const alex = await join("alex");
    let open = () => {};
    store.gate = new Promise((resolve) => (open = resolve));
    const sends = [1, 2, 3].map((i) => chat.handle(alex.socket, alex.member, { type: "message", content: `m${i}`, client_id: `c${i}` }));
    await Bun.sleep(1);
    expect(alex.socket.of("error")).toMatchObject([{ code: "rate_limited", client_id: "c3" }]);
    open();
    await Promise.all(sends);
    expect(alex.socket.of("message").map((m) => m.content)).toEqual(["m1", "m2"]);
  });

  test("a read mark goes to every socket of both participants when it moves, not when it does not", async () => {
    const { chat, join } = setup();
    const alex = await join("alex");
    const sam = await join("sam");
    await chat.handle(alex.socket, alex.member, { type: "message", content: "hi" });
    await chat.handle(sam.socket, sam.member, { type: "read", seq: 1 });
    await chat.handle(sam.socket, sam.member, { type: "read", seq: 1 });
    for (const s of [alex, sam]) expect(s.socket.of("read")).toEqual([{ type: "read", user_id: "sam", seq: 1 }]);
  });
});
