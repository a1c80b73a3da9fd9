/** Sockets of one in-process instance: topics as Bun's server.publish keeps them, frames recorded per socket. */
import type { Connection, Fanout } from "../../src/chat/types.ts";

export class FakeSocket implements Connection {
  readonly frames: { type: string; [k: string]: unknown }[] = [];
  /** The same frames as sent: their JSON text. */
  readonly sent: string[] = [];
  readonly topics = new Set<string>();
  /** The frames as they would leave: one write per send, one for all the sends of a cork. */
  readonly writes: string[][] = [];
  private corked: string[] | null = null;
  constructor(private readonly server: FakeSockets) {}
  send(frame: string): void {
    this.sent.push(frame);
    this.frames.push(JSON.parse(frame));
    if (this.corked) this.corked.push(frame);
    else this.writes.push([frame]);
  }
  subscribe(topic: string): void {
    this.topics.add(topic);
  }
  unsubscribe(topic: string): void {
    this.topics.delete(topic);
  }
  cork(sends: () => void): void {
    if (this.corked) {
      sends();
      return;
    }
    this.corked = [];
    try {
      sends();
    } finally {
      if (this.corked.length > 0) this.writes.push(this.corked);
      this.corked = null;
    }
  }
  getBufferedAmount(): number {
    return 0;
  }
  of(type: string) {
    return this.frames.filter((f) => f.type === type);
  }
  /** The open socket, as the server sees it. */
  get isOpen(): boolean {
    return this.server.has(this);
  }
}

export class FakeSockets {
  private readonly sockets = new Set<FakeSocket>();
  readonly fanout: Fanout = (topic, frame) => {
    for (const s of this.sockets) if (s.topics.has(topic)) s.send(frame);
  };
  open(): FakeSocket {
    const s = new FakeSocket(this);
    this.sockets.add(s);
    return s;
  }
  close(s: FakeSocket): void {
    this.sockets.delete(s);
  }
  has(s: FakeSocket): boolean {
    return this.sockets.has(s);
  }
}
