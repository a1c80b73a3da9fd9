/**
 * Live inboxes: an inbox socket gets a snapshot of its user's sessions, then a fresh entry for a
 * session whenever something it shows changed (a message stored, a read mark moved, the other
 * climber came or went), on whichever instance it changed.
 *
 * Changes travel as "the user's inbox entry for this session is stale" on the user's bus channel;
 * the instance holding the user's inbox sockets reads the entry from the store. So every frame is
 * the state as committed, bursts fold into a few reads (KeyedThrottle), the last state always
 * arrives, and a session created by the backend appears with its first message.
 */
import type { Bus, ChatQueries, Presence, SessionInfo } from "./ports.ts";
import type { DomainEvents } from "./domain-events.ts";
import type { Connection } from "./types.ts";
import { cursorText, readInbox, type InboxPage } from "./inbox.ts";
import { KeyedThrottle } from "./throttle.ts";
import { inboxFrame, inboxReadyFrame } from "../protocol/frames.ts";
import type { Logger } from "../observability/log.ts";

/** At most this many frames per session per second reach an inbox socket (and bus envelopes per user and session). */
export const INBOX_FRAMES_PER_SECOND = 4;
/** Sessions in the snapshot; the rest are paged through GET /api/inbox from `next`. */
export const INBOX_SNAPSHOT_SESSIONS = 200;

export type InboxFeedDeps = { store: Pick<ChatQueries, "inbox">; presence: Presence; bus: Bus; log: Logger; intervalMs?: number };

type InboxSocket = {
  conn: Connection;
  /** True once its snapshot was sent: from then on it gets live entries. */
  live: boolean;
  /** The read tick its snapshot started at: entries read earlier are older than the snapshot. */
  since: number;
  /** Sessions changed while its snapshot was being read: sent again once it is live. */
  dirty: Set<string>;
};

const keyOf = (userId: string, sessionId: string) => `${userId} ${sessionId}`;
const splitKey = (key: string) => key.split(" ") as [userId: string, sessionId: string];

export class InboxFeed {
  private readonly socketsByUser = new Map<string, Set<InboxSocket>>();
  /** Users whose bus channel this instance joined, settled once subscribed. */
  private readonly joined = new Map<string, Promise<void>>();
  /** Counts store reads, so that an entry read before a socket's snapshot is never sent after it. */
  private reads = 0;
  /** Origin side: one envelope per user and session per interval, the last change never dropped. */
  private readonly announcer: KeyedThrottle<string>;
  /** Receiving side: one store read per user and session per interval. */
  private readonly refresher: KeyedThrottle<string>;
  private readonly store: Pick<ChatQueries, "inbox">;
  private readonly presence: Presence;
  private readonly bus: Bus;
  private readonly log: Logger;

  constructor(deps: InboxFeedDeps) {
    ({ store: this.store, presence: this.presence, bus: this.bus, log: this.log } = deps);
    const interval = deps.intervalMs ?? 1000 / INBOX_FRAMES_PER_SECOND;
    this.announcer = new KeyedThrottle(interval, (key) => this.announce(...splitKey(key)));
    this.refresher = new KeyedThrottle(interval, (key) => this.refresh(...splitKey(key)));
  }

  /** Follows what the domain does: a message stored or a read mark moved touches both participants' inboxes, a presence change the other's. */
  follow(events: DomainEvents): void {
    const both = (s: SessionInfo) => this.touch(s.sessionId, [s.inviter.userId, s.invitee.userId]);
    events.on("messageStored", both);
    events.on("messageChanged", both); // the preview follows an edit or a deletion
    events.on("readMoved", both);
    // Touched once, by the instance that decided the change.
    events.on("presenceChanged", (change, s) =>
      this.touch(
        change.sessionId,
        [s.inviter.userId, s.invitee.userId].filter((u) => u !== change.userId),
      ),
    );
  }

  /** Something these users' inboxes show of the session changed here: tell every instance. */
  touch(sessionId: string, userIds: Iterable<string>): void {
    // Alone (no bus), only this instance's inbox sockets can be listening: nothing to do without one.
    const alone = this.bus.status() === "local";
    for (const userId of userIds) if (!alone || this.socketsByUser.has(userId)) this.announcer.call(keyOf(userId, sessionId));
  }

