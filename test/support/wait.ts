/** Waiting on a condition instead of sleeping: polls until it holds, fails naming what it waited for. */

/**
 * Resolves as soon as `predicate` holds (checked at once, then every `intervalMs`); throws
 * "timed out waiting for <what>" after `timeoutMs`. For something that must happen: a frame, a
 * row, a metric, a log line. To assert that nothing more happens, a fixed `settle()` is the tool.
 */
export async function waitFor(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 5000, intervalMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${timeoutMs} ms)`);
    await Bun.sleep(intervalMs);
  }
}
