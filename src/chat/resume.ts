/**
 * Resuming a reconnected socket: replay what it missed from the store (messages, then changes to the
 * ones it had), then subscribe it to live frames at exactly the point the replay reached. The socket
 * is subscribed in the same tick as the last check that it caught up with the room, so nothing falls
 * between replay and live delivery, and nothing arrives twice.
 */
import type { Connection, ResumePoint } from "./types.ts";
import type { Room } from "./room.ts";
import { messageChangedFrame, messageFrame, resumedFrame, type MessageView } from "../protocol/frames.ts";
import type { ChangedMessage } from "./ports.ts";

/** At most this many messages are replayed; older missed ones are paged through the history API. */
export const RESUME_LIMIT = 1000;
const PAGE = 100;
/** A replay waits for the socket to drain below this between pages: a slow link is not cut for it. */
const DRAIN_BELOW_BYTES = 256 * 1024;
const DRAIN_WAIT_MS = 10_000;

export type ReplaySource = {
  messagesAfter: (afterSeq: number, limit: number) => Promise<MessageView[]>;
  changesAfter: (afterChange: number, limit: number) => Promise<ChangedMessage[]>;
  /**
   * Subscribes the socket to live frames and sends it `resumed` (the frame given), in the same tick
   * as the last check against the room: nothing live can come before it.
   */
  goLive: (resumed: string) => void;
};

export async function replayInto(conn: Connection, room: Room, resume: ResumePoint, source: ReplaySource): Promise<void> {
  const after = resume.afterSeq;
  // A client that saw more than this room delivered yet (it was on another instance): let the room catch up.
  if (after > room.lastSeq || (resume.changesAfter ?? 0) > room.lastChange) await room.catchUp();
  let cursor = after;
  let complete = true;
  if (room.lastSeq - cursor > RESUME_LIMIT) {
    cursor = room.lastSeq - RESUME_LIMIT;
    complete = false;
  }
  let first: number | null = null;
  let replayed = 0;
  while (cursor < room.lastSeq) {
    await drained(conn);
    const page = await source.messagesAfter(cursor, PAGE);
    const start = cursor;
    for (const m of page) {
      if (m.seq > room.lastSeq) break; // committed but not delivered by the room yet: it comes live
      conn.send(messageFrame(m));
      first ??= m.seq;
      cursor = m.seq;
      replayed++;
    }
    if (cursor === start) break; // rows missing from the store: nothing more to replay
  }
  if (resume.changesAfter !== null) await replayChanges(conn, room, resume.changesAfter, after, source);
  source.goLive(resumedFrame({ after, replayed, first_seq: first, last_seq: cursor, complete, change_seq: room.lastChange }));
}

/**
 * The changes after `changesAfter` to messages the client already had (seq <= after; later ones were
 * just replayed as they are now), each message once in its current state, in change order, up to
 * what the room delivered: later changes come live.
 */
async function replayChanges(conn: Connection, room: Room, changesAfter: number, after: number, source: ReplaySource) {
  let cursor = changesAfter;
  while (cursor < room.lastChange) {
    await drained(conn);
    const page = await source.changesAfter(cursor, PAGE);
    const start = cursor;
    for (const c of page) {
      if (c.changeSeq > room.lastChange) break;
      if (c.message.seq <= after) conn.send(messageChangedFrame(c.message));
      cursor = c.changeSeq;
    }
    if (cursor === start) break;
  }
}

/** Up to 1000 messages of up to 8 KB each: sent in pages, each once the previous one left. */
async function drained(conn: Connection) {
  const deadline = Date.now() + DRAIN_WAIT_MS;
  while (conn.getBufferedAmount() > DRAIN_BELOW_BYTES && Date.now() < deadline) await Bun.sleep(5);
}
