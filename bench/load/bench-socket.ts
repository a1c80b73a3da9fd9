/** One participant's WebSocket, with what the tracker needs to know about it. */
import type { Participant } from "./ipc.ts";

export type FrameHandler = (socket: BenchSocket, text: string, receivedAt: number) => void;

export class BenchSocket {
  /** Highest seq received so far: a lower or equal one is out of order. */
  lastSeq = 0;
  /** The other participant of the session (set once both are open). */
  peer: BenchSocket | null = null;
  closedUnexpectedly = false;
  private ws: WebSocket | null = null;
  private closing = false;

  constructor(
    readonly participant: Participant,
    private readonly onFrame: FrameHandler,
  ) {}

  /** Resolves once open; rejects on an error, a close before open, or after `timeoutMs`. */
  open(timeoutMs: number): Promise<void> {
    const ws = new WebSocket(this.participant.url);
    this.ws = ws;
    ws.addEventListener("message", (e) => this.onFrame(this, String(e.data), performance.now()));
    ws.addEventListener("close", () => {
      if (!this.closing) this.closedUnexpectedly = true;
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(`no open after ${timeoutMs} ms`), timeoutMs);
      const fail = (why: string) => {
        clearTimeout(timer);
        this.closing = true;
        ws.close();
        reject(new Error(why));
      };
      ws.addEventListener("open", () => {
        clearTimeout(timer);
        resolve();
      });
      ws.addEventListener("error", () => fail("websocket error"));
      ws.addEventListener("close", (e) => fail(`closed before open (${e.code})`));
    });
  }

  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  send(text: string): void {
    this.ws?.send(text);
  }

  close(): Promise<void> {
    const ws = this.ws;
    this.closing = true;
    if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, 2000);
      ws.addEventListener("close", () => {
        clearTimeout(timer);
        resolve();
      });
      ws.close();
    });
  }
}

/** Opens every participant's socket with at most `concurrency` handshakes in flight. */
export async function openAll(
  participants: Participant[],
  onFrame: FrameHandler,
  options: { concurrency: number; timeoutMs: number },
): Promise<{ sockets: BenchSocket[]; failures: string[]; elapsedMs: number }> {
  const sockets: BenchSocket[] = [];
  const failures: string[] = [];
  let next = 0;
  const lane = async () => {
    while (next < participants.length) {
      const socket = new BenchSocket(participants[next++]!, onFrame);
      try {
        await socket.open(options.timeoutMs);
        sockets.push(socket);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(options.concurrency, participants.length) }, lane));
  return { sockets, failures, elapsedMs: performance.now() - started };
}
