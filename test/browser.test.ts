/**
 * The demo page end to end: the real server (a child process, as `bun run dev` runs it) and two
 * pages in headless Chromium (Debian's package), one as each demo climber.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, copyFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import type { Subprocess } from "bun";
import webpush from "web-push";
import { describeWhen } from "./helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const ROOT = join(import.meta.dir, "..");
const shots = mkdtempSync(join(tmpdir(), "demo-shots-"));
const profile = mkdtempSync(join(tmpdir(), "demo-chromium-"));
/** Makes this run's messages recognisable in a database that keeps earlier runs' demo history. */
const tag = crypto.randomUUID().slice(0, 6);

const keys = webpush.generateVAPIDKeys();

/** A port free now, for a server that must come back on the same one. */
function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}
const VAPID = { VAPID_PUBLIC_KEY: keys.publicKey, VAPID_PRIVATE_KEY: keys.privateKey, VAPID_SUBJECT: "mailto:ops@sendbuddy.test" };
/** The demo's second session (Sam invited Alex): src/cli/demo.ts. */
const SECOND_SESSION = "5e55a0b1-0000-4000-8000-000000000002";

let server: Subprocess<"ignore", "pipe", "pipe"> | null = null;
/** Servers a test started for itself (restarted, seeded), stopped in afterAll. */
const own: Subprocess<"ignore", "pipe", "pipe">[] = [];
let context: BrowserContext | null = null;
let baseUrl = "";

/**
 * Starts `bun src/main.ts serve` in development on its own embedded database (the only setup with
 * demo accounts): by default on a free port, in memory, as the suite's shared server.
 */
async function startServer(options: { port?: number; dataDir?: string; env?: Record<string, string> } = {}): Promise<string> {
  const child = Bun.spawn(["bun", "src/main.ts", "serve"], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: "development",
      HOST: "127.0.0.1",
      PORT: String(options.port ?? 0),
      LOG_LEVEL: "info",
      DATABASE_URL: "",
      JWT_SECRET: "",
      EMBEDDED_DB_DIR: options.dataDir ?? "memory://",
      REDIS_URL: "",
      // Web Push configured, so that "Notify me" goes as far as this machine lets a browser go.
      ...VAPID,
      ...options.env,
    },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  if (options.port) own.push(child);
  else server = child;
  const output: string[] = [];
  void drain(child.stderr, output);
  const url = new Promise<string>((resolve) => void drain(child.stdout, output, resolve));
  const started = await Promise.race([url, child.exited.then(() => null), Bun.sleep(20_000).then(() => null)]);
  if (!started) throw new Error(`the server did not start:\n${output.join("\n").slice(-2000)}`);
  return started;
}

/** Reads a stream to its end (a full pipe would block the server), noticing the "listening" line. */
async function drain(stream: ReadableStream<Uint8Array>, output: string[], onListening?: (url: string) => void) {
  let buffer = "";
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    buffer += decoder.decode(chunk, { stream: true });
    const lines = buffer.split("\n");
    buffer = lines.pop()!;
    for (const line of lines) {
      if (output.length < 200) output.push(line);
      if (onListening && line.includes('"msg":"listening"')) onListening(JSON.parse(line).url);
    }
  }
}

async function screenshot(page: Page, name: string) {
  const file = join(shots, `${name}.png`);
  await page.bringToFront(); // a background tab does not run its CSS transitions
  await Bun.sleep(350);
  await page.screenshot({ path: file });
  copyFileSync(file, `/tmp/demo-${name}.png`);
}

