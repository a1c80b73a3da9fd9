/**
 * Matches every received frame with the message it carries. Contents are unique, so the content
 * finds the local record of the send (its timestamp on this process' clock: the server's clock is
 * never trusted). Counts duplicates and out-of-order seqs per socket, and error frames.
 */
import type { BenchSocket } from "./bench-socket.ts";

/** The figures of one load (one rate step); messages keep a reference to the load that sent them. */
export class LoadCounters {
  sent = 0;
  sentInWindow = 0;
  deliveredInWindow = 0;
  /** Messages of this load not yet received by the other participant / not yet echoed. */
  awaitingPeer = 0;
  awaitingEcho = 0;
  readonly latenciesMs: number[] = [];
  readonly messageIds: string[] = [];
  duplicated = 0;
  outOfOrder = 0;
  unknownFrames = 0;
  changesReceived = 0;
  readonly errors: Record<string, number> = {};

  constructor(
    readonly windowStart: number,
    readonly windowEnd: number,
  ) {}

  inWindow(at: number): boolean {
    return at >= this.windowStart && at < this.windowEnd;
  }
}

type SentMessage = {
  sender: BenchSocket;
  sentAt: number;
  inWindow: boolean;
  echoed: boolean;
  deliveredAt: number | null;
  load: LoadCounters;
};

type MessageFrame = { type: "message"; message_id: string; seq: number; content: string };
type ErrorFrame = { type: "error"; code: string };

export class Tracker {
  private readonly messages = new Map<string, SentMessage>();
  /** Duplicates, reorders and errors go to the load running when they are seen. */
  private current = new LoadCounters(0, 0);

  beginLoad(windowStart: number, windowEnd: number): LoadCounters {
    this.current = new LoadCounters(windowStart, windowEnd);
    return this.current;
  }

  recordSend(sender: BenchSocket, content: string, sentAt: number, intendedAt: number): void {
    const load = this.current;
    const inWindow = load.inWindow(intendedAt);
    this.messages.set(content, { sender, sentAt, inWindow, echoed: false, deliveredAt: null, load });
    load.sent++;
    load.awaitingPeer++;
    load.awaitingEcho++;
    if (inWindow) load.sentInWindow++;
  }

  readonly onFrame = (socket: BenchSocket, text: string, receivedAt: number): void => {
    let frame: { type?: unknown };
    try {
      frame = JSON.parse(text) as { type?: unknown };
    } catch {
      this.current.unknownFrames++;
      return;
    }
    if (frame.type === "message") this.onMessage(socket, frame as MessageFrame, receivedAt);
    else if (frame.type === "error") this.onError(frame as ErrorFrame);
    else if (frame.type === "message_changed") this.current.changesReceived++;
  };

  private onMessage(socket: BenchSocket, frame: MessageFrame, receivedAt: number) {
    const message = this.messages.get(frame.content);
    if (!message || message.sender.participant.sessionId !== socket.participant.sessionId) {
      this.current.unknownFrames++;
      return;
    }
    const own = message.sender === socket;
    if (own ? message.echoed : message.deliveredAt !== null) {
      this.current.duplicated++;
      return;
    }
    if (frame.seq <= socket.lastSeq) this.current.outOfOrder++;
    else socket.lastSeq = frame.seq;

    const load = message.load;
    if (!message.echoed && message.deliveredAt === null) load.messageIds.push(frame.message_id);
    if (own) {
      message.echoed = true;
      load.awaitingEcho--;
      return;
    }
    message.deliveredAt = receivedAt;
    load.awaitingPeer--;
    if (message.inWindow) load.latenciesMs.push(receivedAt - message.sentAt);
    if (this.current.inWindow(receivedAt)) this.current.deliveredInWindow++;
  }

  private onError(frame: ErrorFrame) {
    const code = String(frame.code);
    this.current.errors[code] = (this.current.errors[code] ?? 0) + 1;
  }
}
