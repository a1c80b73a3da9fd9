/**
 * The connection core both clients share, with a scripted WebSocket: the join timeout, the guard
 * against repeated invalid-token closes, backoff by the close codes. (Before it was shared, the inbox
 * client had neither the timeout nor the guard.)
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { Connection, type ConnectionHooks } from "../../src/client/connection.ts";
import { TokenKeeper } from "../../src/client/token.ts";
import type { ChatError } from "../../src/client/types.ts";

class ScriptedSocket {
  static made: ScriptedSocket[] = [];
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: ((e: { code: number; reason: string }) => void) | null = null;
  sent: string[] = [];
  closed = false;
  constructor(readonly url: string) {
    ScriptedSocket.made.push(this);
  }
  send(data: string) {
    this.sent.push(data);
  }
  close() {
    this.closed = true;
  }
  /** The server closes it. */
  drop(code: number) {
    this.onclose?.({ code, reason: "" });
  }
  frame(frame: object) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
}

const realWebSocket = globalThis.WebSocket;
beforeEach(() => {
  ScriptedSocket.made = [];
  globalThis.WebSocket = ScriptedSocket as unknown as typeof WebSocket;
});
afterEach(() => {
  globalThis.WebSocket = realWebSocket;
});

function connection(joinTimeoutMs = 50) {
  const seen: { frames: string[]; finished: ChatError | null; states: string[] } = { frames: [], finished: null, states: [] };
  const hooks: ConnectionHooks = {
    dial: async () => ({ url: `ws://test/${ScriptedSocket.made.length}`, token: "not-a-jwt" }),
    frame: (f) => seen.frames.push(f.type),
    lost: () => {},
    finished: (error) => (seen.finished = error),
    state: (s) => seen.states.push(s),
    error: () => {},
  };
  const tokens = new TokenKeeper(() => "not-a-jwt", 1000);
  const conn = new Connection(tokens, hooks, { joinTimeoutMs, backoff: { initialMs: 1, maxMs: 5 } });
  return { conn, seen };
}

test("a connection that does not finish joining in time is dropped and dialled again", async () => {
  const { conn, seen } = connection(30);
  conn.start();
  await Bun.sleep(10);
  expect(ScriptedSocket.made).toHaveLength(1);
  await Bun.sleep(80);
  expect(ScriptedSocket.made[0]!.closed).toBe(true);
  expect(ScriptedSocket.made.length).toBeGreaterThanOrEqual(2);
  expect(seen.states).toEqual(["connecting"]);
  conn.finish({ code: "closed" } as ChatError, { report: false });
});

test("4003 twice in a row ends the connection instead of reconnecting forever; a 1001 reconnects", async () => {
  const { conn, seen } = connection(10_000);
  conn.start();
  await Bun.sleep(5);
  ScriptedSocket.made[0]!.drop(1001);
  await Bun.sleep(300);
  expect(ScriptedSocket.made).toHaveLength(2);
  ScriptedSocket.made[1]!.drop(4003);
  await Bun.sleep(300);
  expect(ScriptedSocket.made).toHaveLength(3);
  expect(seen.finished).toBeNull();
  ScriptedSocket.made[2]!.drop(4003);
  await Bun.sleep(50);
  expect(seen.finished?.details.closeCode).toBe(4003);
  expect(seen.states.at(-1)).toBe("closed");
  expect(ScriptedSocket.made).toHaveLength(3);
});

test("frames reach the client once joined; `auth` answers are the connection's own", async () => {
  const { conn, seen } = connection();
  conn.start();
  await Bun.sleep(5);
  const ws = ScriptedSocket.made[0]!;
  ws.frame({ type: "resumed" });
  conn.joined();
  ws.frame({ type: "auth", ok: true, expires_at: new Date(Date.now() + 60_000).toISOString() });
  ws.frame({ type: "message" });
  expect(seen.frames).toEqual(["resumed", "message"]);
  expect(seen.states).toEqual(["connecting", "open"]);
  expect(conn.send({ type: "typing", is_typing: true })).toBe(true);
  conn.finish({ code: "closed" } as ChatError, { report: false });
  expect(conn.send({ type: "typing", is_typing: true })).toBe(false);
});
