/**
 * The documentation keeps its promises about itself: every relative link and anchor of README.md,
 * docs/ and bench/README.md leads somewhere, and the close-code and error-code tables of
 * docs/protocol.md are exactly the codes of src/protocol/codes.ts.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { CloseCode, ErrorCode } from "../src/protocol/codes.ts";
import * as v from "valibot";
import { EnvSchema } from "../src/config/env-schema.ts";

const ROOT = join(import.meta.dir, "..");
const FILES = [
  "README.md",
  "bench/README.md",
  "CHANGELOG.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");

const anchorsOf = (file: string) =>
  new Set(
    readFileSync(file, "utf8")
      .split("\n")
      .filter((l) => /^#{1,6} /.test(l))
      .map((l) => slug(l.replace(/^#+ /, "").replaceAll("`", ""))),
  );

/** Markdown links outside code blocks and inline code. */
function linksOf(text: string): string[] {
  const prose = text.replace(/```[\s\S]*?```/g, "").replace(/`[^`\n]*`/g, "");
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

describe("documentation", () => {
  test("every relative link points at a file that exists, and every anchor at a heading in it", () => {
    const broken: string[] = [];
    let checked = 0;
    for (const file of FILES) {
      const path = join(ROOT, file);
      for (const link of linksOf(readFileSync(path, "utf8"))) {
        if (/^[a-z]+:/i.test(link)) continue; // http(s), mailto
        const [target, anchor] = link.split("#");
        const resolved = target ? join(dirname(path), target) : path;
        checked++;
        if (!existsSync(resolved)) broken.push(`${file}: ${link} (no file ${relative(ROOT, resolved)})`);
        else if (anchor && resolved.endsWith(".md") && !anchorsOf(resolved).has(anchor))
          broken.push(`${file}: ${link} (no heading #${anchor})`);
      }
    }
    expect(broken).toEqual([]);
    expect(checked).toBeGreaterThan(15);
  });

  test("the README stays a short front door", () => {
    expect(readFileSync(join(ROOT, "README.md"), "utf8").split("\n").length).toBeLessThanOrEqual(160);
  });

  test("the configuration tables (docs/operations.md, docs/notifications.md) name exactly the variables the configuration schema reads", () => {
    const text = ["docs/operations.md", "docs/notifications.md"].map((f) => readFileSync(join(ROOT, f), "utf8")).join("\n");
    const documented = new Set<string>();
    for (const row of text.matchAll(/^\| (`[A-Z][A-Z0-9_]*`(?:, `[A-Z][A-Z0-9_]*`)*) \|/gm)) {
      for (const name of row[1]!.matchAll(/`([A-Z0-9_]+)`/g)) documented.add(name[1]!);
    }
    const read = Object.keys(EnvSchema.entries);
    expect(read.filter((name) => !documented.has(name))).toEqual([]);
    expect([...documented].filter((name) => !read.includes(name))).toEqual([]);
  });

  test("every default the configuration tables state is the schema's default", () => {
    const text = ["docs/operations.md", "docs/notifications.md"].map((f) => readFileSync(join(ROOT, f), "utf8")).join("\n");
    let checked = 0;
    for (const row of text.matchAll(/^\| (`[A-Z][A-Z0-9_]*`(?:, `[A-Z][A-Z0-9_]*`)*) \| ([^|]+) \|/gm)) {
      const names = [...row[1]!.matchAll(/`([A-Z0-9_]+)`/g)].map((m) => m[1]!);
      const defaults = [...row[2]!.matchAll(/`([^`]*)`/g)].map((m) => m[1]!);
      // A default described in words, or another variable's value ("`DATABASE_URL`"), is not compared.
      if (defaults.length !== names.length || !/^\s*`/.test(row[2]!) || defaults.some((d) => /^[A-Z][A-Z0-9_]+$/.test(d))) continue;
      for (const [i, name] of names.entries()) {
        const schema = EnvSchema.entries[name as keyof typeof EnvSchema.entries];
        expect({ name, default: String(v.getDefault(schema as v.GenericSchema) ?? "(none)") }).toEqual({ name, default: defaults[i]! });
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(30);
  });

  test("docs/protocol.md's close-code table lists exactly the close codes the server sends", () => {
    const table = sectionOf(readFileSync(join(ROOT, "docs/protocol.md"), "utf8"), "## Close codes");
    const documented = [...table.matchAll(/^\| (\d{4}) \|/gm)].map((m) => Number(m[1])).sort();
    expect(documented).toEqual(Object.values(CloseCode).sort());
  });

  test("docs/protocol.md's error-code table lists exactly the error codes the server sends", () => {
    const table = sectionOf(readFileSync(join(ROOT, "docs/protocol.md"), "utf8"), "## Server → client frames");
    const documented = [...table.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]!).sort();
    expect(documented).toEqual(Object.values(ErrorCode).sort());
  });
});

function sectionOf(text: string, heading: string): string {
  const start = text.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`no section ${heading}`);
  const next = text.indexOf("\n## ", start + heading.length + 2);
  return text.slice(start, next < 0 ? undefined : next);
}
