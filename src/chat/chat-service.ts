/**
 * The chat domain as the transport sees it: a socket joins and leaves its room, hands over its
 * frames, and every envelope of the bus (this instance's own and the others') is delivered here. The
 * rules live in modules split by concern and joined by domain events: `Rooms` (rooms.ts), `Messages`
 * (messages.ts), `PresenceRelay` (presence-relay.ts) and the `InboxFeed`, which follows the events.
 * Written against the Store, Bus and Presence ports: no Bun, no SQL, no Redis here.
 */
import { userTopic, type Connection, type Fanout, type Member, type ResumePoint } from "./types.ts";
import { Delivery } from "./delivery.ts";
import { InboxFeed } from "./inbox-feed.ts";
import type {
  Appended,
  BlockStore,
  ChangedMessage,
  AccessChange,
  Bus,
  ChangeRules,
  ChatQueries,
  Directory,
  Envelope,
  MessageChanges,
  MessageLog,
  Presence,
  SessionInfo,
} from "./ports.ts";
import { replayInto } from "./resume.ts";
import { Rooms } from "./rooms.ts";
import type { Room } from "./room.ts";
import { PresenceRelay } from "./presence-relay.ts";
import { Messages } from "./messages.ts";
import { ContentScreen, type ContentCheck, type ContentPolicy } from "./content-screen.ts";
import { DomainEvents } from "./domain-events.ts";
import { readFrame, type ClientFrame } from "../protocol/frames.ts";
import type { Logger } from "../observability/log.ts";
import type { Metrics } from "../observability/metrics.ts";

export type ChatPorts = {
  /** The messages, who may read them, and the inbox's query. */
  store: MessageLog & MessageChanges & Pick<Directory, "authorize"> & Pick<ChatQueries, "inbox">;
  bus: Bus;
  presence: Presence;
  fanout: Fanout;
  log: Logger;
  metrics: Metrics;
  /** Messages of one user waiting for the store: so that no user alone fills the writer's queue. */
  maxPendingPerUser?: number;
  /**
   * A message's commit saw other participants than its room: the backend changed them. Called before
   * the message is delivered here, so that a former participant's sockets get nothing sent after it.
   */
  onAccessChange?: (change: AccessChange) => void;
  /** The edit window and the reaction cap (defaults: 15 minutes, 12 emoji). */
  changeRules?: ChangeRules;
  /** Blocked terms in messages and edits, and what to do with them; none by default. */
  contentPolicy?: ContentPolicy;
  /** The backend's pre-send check of messages and edits; none by default. */
  contentCheck?: ContentCheck;
  /** Who blocked whom, read again when the access feed tells of a block (none: blocks are not followed). */
  blocks?: Pick<BlockStore, "blockedAmong">;
};

/** What the domain handles; `auth` frames are the transport's. */
export type ChatCommand = Exclude<ClientFrame, { type: "auth" }>;

export class ChatService {
  /** Every user's inbox sockets on this instance, kept current across instances. */
  readonly inboxes: InboxFeed;
  private readonly store: ChatPorts["store"];
  private readonly metrics: Metrics;
  private readonly delivery: Delivery;
  private readonly rooms: Rooms;
  private readonly presenceRelay: PresenceRelay;
  private readonly messages: Messages;
  private readonly blocks: ChatPorts["blocks"] | null;

  constructor(ports: ChatPorts) {
    const { store, bus, presence, log, metrics } = ports;
    this.blocks = ports.blocks ?? null;
    ({ store: this.store, metrics: this.metrics } = ports);
    const events = new DomainEvents();
    this.delivery = new Delivery(ports.fanout, bus);
    this.rooms = new Rooms({ store, bus, delivery: this.delivery, log, metrics });
    this.presenceRelay = new PresenceRelay({ presence, rooms: this.rooms, delivery: this.delivery, events, log });
    this.messages = new Messages({
      store,
      rooms: this.rooms,
      delivery: this.delivery,
      events,
      log,
      metrics,
      maxPendingPerUser: ports.maxPendingPerUser ?? Number.POSITIVE_INFINITY,
      onAccessChange: ports.onAccessChange ?? (() => {}),
      changeRules: ports.changeRules ?? { editWindowMs: 900_000, maxReactions: 12 },
      screen: new ContentScreen(ports.contentPolicy ?? null, ports.contentCheck ?? null),
    });
    this.inboxes = new InboxFeed({ store, presence, bus, log });
    this.inboxes.follow(events);
    bus.onEnvelope((e) => this.receive(e));
    bus.onResync(() => void this.resync());
    store.onLateCommit((appended) => this.messages.stored(appended));
  }

