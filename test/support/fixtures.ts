/** Setups that whole test files share: one server and one pair of users for all of a file's tests. */
import { afterEach, beforeAll } from "bun:test";
import type { App } from "../../src/app.ts";
import { Client, join, sessionUrl } from "./clients.ts";
import { createPair, type Pair } from "./data.ts";
import { useServers } from "./servers.ts";

export type ServerAndPair = {
  readonly app: App;
  readonly pair: Pair;
  /** Opens a socket of the pair's inviter or invitee in its session (see join). */
  join(role: "inviter" | "invitee"): Promise<Client>;
};

/**
 * Call at the top level of a test file (its hooks attach to that file, as useServers' do): a server
 * started and a pair created before the file's first test, the server stopped after its last. Read
 * `app` and `pair` inside tests, not at the top level, where they do not exist yet.
 */
export function useServerAndPair(): ServerAndPair {
  const servers = useServers();
  let ready: { app: App; pair: Pair } | null = null;
  beforeAll(async () => {
    const app = await servers.start();
    ready = { app, pair: await createPair() };
  });
  const get = () => {
    if (!ready) throw new Error("useServerAndPair: read app and pair inside a test, after the file's beforeAll");
    return ready;
  };
  return {
    get app() {
      return get().app;
    },
    get pair() {
      return get().pair;
    },
    join(role) {
      const { app, pair } = get();
      return join(app, pair.sessionId, pair[role].token);
    },
  };
}

export type OpenSockets = {
  /** A socket in a session (`extra`: more query parameters, "&after=0"). */
  open(app: App, sessionId: string, token: string, extra?: string): Promise<Client>;
  /** A socket at any URL (the inbox's). */
  openAt(url: string): Promise<Client>;
};

/** Call at the top level of a test file: every socket opened through it is closed after each test. */
export function useOpenSockets(): OpenSockets {
  const opened: Client[] = [];
  afterEach(() => {
    for (const c of opened.splice(0)) c.close();
  });
  const openAt = async (url: string) => {
    const c = await Client.open(url);
    opened.push(c);
    return c;
  };
  return { openAt, open: (app, sessionId, token, extra = "") => openAt(sessionUrl(app, sessionId, token, extra)) };
}
