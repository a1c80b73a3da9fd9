/** The registry's shutdown: every socket is told before any departure runs, and closeAll waits for the departures. */
import { expect, test } from "bun:test";
import { SocketRegistry } from "../../src/transport/socket-registry.ts";
import { Metrics } from "../../src/observability/metrics.ts";
import { CloseCode } from "../../src/protocol/codes.ts";
import type { ChatSocket } from "../../src/transport/types.ts";

/** A socket whose close() runs the close handler at once, as Bun's does. */
function fakeSocket(registry: SocketRegistry, userId: string, log: string[]): ChatSocket {
  const ws = {
    data: { slot: -1 },
    close(code: number) {
      log.push(`close ${userId} ${code}`);
      registry.remove(ws, userId);
      registry.departed(async () => {
        await Bun.sleep(5);
        log.push(`departed ${userId}`);
      });
    },
  } as unknown as ChatSocket;
  registry.add(ws, userId);
  return ws;
}

test("closeAll tells every socket first, waits the grace, then resolves once every departure is done", async () => {
  const registry = new SocketRegistry(0, new Metrics());
  const log: string[] = [];
  for (const user of ["u1", "u2", "u3"]) fakeSocket(registry, user, log);
  const started = performance.now();
  await registry.closeAll(CloseCode.GoingAway, 50);
  registry.stop();
  expect(performance.now() - started).toBeGreaterThanOrEqual(50);
  expect(log.slice(0, 3).every((l) => l.startsWith("close ") && l.endsWith(" 1001"))).toBe(true);
  expect(log.slice(3).sort()).toEqual(["departed u1", "departed u2", "departed u3"]);
  expect(registry.size).toBe(0);
});

test("outside closeAll a departure runs at once", () => {
  const registry = new SocketRegistry(0, new Metrics());
  let ran = false;
  registry.departed(() => {
    ran = true;
  });
  registry.stop();
  expect(ran).toBe(true);
});