  /**
   * Joins a socket to its room. With a resume point, the messages (and changes) it missed are
   * replayed first, then it gets live ones, with no gap and no duplicate at the seam.
   */
  async join(conn: Connection, m: Member, resume: ResumePoint | null): Promise<void> {
    const sessionId = m.session.sessionId;
    const topic = userTopic(sessionId, m.user.userId);
    const { readMarks } = m.session; // as this connection read them, before the room's copy replaces it
    // Live only: subscribed before any await, so nothing committed from now on is missed.
    if (resume === null) conn.subscribe(topic);
    // Counted in its room before any await: the room cannot be disposed under a joining socket, and
    // presence hears of arrivals and departures in the order they happen here.
    const room = this.rooms.for(m.session);
    room.adopt(m);
    if (room.addSocket(m.user.userId)) this.presenceRelay.arrived(m);
    await room.ready;
    // Read once the room hears changes (ready), so that a change is in the answer or heard after it.
    const stored = await this.presenceRelay.stored(sessionId);
    const sendSnapshot = () => {
      this.presenceRelay.sendSnapshot(conn, m, room, stored);
      sendReadSnapshot(conn, m.session, readMarks);
    };
    // One write for the snapshot (and a resume's last frame), not one per frame: in a reconnect
    // storm a write costs the joining instance more than the frames it carries.
    if (resume === null) return conn.cork(sendSnapshot);
    await replayInto(conn, room, resume, {
      messagesAfter: (after, limit) => this.store.messagesAfter(sessionId, after, limit),
      changesAfter: (after, limit) => this.store.changesAfter(sessionId, after, limit),
      goLive: (resumed) =>
        conn.cork(() => {
          conn.subscribe(topic);
          conn.send(resumed);
          sendSnapshot();
        }),
    });
  }

  /** Resolves once a departure from presence, if this was the user's last socket here, is decided and broadcast. */
  async leave(conn: Connection, m: Member): Promise<void> {
    const sessionId = m.session.sessionId;
    conn.unsubscribe(userTopic(sessionId, m.user.userId));
    const room = this.rooms.get(sessionId);
    if (!room) return;
    const departure = room.removeSocket(m.user.userId) ? this.presenceRelay.departed(m) : undefined;
    this.rooms.release(sessionId);
    await departure;
  }

  async handle(conn: Connection, m: Member, frame: ChatCommand): Promise<void> {
    switch (frame.type) {
      case "message":
        return this.messages.send(conn, m, frame.content, frame.client_id ?? null, frame.reply_to);
      case "typing":
        return this.messages.typing(m, frame.is_typing);
      case "read":
        return this.messages.markRead(conn, m, frame.seq);
      case "edit":
        return this.messages.change(conn, m, { kind: "edit", seq: frame.seq, content: frame.content }, frame.change_id);
      case "delete":
        return this.messages.change(conn, m, { kind: "delete", seq: frame.seq }, frame.change_id);
      case "react": {
        const { seq, emoji, on } = frame;
        return this.messages.change(conn, m, { kind: "react", seq, emoji, ...(on === undefined ? {} : { on }) }, frame.change_id);
      }
    }
  }

  /**
   * A block between two users was made or lifted (the access feed; or, without user ids, anything may
   * have changed unseen): the rooms of sessions between them read their blocks again.
   */
  async blocksChanged(userIds?: readonly [string, string]): Promise<void> {
    const between = (r: Room) => !userIds || r.hasParticipants(userIds) || r.hasParticipants([userIds[1], userIds[0]]);
    const rooms = [...this.rooms.all()].filter(between);
    if (!this.blocks || rooms.length === 0) return;
    const found = await this.blocks.blockedAmong(rooms.map((r) => [r.session.inviter.userId, r.session.invitee.userId] as const));
    for (const room of rooms) {
      const ids = room.participants.map((p) => p.userId);
      const blocked = found.filter((f) => ids.includes(f.blocker) && ids.includes(f.blocked)).map((f) => f.blocked);
      const before = room.session.blocked ?? [];
      if (blocked.length > 0) room.session.blocked = blocked;
      else delete room.session.blocked;
      this.presenceRelay.blocksChanged(room, before);
    }
  }

  /** A message the backend posted (chat/moderation.ts), delivered as a participant's. */
  storedByBackend(appended: Appended): void {
    this.messages.stored(appended);
  }

  /** A change the backend made (chat/moderation.ts), delivered as a participant's. */
  changedByBackend(changed: ChangedMessage): void {
    this.messages.changedByBackend(changed);
  }

  get roomCount(): number {
    return this.rooms.size;
  }

  /** Every envelope, this instance's own included: the one place where what the bus carries is delivered here. */
  private receive(e: Envelope) {
    if (e.sentAt) this.metrics.bridgeLagSeconds.observe(Math.max(0, Date.now() - e.sentAt) / 1000);
    if (e.kind === "message") this.rooms.get(e.sessionId)?.deliver(e.seq, e.frame);
    else if (e.kind === "change") this.rooms.get(e.sessionId)?.deliverChange(e.changeSeq, e.seq, e.frame);
    else if (e.kind === "presence") this.presenceRelay.apply(e);
    else if (e.kind === "inbox") this.inboxes.changed(e.userId, e.sessionId);
    else this.delivery.toUserHere(e.sessionId, e.toUserId, e.frame);
  }

  /** After a bus outage: what other instances broadcast meanwhile was lost; the stores have it. */
  private async resync() {
    this.metrics.bridgeResyncs.inc();
    await Promise.all([
      ...[...this.rooms.all()].map((room) => Promise.all([room.catchUp(), this.presenceRelay.resync(room.session.sessionId)])),
      this.inboxes.resync(),
    ]);
  }
}

/** A joining socket learns how far each participant has read, as `read` frames. */
function sendReadSnapshot(conn: Connection, session: SessionInfo, marks: SessionInfo["readMarks"]) {
  if (marks.inviter > 0) conn.send(readFrame({ user_id: session.inviter.userId, seq: marks.inviter }));
  if (marks.invitee > 0) conn.send(readFrame({ user_id: session.invitee.userId, seq: marks.invitee }));
}
