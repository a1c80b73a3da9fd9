#!/usr/bin/env bun
/**
 * `bun run bench [options]`: measures the chat server against a bare Bun pub/sub baseline with the
 * same load client, in child processes, and prints human-readable lines then one line of JSON.
 * See bench/options.ts for the options (or `bun run bench --help`).
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "../src/store/connect.ts";
import { migrate } from "../src/store/migrations.ts";
import type { BenchContext } from "./harness.ts";
import { killAllChildrenNow, killChildrenOnExit } from "./lib/children.ts";
import { modes } from "./modes/index.ts";
import { parseOptions, UsageError, USAGE, type Options } from "./options.ts";

const CLIENT_FRAMES_PER_SECOND_LIMIT = 50_000;

async function main(argv: string[]): Promise<number> {
  let options: Options | "help";
  try {
    options = parseOptions(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (options === "help") {
    console.log(USAGE);
    return 0;
  }
  killChildrenOnExit(options.maxSeconds);
  const startedAt = new Date();
  const mode = modes[options.mode];
  const ctx: BenchContext = {
    options,
    sql: connect({ url: options.databaseUrl, poolMax: 2 }),
    logDir: mkdtempSync(join(tmpdir(), "chat-bench-")),
    notes: [],
  };
  await migrate(ctx.sql);
  console.log(
    `${mode.describe(options)} · ${options.runs} run(s) · ${options.clientProcs} client process(es)${options.target ? ` · target ${options.target}` : ""}`,
  );
  warnIfClientMayBind(options);

  const runs: unknown[] = [];
  for (let i = 0; i < options.runs; i++) {
    console.log(`run ${i + 1}/${options.runs}…`);
    runs.push(await mode.run(ctx));
  }
  await ctx.sql.end({ timeout: 5 });
  killAllChildrenNow();
  removeIfAllEmpty(ctx.logDir);

  if (options.runs > 1) console.log(`medians of ${options.runs} runs:`);
  const { results, ratios } = mode.report(runs);
  for (const note of ctx.notes) console.log(`note: ${note}`);
  console.log(
    JSON.stringify({
      bench: "sendbuddy-chat",
      mode: options.mode,
      params: publicParams(options),
      machine: { cores: navigator.hardwareConcurrency, bun: Bun.version },
      started_at: startedAt.toISOString(),
      elapsed_s: Math.round((Date.now() - startedAt.getTime()) / 100) / 10,
      results,
      ratios,
      notes: ctx.notes,
      runs_detail: runs,
    }),
  );
  return 0;
}

/** Each message costs the client one send and two receipts (the echo and the other participant's). */
function warnIfClientMayBind(o: Options) {
  if (o.mode !== "rate" && o.mode !== "cluster") return;
  const framesPerProcess = (o.rate * o.pairs * 2 * 3) / o.clientProcs;
  if (framesPerProcess > CLIENT_FRAMES_PER_SECOND_LIMIT) {
    console.log(
      `warning: ~${Math.round(framesPerProcess)} frames/s per client process: the client may be the bottleneck; raise --client-procs`,
    );
  }
}

/** The servers' stderr logs are kept only when one of them logged something. */
function removeIfAllEmpty(dir: string) {
  const files = readdirSync(dir);
  if (files.every((f) => statSync(join(dir, f)).size === 0)) rmSync(dir, { recursive: true, force: true });
}

/** Everything but the secret. */
function publicParams(o: Options) {
  const { jwtSecret: _secret, ...rest } = o;
  return rest;
}

process.exit(await main(Bun.argv.slice(2)));