  /** A change announced by another instance (or this one). */
  changed(userId: string, sessionId: string): void {
    const sockets = this.socketsByUser.get(userId);
    if (!sockets) return;
    for (const s of sockets) if (!s.live) s.dirty.add(sessionId);
    this.refresher.call(keyOf(userId, sessionId));
  }

  /** Sends the snapshot, then live entries. False when the user does not exist (the socket is to be closed). */
  async open(conn: Connection, userId: string): Promise<boolean> {
    const socket: InboxSocket = { conn, live: false, since: 0, dirty: new Set() };
    let sockets = this.socketsByUser.get(userId);
    if (!sockets) this.socketsByUser.set(userId, (sockets = new Set()));
    sockets.add(socket);
    await this.joinChannel(userId);
    socket.since = ++this.reads;
    const page = await readInbox(this.store, this.presence, userId, { limit: INBOX_SNAPSHOT_SESSIONS, before: null });
    if (!page) return false;
    if (!sockets.has(socket)) return true; // closed meanwhile
    for (const entry of page.entries) conn.send(inboxFrame(entry));
    conn.send(inboxReadyFrame({ sessions: page.entries.length, has_more: page.hasMore, next: page.next && cursorText(page.next) }));
    socket.live = true;
    for (const sessionId of socket.dirty) this.refresher.call(keyOf(userId, sessionId));
    socket.dirty.clear();
    return true;
  }

  close(conn: Connection, userId: string): void {
    const sockets = this.socketsByUser.get(userId);
    if (!sockets) return;
    for (const s of sockets) if (s.conn === conn) sockets.delete(s);
    if (sockets.size > 0) return;
    this.socketsByUser.delete(userId);
    this.joined.delete(userId);
    this.bus.leaveUser(userId);
  }

  /** After a bus outage: changes announced meanwhile were lost; each live inbox gets its first page again. */
  async resync(): Promise<void> {
    await Promise.all(
      [...this.socketsByUser.keys()].map(async (userId) => {
        const tick = ++this.reads;
        const page = await readInbox(this.store, this.presence, userId, { limit: INBOX_SNAPSHOT_SESSIONS, before: null }).catch(() => null);
        for (const entry of page?.entries ?? []) this.sendLive(userId, tick, inboxFrame(entry));
      }),
    );
  }

  /** Shutdown: announcements still folded in a window go out before the bus closes. */
  stop(): Promise<void> {
    return this.announcer.flush();
  }

  get socketCount(): number {
    let n = 0;
    for (const sockets of this.socketsByUser.values()) n += sockets.size;
    return n;
  }

  private joinChannel(userId: string): Promise<void> {
    let joining = this.joined.get(userId);
    if (!joining) {
      joining = this.bus.joinUser(userId).catch((err) => this.log.warn("inbox bus join failed", { err }));
      this.joined.set(userId, joining);
    }
    return joining;
  }

  /** To every instance, this one included (its ChatService.receive calls `changed`). */
  private announce(userId: string, sessionId: string) {
    this.bus.broadcast({ kind: "inbox", userId, sessionId });
  }

  private async refresh(userId: string, sessionId: string) {
    if (!this.socketsByUser.has(userId)) return;
    const tick = ++this.reads;
    let page: InboxPage | null;
    try {
      page = await readInbox(this.store, this.presence, userId, { limit: 1, before: null, sessionId });
    } catch (err) {
      this.log.debug("inbox entry could not be read; trying again", { err });
      this.refresher.call(keyOf(userId, sessionId)); // after this window: the last state still arrives
      return;
    }
    const entry = page?.entries[0];
    if (entry) this.sendLive(userId, tick, inboxFrame(entry));
  }

  private sendLive(userId: string, tick: number, frame: string) {
    for (const s of this.socketsByUser.get(userId) ?? []) if (s.live && s.since < tick) s.conn.send(frame);
  }
}