describeWhen(
  existsSync(CHROMIUM),
  "the demo page in headless Chromium",
  `install Debian's chromium (apt-get install -y chromium) for ${CHROMIUM}`,
  () => {
    beforeAll(async () => {
      [baseUrl, context] = await Promise.all([
        startServer(),
        chromium.launchPersistentContext(profile, {
          executablePath: CHROMIUM,
          headless: true,
          args: [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
          ],
          viewport: { width: 1024, height: 760 },
          timeout: 20_000,
        }),
      ]);
      context.setDefaultTimeout(8_000);
    }, 30_000);

    afterAll(async () => {
      await context?.close().catch(() => {});
      for (const child of own) child.kill("SIGKILL");
      if (server) {
        server.kill("SIGTERM");
        await Promise.race([server.exited, Bun.sleep(5000)]);
        if (server.exitCode === null) server.kill("SIGKILL");
      }
      rmSync(profile, { recursive: true, force: true });
      console.log(`[browser test] screenshots in ${shots} and /tmp/demo-*.png`);
    }, 15_000);

    const connected = (page: Page) => page.waitForSelector('body[data-connection="open"]');
    const bubble = (page: Page, side: "own" | "theirs", text: string) => page.locator(`.msg.${side}`, { hasText: text });
    /** A page of its own for each demo climber, both on `base` and connected; a page error is printed. */
    const bothClimbers = async (base: string): Promise<{ alex: Page; sam: Page }> => {
      const alex = await context!.newPage();
      const sam = await context!.newPage();
      for (const page of [alex, sam]) page.on("pageerror", (err) => console.error("page error:", err.message));
      await alex.goto(`${base}/demo?as=alex`);
      await sam.goto(`${base}/demo?as=sam`);
      await Promise.all([connected(alex), connected(sam)]);
      return { alex, sam };
    };

    test("two climbers chat on the demo page: messages both ways, typing, presence, read marks, history after a reload", async () => {
      const alex = await context!.newPage();
      const sam = await context!.newPage();
      for (const page of [alex, sam]) page.on("pageerror", (err) => console.error("page error:", err.message));

      // Alex picks a user on the page; Sam arrives through ?as=sam.
      await alex.goto(`${baseUrl}/demo`);
      await screenshot(alex, "picker");
      await alex.getByRole("button", { name: /Alex/ }).click();
      await sam.goto(`${baseUrl}/demo?as=sam`);
      await Promise.all([connected(alex), connected(sam)]);
      await eventually(alex.locator("#peer-status")).toHaveText("online");
      await eventually(sam.locator("#peer-status")).toHaveText("online");

      // Typing shows on the other page, and hides when Alex clears the box.
      await alex.locator("#input").fill("Hey");
      await sam.locator("#typing").waitFor({ state: "visible" });
      await eventually(sam.locator("#peer-status")).toHaveText("typing…");
      await alex.locator("#input").fill("");
      await sam.locator("#typing").waitFor({ state: "hidden" });

      // Alex → Sam, with Enter.
      await alex.locator("#input").fill(`Hi Sam! Up for the north face on Saturday? (${tag})`);
      await sam.locator("#typing").waitFor({ state: "visible" });
      await alex.locator("#input").press("Enter");
      await bubble(sam, "theirs", `north face on Saturday? (${tag})`).waitFor();
      await sam.locator("#typing").waitFor({ state: "hidden" });
      await eventually(alex.locator("#input")).toHaveValue("");
      await bubble(alex, "own", `(${tag})`).locator('.status[data-state="seen"], .status[data-state="sent"]').waitFor();

      // Sam → Alex, with the button; Sam has seen Alex's message, so Alex's gets the seen mark.
      await sam.locator("#input").fill(`Absolutely. 7 am at the car park, I'll bring the rope 🧗 (${tag})`);
      await sam.locator("#send").click();
      await bubble(alex, "theirs", `bring the rope 🧗 (${tag})`).waitFor();
      await bubble(alex, "own", `north face on Saturday? (${tag})`).locator('.status[data-state="seen"]').waitFor();
      await alex.locator("#input").fill(`Perfect, see you there! (${tag})`);
      await alex.locator("#input").press("Enter");
      await bubble(sam, "theirs", `see you there! (${tag})`).waitFor();
      await sam.locator("#input").fill("Let me check the forecast");
      await alex.locator("#typing").waitFor({ state: "visible" });
      await screenshot(alex, "alex");
      await screenshot(sam, "sam");

      // A reload keeps the conversation: the history comes from the API, then live again.
      await alex.reload();
      await connected(alex);
      for (const text of [`north face on Saturday? (${tag})`, `see you there! (${tag})`]) await bubble(alex, "own", text).waitFor();
      await bubble(alex, "theirs", `bring the rope 🧗 (${tag})`).waitFor();
      expect(await alex.locator(".msg", { hasText: `(${tag})` }).count()).toBe(3);
      await eventually(alex.locator("#peer-status")).toHaveText(/online|typing…/);

      // Responsive: the same conversation on a phone-sized window.
      await sam.setViewportSize({ width: 390, height: 760 });
      await sam.locator("#input").fill("");
      await screenshot(sam, "sam-mobile");
    }, 45_000);

    test("the inbox: both sessions, a live unread badge on the one not open, cleared once opened; Notify me says what it can do", async () => {
      const { alex, sam } = await bothClimbers(baseUrl);
      const second = (page: Page) => page.locator(`.inbox-item[data-session="${SECOND_SESSION}"]`);
      await second(alex).waitFor();
      expect(await alex.locator(".inbox-item").count()).toBe(2);

      // Sam writes in the other session; Alex, still in the first, sees its badge, then opens it.
      await second(sam).click();
      await eventually(second(sam)).toHaveAttribute("aria-current", "true");
      await sam.locator("#input").fill(`Bouldering on Sunday instead? (${tag})`);
      await sam.locator("#input").press("Enter");
      await eventually(second(alex).locator(".badge")).toHaveText("1");
      await eventually(second(alex).locator(".inbox-preview")).toHaveText(`Bouldering on Sunday instead? (${tag})`);
      await eventually(alex.locator("title")).toHaveText(/^\(1\) /);
      await screenshot(alex, "inbox");
      await second(alex).click();
      await bubble(alex, "theirs", `Bouldering on Sunday instead? (${tag})`).waitFor();
      await second(alex).locator(".badge").waitFor({ state: "detached" });

      // The service worker is served; "Notify me" ends in a sentence, whatever this machine allows.
      const sw = await fetch(`${baseUrl}/demo/sw.js`);
      expect(sw.headers.get("content-type")).toStartWith("text/javascript");
      expect(await sw.text()).toContain("showNotification");
      await context!.grantPermissions(["notifications"], { origin: baseUrl });
      await alex.locator("#notify").click();
      await alex.locator("#notify-status").waitFor({ state: "visible", timeout: 20_000 });
      expect((await alex.locator("#notify-status").textContent()) ?? "").toMatch(/could not reach its push service|Notifications are on/);
      await screenshot(alex, "notify");
    }, 60_000);

    test("React in StrictMode opens one socket per hook; a server restart while both climbers type loses nothing: each message once, in order, on both pages", async () => {
      const port = freePort();
      const dataDir = mkdtempSync(join(tmpdir(), "demo-restart-"));
      const base = await startServer({ port, dataDir });
      const { alex, sam } = await bothClimbers(base);
      // Two pages, each with one conversation and one inbox: four sockets opened, four open.
      await pollUntil(async () => (await metric(base, "chat_open_sockets")) === 4, "4 open sockets");
      expect(await metric(base, "chat_connections_opened_total")).toBe(4);
      expect(await metric(base, "chat_inbox_sockets")).toBe(2);

      const first = own.at(-1)!;
      first.kill("SIGTERM");
      await first.exited;
      await alex.waitForSelector('body[data-connection="reconnecting"]');
      await sam.waitForSelector('body[data-connection="reconnecting"]');
      const typed: Record<string, string[]> = { alex: [], sam: [] };
      for (const [name, page] of [
        ["alex", alex],
        ["sam", sam],
      ] as const) {
        for (let i = 1; i <= 3; i++) {
          const text = `${name} while the server is down ${i} (${tag})`;
          typed[name]!.push(text);
          await page.locator("#input").fill(text);
          await page.locator("#input").press("Enter");
        }
      }
      await alex.locator(".msg.own.pending").first().waitFor();
      await screenshot(alex, "offline");

      await startServer({ port, dataDir });
      const ours = (page: Page) => page.locator(".msg", { hasText: `(${tag})` });
      for (const page of [alex, sam]) {
        await pollUntil(
          async () => (await ours(page).count()) === 6 && (await page.locator(".msg.pending, .msg.failed").count()) === 0,
          "the six messages, none pending",
          30_000,
        );
      }
      const shown = (page: Page) =>
        ours(page).evaluateAll((els) =>
          els.map((e) => ({ seq: Number((e as HTMLElement).dataset.seq), text: e.querySelector(".text")!.textContent })),
        );
      const [onAlex, onSam] = await Promise.all([shown(alex), shown(sam)]);
      expect(onAlex).toEqual(onSam);
      const seqs = onAlex.map((m) => m.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(6);
      for (const name of ["alex", "sam"]) expect(onAlex.map((m) => m.text).filter((t) => t!.startsWith(name))).toEqual(typed[name]!);
      await Promise.all([alex.close(), sam.close()]);
      rmSync(dataDir, { recursive: true, force: true });
    }, 90_000);

    test("edit, delete, react and reply on the demo page; a server restart in the middle of changes: each applied once, the same on both pages", async () => {
      const port = freePort();
      const dataDir = mkdtempSync(join(tmpdir(), "demo-changes-"));
      const base = await startServer({ port, dataDir });
      const { alex, sam } = await bothClimbers(base);
      const say = async (page: Page, text: string) => {
        await page.locator("#input").fill(text);
        await page.locator("#input").press("Enter");
      };
      /** The message whose own text (not a quote of it) contains `text`. */
      const message = (page: Page, text: string) => page.locator(".msg").filter({ has: page.locator(".text", { hasText: text }) });
      const act = async (page: Page, text: string, action: string) => {
        const m = message(page, text);
        await m.hover();
        await m.locator(action).click();
      };
      const plan = `6 pm at the crag (${tag})`;
      const wrong = `door code 4711 (${tag})`;
      await say(alex, plan);
      await say(alex, wrong);
      await message(sam, wrong).waitFor();

      await act(sam, plan, '.act-react[data-emoji="👍"]');
      await act(sam, plan, ".act-reply");
      await eventually(sam.locator("#draft")).toHaveAttribute("data-kind", "reply");
      await say(sam, `see you there (${tag})`);
      await act(alex, plan, ".act-edit");
      await eventually(alex.locator("#draft")).toHaveAttribute("data-kind", "edit");
      await say(alex, `7 pm at the crag (${tag})`);
      const edited = `7 pm at the crag (${tag})`;
      for (const page of [alex, sam]) {
        await message(page, edited).locator(".edited").waitFor();
        await eventually(message(page, edited).locator('.reaction[data-emoji="👍"] .count')).toHaveText("1");
        // The reply's quote follows the edit of the message it quotes.
        await eventually(message(page, "see you there").locator(".quote-text")).toHaveText(edited);
      }
      await screenshot(sam, "changes");

      // The server stops; both climbers change things while it is down; it comes back on the same data.
      const first = own.at(-1)!;
      first.kill("SIGTERM");
      await first.exited;
      await alex.waitForSelector('body[data-connection="reconnecting"]');
      await sam.waitForSelector('body[data-connection="reconnecting"]');
      await act(alex, wrong, ".act-delete");
      await act(alex, "see you there", '.act-react[data-emoji="🔥"]');
      await act(sam, "see you there", ".act-edit");
      await eventually(sam.locator("#draft")).toHaveAttribute("data-kind", "edit"); // the composer holds the old text first
      await say(sam, `see you there at 7 (${tag})`);
      await act(sam, edited, '.act-react[data-emoji="🧗"]');
      await alex.locator(".msg.changing").first().waitFor();
      await startServer({ port, dataDir });

      const state = (page: Page) =>
        // Every stored message (its own data dir: only this test's): a deleted one no longer shows its text.
        page.locator(".msg[data-seq]").evaluateAll((els) =>
          els.map((e) => ({
            seq: Number((e as HTMLElement).dataset.seq),
            text: e.querySelector(".text")!.textContent,
            deleted: e.classList.contains("deleted"),
            edited: e.querySelector(".edited") !== null,
            quote: e.querySelector(".quote-text")?.textContent ?? null,
            reactions: [...e.querySelectorAll(".reaction")].map((r) => r.textContent!.replace(/\s+/g, "")),
          })),
        );
      const expected = [
        { text: edited, deleted: false, edited: true, quote: null, reactions: ["👍1", "🧗1"] },
        { text: "This message was deleted", deleted: true, edited: false, quote: null, reactions: [] },
        { text: `see you there at 7 (${tag})`, deleted: false, edited: true, quote: edited, reactions: ["🔥1"] },
      ];
      for (const page of [alex, sam]) {
        let last = "";
        await pollUntil(
          async () => {
            const shown = (await state(page)).map(({ seq: _, ...rest }) => rest);
            const unsettled = await page.locator(".msg.changing, .change-failed, .msg.pending").count();
            last = `${unsettled} unsettled, shown ${JSON.stringify(shown)}`;
            return unsettled === 0 && JSON.stringify(shown) === JSON.stringify(expected);
          },
          "every change once on both pages",
          30_000,
        ).catch((err: Error) => {
          throw new Error(`${err.message}: ${last}`);
        });
      }
      expect(await state(alex)).toEqual(await state(sam));
      const access = (await (await fetch(`${base}/dev/demo`, { method: "POST" })).json()) as {
        sessionId: string;
        users: { token: string }[];
      };
      const res = await fetch(`${base}/api/sessions/${access.sessionId}/messages?limit=100`, {
        headers: { authorization: `Bearer ${access.users[0]!.token}` },
      });
      const page = (await res.json()) as { last_change: number; messages: { content: string }[] };
      // Before the restart: 👍, the edit; while down: the deletion, 🔥, Sam's edit, 🧗. Six changes, none applied twice.
      expect(page.last_change).toBe(6);
      expect(page.messages.some((m) => m.content.includes("4711"))).toBe(false);
      await screenshot(alex, "changes-after-restart");
      await Promise.all([alex.close(), sam.close()]);
      rmSync(dataDir, { recursive: true, force: true });
    }, 90_000);

    test("Report on a message and Block on the other climber: the report reaches the moderators, the blocked climber's message fails until unblocked", async () => {
      const key = "server-api-key-for-the-browser-test-0123456789";
      const base = await startServer({ port: freePort(), env: { SERVER_API_KEY: key } });
      const { alex, sam } = await bothClimbers(base);
      const rude = `you climb like a sack of potatoes (${tag})`;
      await sam.locator("#input").fill(rude);
      await sam.locator("#input").press("Enter");
      const theirs = bubble(alex, "theirs", rude);
      await theirs.waitFor();
      await theirs.hover();
      await theirs.locator(".act-report").click();
      await alex.locator("#report-reason").selectOption("harassment");
      await alex.locator("#report-note").fill("rude to me");
      await alex.locator("#report-send").click();
      await eventually(alex.locator("#notify-status")).toHaveText(/Thanks: the report was sent/);
      const reports = (await (await fetch(`${base}/api/server/reports`, { headers: { authorization: `Bearer ${key}` } })).json()) as {
        reports: { reason: string; note: string; content: string }[];
      };
      expect(reports.reports[0]).toMatchObject({ reason: "harassment", note: "rude to me", content: rude });

      await eventually(alex.locator("#peer-status")).toHaveText("online");
      await alex.locator("#block").click();
      await eventually(alex.locator("#block")).toHaveText("Unblock");
      await eventually(alex.locator("#peer-status")).toHaveText("offline");
      const after = `hello? (${tag})`;
      await sam.locator("#input").fill(after);
      await sam.locator("#input").press("Enter");
      await sam.locator(".msg.own.failed", { hasText: after }).waitFor();
      await eventually(sam.locator(".msg.own.failed .failed-note")).toHaveText(/blocked you/);
      await screenshot(sam, "blocked");
      expect(await alex.locator(".msg", { hasText: after }).count()).toBe(0);

      await alex.locator("#block").click();
      await eventually(alex.locator("#block")).toHaveText("Block");
      await eventually(alex.locator("#peer-status")).toHaveText("online");
      await sam.locator(".msg.own.failed .link-button", { hasText: "Retry" }).click();
      await bubble(alex, "theirs", after).waitFor();
      await Promise.all([alex.close(), sam.close()]);
    }, 60_000);

    test("scrolling up loads older history through the hook: every message once, in order", async () => {
      const base = await startServer({
        port: freePort(),
        env: {
          MESSAGE_RATE_PER_SECOND: "10000",
          MESSAGE_BURST: "10000",
          USER_MESSAGE_RATE_PER_SECOND: "10000",
          USER_MESSAGE_BURST: "10000",
        },
      });
      // Sam writes 130 messages in the second session, before Alex opens the page.
      const access = (await (await fetch(`${base}/dev/demo`, { method: "POST" })).json()) as { users: { id: string; token: string }[] };
      const samToken = access.users.find((u) => u.id.endsWith("b2"))!.token;
      const ws = new WebSocket(`${base.replace("http", "ws")}/ws/sessions/${SECOND_SESSION}/?token=${samToken}`);
      await new Promise((resolve) => ws.addEventListener("open", resolve, { once: true }));
      let stored = 0;
      ws.addEventListener("message", (e) => {
        if (JSON.parse(String(e.data)).type === "message") stored++;
      });
      for (let i = 1; i <= 130; i++)
        ws.send(JSON.stringify({ type: "message", content: `history ${String(i).padStart(3, "0")} (${tag})` }));
      await pollUntil(async () => stored === 130, "130 messages stored", 20_000);
      ws.close();

      const alex = await context!.newPage();
      alex.on("pageerror", (err) => console.error("page error:", err.message));
      await alex.goto(`${base}/demo?as=alex`);
      await connected(alex);
      await alex.locator(`.inbox-item[data-session="${SECOND_SESSION}"]`).click();
      const ours = alex.locator(".msg", { hasText: `(${tag})` });
      await pollUntil(async () => (await ours.count()) === 50, "the newest page (50)");
      for (let i = 0; i < 10 && (await alex.locator("#load-older").isVisible()); i++) {
        await alex.locator("#scroller").evaluate((el) => {
          el.scrollTop = 0;
          el.dispatchEvent(new Event("scroll"));
        });
        await Bun.sleep(300);
      }
      await pollUntil(async () => (await ours.count()) === 130, "all 130 after scrolling up");
      const texts = await ours.evaluateAll((els) => els.map((e) => e.querySelector(".text")!.textContent));
      expect(texts).toEqual(Array.from({ length: 130 }, (_, i) => `history ${String(i + 1).padStart(3, "0")} (${tag})`));
      await alex.close();
    }, 60_000);

    /** bun:test's expect has no auto-waiting: a small polling stand-in for locator assertions. */
    function eventually(locator: ReturnType<Page["locator"]>) {
      return {
        async toHaveText(expected: string | RegExp) {
          await pollUntil(async () => {
            const text = (await locator.textContent())?.trim() ?? "";
            return typeof expected === "string" ? text === expected : expected.test(text);
          }, `${locator} to have text ${expected}`);
        },
        async toHaveAttribute(name: string, expected: string) {
          await pollUntil(async () => (await locator.getAttribute(name)) === expected, `${locator} to have ${name}=${expected}`);
        },
        async toHaveValue(expected: string) {
          await pollUntil(async () => (await locator.inputValue()) === expected, `${locator} to have value ${expected}`);
        },
      };
    }

    async function metric(base: string, name: string): Promise<number> {
      const text = await (await fetch(`${base}/metrics`)).text();
      return Number(new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1] ?? Number.NaN);
    }

    async function pollUntil(check: () => Promise<boolean>, what: string, timeoutMs = 8_000) {
      const deadline = Date.now() + timeoutMs;
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await Bun.sleep(50);
      }
    }
  },
);
