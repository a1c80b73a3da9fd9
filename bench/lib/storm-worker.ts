/**
 * A storm client process (bench/modes/storm.ts starts --client-procs of them). It answers the
 * orchestrator's requests over IPC and exits when the orchestrator goes away, when told to close, or
 * after its lifetime (argv[2], ms) at the latest.
 */
import { StormClient } from "./storm-client.ts";
import type { StormWorkerRequest, StormWorkerResponse } from "./storm-ipc.ts";

const lifetimeMs = Number(process.argv[2] ?? 600_000);
setTimeout(() => process.exit(3), lifetimeMs).unref();
process.on("disconnect", () => process.exit(0));

const client = new StormClient();

async function handle(request: StormWorkerRequest): Promise<unknown> {
  switch (request.type) {
    case "connect":
      return client.connect(request.body);
    case "chat":
      return client.chat(request.body);
    case "finish":
      return client.finish(request.body);
    case "close":
      return client.close();
  }
}

process.on("message", (message: unknown) => {
  const request = message as StormWorkerRequest;
  handle(request).then(
    (result) => reply({ id: request.id, ok: true, result }),
    (err: unknown) => reply({ id: request.id, ok: false, error: (err as Error)?.stack ?? String(err) }),
  );
});

function reply(response: StormWorkerResponse) {
  process.send?.(response);
}
