/**
 * The domain's view of sockets and their delivery, shared by the chat service, resume and the
 * transport that implements them.
 */
import type { Participant, SessionInfo } from "./ports.ts";

/** One open socket, as the domain sees it. The transport implements it over a Bun WebSocket. */
export interface Connection {
  send(frame: string): void;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  /** Runs `sends` so that their frames leave in one write (Bun's `ws.cork`). */
  cork(sends: () => void): void;
  /** Bytes queued for this socket and not yet sent. */
  getBufferedAmount(): number;
}

/** Local delivery to every socket subscribed to a topic (Bun's `server.publish`). */
export type Fanout = (topic: string, frame: string) => void;

/** Who a socket is and where: fixed for the socket's life. */
/** Where a resuming socket left off: the last message seq it has and, when it knows it, the last change number. */
export type ResumePoint = { afterSeq: number; changesAfter: number | null };

export type Member = {
  user: Participant;
  session: SessionInfo;
};

/**
 * Each socket subscribes to one Bun topic: its participant's in its session. A frame for the whole
 * room is published to both participants' topics (a session has two); a frame for "the others" to
 * the other's only, so it never reaches any socket of the sender. One subscription per socket keeps
 * idle sockets small.
 */
export const userTopic = (sessionId: string, userId: string) => `s:${sessionId}:${userId}`;
