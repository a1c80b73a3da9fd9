/**
 * A load-client process. The orchestrator starts one or more (--client-procs) and sends them
 * requests over IPC; each answers with its figures. It exits when the orchestrator goes away, when
 * told to close, or after its lifetime (argv[2], ms) at the latest.
 */
import { LoadClient } from "./load-client.ts";
import type { WorkerRequest, WorkerResponse } from "./ipc.ts";

const lifetimeMs = Number(process.argv[2] ?? 600_000);
setTimeout(() => process.exit(3), lifetimeMs).unref();
process.on("disconnect", () => process.exit(0));

const client = new LoadClient();

function handle(request: WorkerRequest): Promise<unknown> {
  switch (request.type) {
    case "connect":
      return client.connect(request.body);
    case "load":
      return client.load(request.body);
    case "probe":
      return client.probe(request.body);
    case "close":
      return client.close();
  }
}

process.on("message", (message: unknown) => {
  const request = message as WorkerRequest;
  handle(request).then(
    (result) => reply({ id: request.id, ok: true, result }),
    (err: unknown) => reply({ id: request.id, ok: false, error: (err as Error)?.stack ?? String(err) }),
  );
});

function reply(response: WorkerResponse) {
  process.send?.(response);
}
