/**
 * The deployment files users start from: compose.yaml keeps its secrets required and its data
 * stores unreachable from outside; deploy/nginx.conf keeps tokens out of its logs. (Docker does not
 * run where the suite runs: these are checks of the files as written.)
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import webpush from "web-push";
import { describeWhen, useServers } from "./helpers.ts";

const PROMTOOL = Bun.which("promtool");
const NGINX = Bun.which("nginx") ?? (existsSync("/usr/sbin/nginx") ? "/usr/sbin/nginx" : null);

const ROOT = join(import.meta.dir, "..");
type Service = { ports?: unknown[]; networks?: string[]; environment?: Record<string, string>; command?: string[] };
const compose = Bun.YAML.parse(await Bun.file(join(ROOT, "compose.yaml")).text()) as {
  services: Record<string, Service>;
  networks: Record<string, { internal?: boolean } | null>;
};

describe("compose.yaml", () => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: compose's own syntax, named in the title
  test("no secret has a default: each is required (${VAR:?...})", async () => {
    const text = await Bun.file(join(ROOT, "compose.yaml")).text();
    for (const name of ["JWT_SECRET", "POSTGRES_PASSWORD", "REDIS_PASSWORD"]) {
      const uses = [...text.matchAll(new RegExp(`\\$\\{${name}([^}]*)\\}`, "g"))].map((m) => m[1]!);
      expect({ name, uses: uses.length > 0 }).toEqual({ name, uses: true });
      for (const use of uses) expect({ name, use }).toEqual({ name, use: expect.stringMatching(/^:\?/) });
    }
    expect(compose.services.postgres!.environment!.POSTGRES_PASSWORD).toStartWith("${POSTGRES_PASSWORD:?");
    expect(compose.services.redis!.command!.join(" ")).toContain("--requirepass ${REDIS_PASSWORD:?");
    for (const chat of ["chat-a", "chat-b"]) {
      expect(compose.services[chat]!.environment!.DATABASE_URL).toContain(":${POSTGRES_PASSWORD:?");
      expect(compose.services[chat]!.environment!.REDIS_URL).toContain(":${REDIS_PASSWORD:?");
      // Notifications are optional: empty means off, never a working default key.
      for (const name of ["VAPID_PRIVATE_KEY", "NOTIFY_WEBHOOK_SECRET"])
        expect(compose.services[chat]!.environment![name]).toBe(`\${${name}:-}`);
    }
  });

  test("PostgreSQL and Redis publish no port and sit on an internal network only; nginx is the only way in", () => {
    for (const store of ["postgres", "redis"]) {
      expect(compose.services[store]!.ports).toBeUndefined();
      for (const net of compose.services[store]!.networks ?? ["default"])
        expect({ store, net, internal: compose.networks[net]?.internal }).toEqual({ store, net, internal: true });
    }
    const published = Object.entries(compose.services)
      .filter(([, s]) => s.ports?.length)
      .map(([name]) => name);
    expect(published).toEqual(["proxy"]);
  });
});

const pathServers = useServers();

describe("deploy/nginx.conf", () => {
  test("its access log format has no query string: no token, no ticket", async () => {
    const conf = await Bun.file(join(ROOT, "deploy", "nginx.conf")).text();
    const formats = [...conf.matchAll(/log_format\s+(\S+)\s+([^;]+);/g)];
    expect(formats.map((f) => f[1])).toEqual(["chat_safe"]);
    for (const variable of ["$request ", '$request"', "$request_uri", "$args", "$query_string", "$arg_", "$is_args"]) {
      expect({ variable, used: formats[0]![2]!.includes(variable) }).toEqual({ variable, used: false });
    }
    for (const line of conf.split("\n").filter((l) => /^\s*access_log\s/.test(l))) expect(line).toContain("chat_safe");
  });

  test("its chat location takes every path of the service's own (docs/operations.md's table) and leaves the rest of /api/ to the backend", async () => {
    const conf = await Bun.file(join(ROOT, "deploy", "nginx.conf")).text();
    const chat = new RegExp(/location ~ "([^"]+)" \{/.exec(conf)![1]!);
    const docs = await Bun.file(join(ROOT, "docs", "operations.md")).text();
    const table = docs.slice(docs.indexOf("| path | what |"));
    const paths = [...table.slice(0, table.indexOf("\n\n")).matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!);
    expect(paths.length).toBeGreaterThan(10);
    const sample = (p: string) => p.replaceAll("<id>", "5e55a0b1-0000-4000-8000-000000000001").replace(/\?.*$/, "");
    for (const p of paths) expect({ p, chat: chat.test(sample(p)) }).toEqual({ p, chat: !p.startsWith("/metrics") });
    for (const p of [
      "/api/users/me",
      "/api/sessions/",
      "/api/sessions/5e55a0b1-0000-4000-8000-000000000001/",
      "/api/token/refresh/",
      "/admin/",
    ]) {
      expect({ p, chat: chat.test(p) }).toEqual({ p, chat: false });
    }
    expect(conf).toContain("proxy_next_upstream error timeout http_502 http_503;");
    // The server answers each documented path (development-only ones aside): none is a 404.
    const vapid = webpush.generateVAPIDKeys();
    const app = await pathServers.start(
      { serverApiKey: "server-api-key-for-the-paths-test-0123456789" },
      { VAPID_PUBLIC_KEY: vapid.publicKey, VAPID_PRIVATE_KEY: vapid.privateKey, VAPID_SUBJECT: "mailto:ops@sendbuddy.test" },
    );
    const rows = [...table.slice(0, table.indexOf("\n\n")).matchAll(/^\| `([^`]+)` \| ([^|]+)\|/gm)];
    for (const [, p, what] of rows) {
      if (what!.includes("development only")) continue;
      const res = await fetch(`${app.httpUrl}${sample(p!)}`);
      expect({ p, status: res.status === 404 ? 404 : "answered" }).toEqual({ p, status: "answered" });
    }
  });
});

describe("deploy/prometheus/alerts.yml and deploy/grafana/dashboard.json", () => {
  const servers = useServers();
  const files = ["deploy/prometheus/alerts.yml", "deploy/grafana/dashboard.json"];

  test("name only metrics the server renders (a histogram by its _bucket, _sum and _count)", async () => {
    const app = await servers.start();
    const text = await (await fetch(`${app.httpUrl}/metrics`)).text();
    const rendered = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    for (const file of files) {
      const used = new Set([...(await Bun.file(join(ROOT, file)).text()).matchAll(/\b(?:chat|process)_[a-z_]+/g)].map((m) => m[0]));
      expect(used.size).toBeGreaterThan(5);
      for (const name of used) {
        const base = name.replace(/_(bucket|sum|count)$/, "");
        expect({ file, name, rendered: rendered.has(name) || rendered.has(base) }).toEqual({ file, name, rendered: true });
      }
    }
    const dashboard = (await Bun.file(join(ROOT, files[1]!)).json()) as { panels: { targets: { expr: string }[] }[] };
    expect(dashboard.panels.length).toBeGreaterThan(10);
  });

  describeWhen(PROMTOOL !== null, "promtool", "install Debian's prometheus package (apt-get install -y prometheus) for promtool", () => {
    test("promtool check rules accepts the alert rules", async () => {
      const proc = Bun.spawn([PROMTOOL!, "check", "rules", join(ROOT, files[0]!)], { stdout: "pipe", stderr: "pipe" });
      const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
      expect(out).toContain("SUCCESS");
      expect(code).toBe(0);
    });
  });
});

describeWhen(NGINX !== null, "nginx -t", "install Debian's nginx package (apt-get install -y nginx-light) for nginx -t", () => {
  test("nginx accepts deploy/nginx.conf (inside an http block, the compose host names pointed at loopback)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nginx-check-"));
    try {
      const conf = (await Bun.file(join(ROOT, "deploy", "nginx.conf")).text()).replaceAll(/chat-[ab]:8000/g, "127.0.0.1:8000");
      writeFileSync(join(dir, "chat.conf"), conf);
      writeFileSync(
        join(dir, "nginx.conf"),
        `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp { access_log off; include ${dir}/chat.conf; }\n`,
      );
      const proc = Bun.spawn([NGINX!, "-t", "-c", join(dir, "nginx.conf")], { stdout: "pipe", stderr: "pipe" });
      const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
      expect(err).toContain("test is successful");
      expect(code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
