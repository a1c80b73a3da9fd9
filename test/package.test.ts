/**
 * The client as a package a frontend installs: `bun run build:client` builds dist/package (ESM and
 * .d.ts for `sendbuddy-chat/client` and `sendbuddy-chat/client/react`), `bun pm pack` packs it, and a
 * fresh project `npm install`s the tarball with React, type-checks an app that imports both entry
 * points, and bundles it.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const PACKAGE = join(ROOT, "dist", "package");
const work = mkdtempSync(join(tmpdir(), "chat-client-package-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function run(cmd: string[], cwd: string): Promise<{ code: number; out: string }> {
  const p = Bun.spawn(cmd, { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code: await p.exited, out: out + err };
}

const APP = `
import { ChatClient, ChatError, InboxClient, type ChatMessage, type InboxEntry } from "sendbuddy-chat/client";
import { useChatSession, useInbox } from "sendbuddy-chat/client/react";

export function Conversation({ sessionId }: { sessionId: string }) {
  const chat = useChatSession({ sessionId, getToken: async () => "access-token" });
  const inbox = useInbox({ getToken: () => "access-token" });
  const last: ChatMessage | undefined = chat.messages.at(-1);
  const first: InboxEntry | undefined = inbox.sessions[0];
  return (
    <div onClick={() => chat.send("hi")} data-state={chat.state}>
      {last?.content} {first?.unread ?? 0} {chat.pending.length} {String(chat.hasOlder)}
    </div>
  );
}

export const standalone = new ChatClient({ baseUrl: "https://chat.example", sessionId: "s", getToken: () => "t" });
export const inbox = new InboxClient({ baseUrl: "https://chat.example", getToken: () => "t" });
export const isChatError = (e: unknown) => e instanceof ChatError;
`;

describe("the client package", () => {
  test("builds, packs, installs into a fresh project, type-checks and bundles with React as a peer", async () => {
    const built = await run(["bun", "run", "build:client"], ROOT);
    expect({ code: built.code, out: built.code === 0 ? "" : built.out }).toEqual({ code: 0, out: "" });

    // Only the client: ESM, declarations, the manifest; the one runtime import is react.
    const manifest = JSON.parse(readFileSync(join(PACKAGE, "package.json"), "utf8"));
    expect(manifest.version).toBe(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version);
    expect(manifest.dependencies).toBeUndefined();
    expect(manifest.peerDependencies).toEqual({ react: ">=18" });
    const js = readdirSync(PACKAGE, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".js"));
    const imports = new Set(
      js.flatMap((f) => [...readFileSync(join(PACKAGE, f), "utf8").matchAll(/from"([^".][^"]*)"/g)].map((m) => m[1])),
    );
    expect([...imports]).toEqual(["react"]);

    const packed = await run(["bun", "pm", "pack", "--destination", work], PACKAGE);
    expect(packed.code).toBe(0);
    const tarball = readdirSync(work).find((f) => f.endsWith(".tgz"))!;
    expect(tarball).toBeDefined();

    const app = join(work, "app");
    await Bun.write(
      join(app, "package.json"),
      JSON.stringify({
        name: "frontend",
        private: true,
        type: "module",
        dependencies: { "sendbuddy-chat": `file:${join(work, tarball)}`, react: "^19", "react-dom": "^19" },
        devDependencies: { "@types/react": "^19" },
      }),
    );
    writeFileSync(join(app, "app.tsx"), APP);
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "ESNext",
          moduleResolution: "bundler",
          jsx: "react-jsx",
          strict: true,
          noEmit: true,
          lib: ["ES2022", "DOM"],
          types: [],
        },
        include: ["app.tsx"],
      }),
    );
    // npm, as a frontend team would (the tarball is a standard npm package).
    const installed = await run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], app);
    expect({ code: installed.code, out: installed.code === 0 ? "" : installed.out }).toEqual({ code: 0, out: "" });
    expect(existsSync(join(app, "node_modules", "ioredis"))).toBe(false); // nothing of the server comes along

    const checked = await run([join(ROOT, "node_modules", ".bin", "tsc"), "-p", "."], app);
    expect({ code: checked.code, out: checked.out }).toEqual({ code: 0, out: "" });

    const bundled = await run(["bun", "build", "app.tsx", "--outdir", "out", "--target", "browser", "--minify"], app);
    expect({ code: bundled.code, out: bundled.code === 0 ? "" : bundled.out }).toEqual({ code: 0, out: "" });
    const bundle = readFileSync(join(app, "out", "app.js"), "utf8");
    // The client is in, and React, bundled by the app (the package only imports it).
    expect({ client: bundle.includes("api/ws-ticket"), react: bundle.includes("react.transitional.element") }).toEqual({
      client: true,
      react: true,
    });
  }, 180_000);
});
