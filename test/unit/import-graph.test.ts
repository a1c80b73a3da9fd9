/** The architecture holds in the code: src/ has no import cycle, and the domain imports no adapter. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { Glob } from "bun";

const SRC = join(import.meta.dir, "..", "..", "src");
const files = [...new Glob("**/*.ts").scanSync(SRC)].filter((f) => !f.endsWith(".d.ts"));

/** Relative imports of each module (type-only ones included: they are coupling too). */
const graph = new Map(
  files.map((file) => {
    const text = readFileSync(join(SRC, file), "utf8");
    const targets = [...text.matchAll(/^(?:import|export)[^;]*?from\s+"(\.{1,2}\/[^"]+\.ts)"/gms)].map((m) =>
      relative(SRC, join(dirname(join(SRC, file)), m[1]!)),
    );
    return [file, targets];
  }),
);

describe("import graph of src/", () => {
  test("has no cycle", () => {
    const cycles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === "done") return;
      if (state.get(file) === "open") {
        cycles.push([...path.slice(path.indexOf(file)), file].join(" → "));
        return;
      }
      state.set(file, "open");
      for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
      state.set(file, "done");
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles).toEqual([]);
    expect(graph.size).toBeGreaterThan(40);
  });

  test("the domain (src/chat) imports only itself, the protocol and the generic helpers (lib): no Bun server, SQL or Redis", () => {
    const outside = [...graph]
      .filter(([file]) => file.startsWith("chat/"))
      .flatMap(([file, targets]) =>
        targets
          .filter((t) => !t.startsWith("chat/") && !t.startsWith("protocol/") && !t.startsWith("observability/") && !t.startsWith("lib/"))
          .map((t) => `${file} → ${t}`),
      );
    expect(outside).toEqual([]);
    for (const [file] of graph) {
      if (!file.startsWith("chat/")) continue;
      expect({ file, imports: /from\s+"(postgres|ioredis)"/.test(readFileSync(join(SRC, file), "utf8")) }).toEqual({
        file,
        imports: false,
      });
    }
  });

  test("transport and notify reach storage only through ports: they import no store module", () => {
    const reaching = [...graph]
      .filter(([file]) => file.startsWith("transport/") || file.startsWith("notify/"))
      .flatMap(([file, targets]) => targets.filter((t) => t.startsWith("store/")).map((t) => `${file} → ${t}`));
    expect(reaching).toEqual([]);
  });

  test("config imports nothing above it, and lib (generic helpers) nothing at all of src/", () => {
    const above = [...graph]
      .filter(([file]) => file.startsWith("config/") || file.startsWith("lib/"))
      .flatMap(([file, targets]) => targets.filter((t) => !t.startsWith(file.split("/")[0]! + "/")).map((t) => `${file} → ${t}`));
    expect(above).toEqual([]);
  });
});
