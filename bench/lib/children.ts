/**
 * Every child process the bench starts goes through here, so that all of them are killed when the
 * bench ends: normally, on SIGINT/SIGTERM, on an uncaught error, or at the --max-seconds deadline.
 */
import type { Subprocess } from "bun";

const running = new Set<Subprocess>();

type SpawnOptions = {
  env: Record<string, string>;
  cwd?: string;
  /** stderr goes to this file (the servers' warnings and errors); stdout is discarded. */
  stderrFile?: string;
  ipc?: (message: unknown) => void;
};

export function spawnChild(cmd: string[], options: SpawnOptions): Subprocess {
  const child = Bun.spawn({
    cmd,
    env: options.env,
    cwd: options.cwd,
    stdin: "ignore",
    stdout: "ignore",
    stderr: options.stderrFile ? Bun.file(options.stderrFile) : "inherit",
    ...(options.ipc ? { ipc: options.ipc, serialization: "json" as const } : {}),
  });
  running.add(child);
  void child.exited.then(() => running.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL if the child has not exited after `graceMs`. */
export async function stopChild(child: Subprocess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const exited = await Promise.race([child.exited.then(() => true), Bun.sleep(graceMs).then(() => false)]);
  if (!exited) {
    child.kill("SIGKILL");
    await Promise.race([child.exited, Bun.sleep(2000)]);
  }
}

export function killAllChildrenNow(): void {
  for (const child of running) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  running.clear();
}

/** Installs the handlers that guarantee no child outlives the bench. */
export function killChildrenOnExit(maxSeconds: number): void {
  process.on("exit", killAllChildrenNow);
  const abort = (message: string, code: number) => {
    console.error(message);
    killAllChildrenNow();
    process.exit(code);
  };
  process.on("SIGINT", () => abort("bench: interrupted, children killed", 130));
  process.on("SIGTERM", () => abort("bench: terminated, children killed", 143));
  process.on("uncaughtException", (err) => abort(`bench: uncaught error: ${err.stack ?? err}`, 1));
  process.on("unhandledRejection", (err) => abort(`bench: unhandled rejection: ${(err as Error)?.stack ?? err}`, 1));
  setTimeout(() => abort(`bench: still running after --max-seconds ${maxSeconds}, stopped`, 1), maxSeconds * 1000).unref();
}
