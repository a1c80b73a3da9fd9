/** ChatClients (the client package) for tests: a fast backoff, a record of their events, closed after each test; a cuttable path to a server. */
import { afterEach } from "bun:test";
import {
  ChatClient,
  type ChatClientOptions,
  type ChatError,
  type ChatMessage,
  type ConnectionState,
  type PresenceEvent,
  type ReadEvent,
  type ResumedEvent,
  type TypingEvent,
} from "../../src/client/index.ts";
import type { App } from "../../src/app.ts";
import { TcpProxy } from "../tcp-proxy.ts";
import type { TestUser } from "./data.ts";

/** Registers the cleanup of the file's clients and proxies; returns the factories. */
export function useChatClients() {
  const opened: ChatClient[] = [];
  const proxies: TcpProxy[] = [];
  afterEach(() => {
    for (const c of opened.splice(0)) c.close();
    for (const p of proxies.splice(0)) p.stop();
  });

  /** A client with a fast backoff (tests must not wait seconds between attempts) and a record of its events. */
  function chatClient(baseUrl: ChatClientOptions["baseUrl"], sessionId: string, user: TestUser, options: Partial<ChatClientOptions> = {}) {
    const client = new ChatClient({ baseUrl, sessionId, getToken: () => user.token, backoff: { initialMs: 50, maxMs: 400 }, ...options });
    opened.push(client);
    const seen = {
      messages: [] as ChatMessage[],
      changes: [] as ChatMessage[],
      states: [] as ConnectionState[],
      errors: [] as ChatError[],
      typing: [] as TypingEvent[],
      presence: [] as PresenceEvent[],
      read: [] as ReadEvent[],
      resumed: [] as ResumedEvent[],
    };
    client.on("message", (m) => seen.messages.push(m));
    client.on("change", (m) => seen.changes.push(m));
    client.on("state", (s) => seen.states.push(s));
    client.on("error", (e) => seen.errors.push(e));
    client.on("typing", (t) => seen.typing.push(t));
    client.on("presence", (p) => seen.presence.push(p));
    client.on("read", (r) => seen.read.push(r));
    client.on("resumed", (r) => seen.resumed.push(r));
    return { client, seen };
  }

  /** A TCP path to the server that the test can cut ("down") and restore ("up"). */
  function proxyTo(app: App): { proxy: TcpProxy; url: string } {
    const target = new URL(app.httpUrl);
    const proxy = new TcpProxy(target.hostname, Number(target.port));
    proxy.start();
    proxies.push(proxy);
    return { proxy, url: `http://127.0.0.1:${proxy.port}` };
  }

  return { chatClient, proxyTo };
}
