/**
 * This instance's view of one session: how many local sockets are in it, and the highest message
 * seq delivered to them. Messages reach the room from local commits, from other instances through
 * the bus, and from the store when a gap is seen; the room hands each to the local sockets exactly
 * once and in seq order, holding early ones back until the gap is filled.
 * Changes to messages go the same way in their own order (change-lane.ts), after their message.
 */
import type { MessageView } from "../protocol/frames.ts";
import type { ChangedMessage, Participant, PresenceState, SessionInfo, SessionPosition } from "./ports.ts";
import { ChangeLane } from "./change-lane.ts";

/** What every room needs from its host: one object shared by all rooms (no closures per room). */
export type RoomDeps = {
  /** Delivers a serialised frame to every local socket of the room's session. */
  publish(room: Room, frame: string): void;
  /** How far the room's session is in the store: a room already there fetches nothing. */
  fetchPosition(room: Room): Promise<SessionPosition>;
  /** Reads messages of the room's session with seq > afterSeq from the store, oldest first. */
  fetchAfter(room: Room, afterSeq: number, limit: number): Promise<MessageView[]>;
  /** Serialises a message fetched from the store. */
  frameOf(message: MessageView): string;
  /** Reads the messages of the room's session changed after `afterChange`, in change order. */
  fetchChangesAfter(room: Room, afterChange: number, limit: number): Promise<ChangedMessage[]>;
  /** Serialises a change fetched from the store. */
  changeFrameOf(change: ChangedMessage): string;
  onError(room: Room, err: unknown): void;
};

/**
 * What the room knows of one participant: its local sockets, and its presence as they were shown it
 * (`version` -1: nothing shown yet). Plain fields, no object per state: idle sockets must stay small.
 */
type Seat = { sockets: number; online: boolean; version: number };
const emptySeat = (): Seat => ({ sockets: 0, online: false, version: -1 });

/** How long an out-of-order message waits for the missing ones before the store is asked. */
export const GAP_WAIT_MS = 100;
const FETCH_LIMIT = 500;
/** Beyond this many held-back messages, the store is asked at once. */
const MAX_HELD = 1000;

export class Room {
  /** Highest seq delivered to this room's local sockets. */
  lastSeq: number;
  /** Changes to messages, in change order. */
  private readonly changes: ChangeLane;
  /** Settles once the room receives what other instances publish (set by whoever opens it). */
  ready: Promise<void> = Promise.resolve();
  /** Inviter's and invitee's seats, in the order of `participants`. */
  private seats: [Seat, Seat] = [emptySeat(), emptySeat()];
  /** Sockets of users who were participants when they joined and no longer are (the backend changed the session). */
  private formerSeats: Map<string, number> | null = null;
  /** Early messages waiting for the missing ones; allocated only when a gap is seen. */
  private held: Map<number, string> | null = null;
  private gapTimer: Timer | null = null;
  /** Work to run once a seq is delivered here (answers to retries); allocated only when needed. */
  private waiting: { seq: number; run: () => void }[] | null = null;
  private fetching: Promise<void> | null = null;
  /** Participants the backend changed the session to, while the room is being reopened over them. */
  changingTo: readonly [inviterId: string, inviteeId: string] | null = null;

  /** Inviter and invitee: who receives the room's frames, whatever a socket read when it joined. */
  readonly participants: readonly Participant[];

  constructor(
    readonly session: SessionInfo,
    private readonly deps: RoomDeps,
  ) {
    this.lastSeq = session.lastSeq;
    this.changes = new ChangeLane(session.lastChange);
    this.participants = [session.inviter, session.invitee];
  }

  /** Highest change number delivered to the local sockets. */
  get lastChange(): number {
    return this.changes.last;
  }

  get sockets(): number {
    let former = 0;
    for (const n of this.formerSeats?.values() ?? []) former += n;
    return this.seats[0].sockets + this.seats[1].sockets + former;
  }

  private seatOf(userId: string): Seat | undefined {
    const [inviter, invitee] = this.participants;
    return userId === inviter!.userId ? this.seats[0] : userId === invitee!.userId ? this.seats[1] : undefined;
  }

  /**
   * Points a socket's member at the room's copies of the session and its participants, so that
   * thousands of idle sockets do not each keep their own (memory per socket is a target).
   */
  adopt(m: { user: Participant; session: SessionInfo }): void {
    const { inviter, invitee } = this.session;
    const me = m.user.userId === inviter.userId ? inviter : m.user.userId === invitee.userId ? invitee : null;
    if (!me) throw new Error("not a participant of this room"); // callers open rooms over the member's own session
    me.displayName = m.user.displayName; // the newest connection read the freshest name
    m.session = this.session;
    m.user = me;
  }

  /** Same inviter and invitee as `session`, or as the ids given (the backend may change them while a room is open). */
  hasParticipants(other: SessionInfo | readonly [inviterId: string, inviteeId: string]): boolean {
    const [inviter, invitee] = "sessionId" in other ? [other.inviter.userId, other.invitee.userId] : other;
    return this.session.inviter.userId === inviter && this.session.invitee.userId === invitee;
  }

  /**
   * Takes over a room of the same session opened over other participants: its local sockets, how far
   * they were delivered, and what it held back or promised. `previous` is disposed.
   */
  takeOver(previous: Room): void {
    this.lastSeq = previous.lastSeq;
    this.changes.takeOver(previous.changes);
    for (const [i, p] of previous.participants.entries()) {
      const seat = previous.seats[i]!;
      const mine = this.seatOf(p.userId);
      if (mine) Object.assign(mine, seat);
      else if (seat.sockets > 0) (this.formerSeats ??= new Map()).set(p.userId, seat.sockets);
    }
    for (const [userId, n] of previous.formerSeats ?? []) {
      const mine = this.seatOf(userId); // a participant again: their sockets count in their seat
      if (mine) mine.sockets += n;
      else (this.formerSeats ??= new Map()).set(userId, n);
    }
    this.held = previous.held;
    this.waiting = previous.waiting;
    this.ready = previous.ready;
    previous.held = null;
    previous.waiting = null;
    previous.dispose();
    if (this.held || this.changes.waiting || this.waiting) this.armGapTimer();
  }

  /** Users with at least one socket here. */
  usersHere(): string[] {
    const here = this.participants.filter((_, i) => this.seats[i]!.sockets > 0).map((p) => p.userId);
    return this.formerSeats ? [...here, ...this.formerSeats.keys()] : here;
  }

  /** True when it is the user's first socket here. */
  addSocket(userId: string): boolean {
    const seat = this.seatOf(userId);
    if (!seat) throw new Error("not a participant of this room");
    return ++seat.sockets === 1;
  }

  /** True when it was the user's last socket here. */
  removeSocket(userId: string): boolean {
    const seat = this.seatOf(userId);
    if (seat) return seat.sockets > 0 && --seat.sockets === 0;
    const n = (this.formerSeats?.get(userId) ?? 0) - 1;
    if (n > 0) this.formerSeats!.set(userId, n);
    else this.formerSeats?.delete(userId);
    return n === 0;
  }

  /** Runs `run` once `seq` was delivered to the local sockets (at once if it already was). */
  afterDelivered(seq: number, run: () => void): void {
    if (seq <= this.lastSeq) {
      run();
      return;
    }
    (this.waiting ??= []).push({ seq, run });
    this.armGapTimer(); // if its broadcast was lost, the store has it
  }

  deliver(seq: number, frame: string): void {
    if (seq <= this.lastSeq || this.held?.has(seq)) return;
    if (seq !== this.lastSeq + 1) {
      this.held ??= new Map();
      this.held.set(seq, frame);
      if (this.held.size > MAX_HELD) void this.catchUp();
      else this.armGapTimer();
      return;
    }
    this.deps.publish(this, frame);
    this.lastSeq = seq;
    this.releaseHeld();
    if (this.waiting) this.runWaiting();
    if (this.changes.waiting) this.changes.release(this.lastSeq, this.publisher());
  }

  /** A committed change (`changeSeq`) to the message `seq`: delivered once, in change order, after that message. */
  deliverChange(changeSeq: number, seq: number, frame: string): void {
    this.changes.offer(changeSeq, seq, frame, this.lastSeq, this.publisher());
    if (this.changes.waiting) this.armGapTimer();
  }

  /** Made when a change is delivered, not kept: idle rooms hold no closure. */
  private publisher(): (frame: string) => void {
    return (frame) => this.deps.publish(this, frame);
  }

  /** Delivers from the store whatever was committed after lastSeq (after a bus outage, or a gap). */
  catchUp(): Promise<void> {
    this.fetching ??= this.fetchUntilCurrent().finally(() => {
      this.fetching = null;
      if (this.held?.size || this.changes.waiting || this.waiting) this.armGapTimer();
    });
    return this.fetching;
  }

  dispose(): void {
    if (this.gapTimer) clearTimeout(this.gapTimer);
    this.gapTimer = null;
    this.held = null;
    this.waiting = null;
  }

  /**
   * Records a presence change; true when the room's sockets must hear it: it is newer than what
   * they were shown, and says something else.
   */
  notePresence(userId: string, next: PresenceState): boolean {
    const seat = this.seatOf(userId);
    if (!seat) return false;
    if (seat.version >= 0 && next.version <= seat.version) return false;
    const shows = seat.version < 0 || seat.online !== next.online;
    seat.online = next.online;
    seat.version = next.version;
    return shows;
  }

  /**
   * What a joining socket is shown for a participant: the newer of the room's state and the stored
   * one. A newer stored state is not taken over: its change is on its way and will be announced to
   * the room's other sockets when it arrives.
   */
  presenceOf(userId: string, stored: PresenceState | undefined): boolean {
    const seat = this.seatOf(userId);
    if (!seat) return stored?.online ?? false;
    if (seat.version < 0) {
      seat.online = stored?.online ?? false;
      seat.version = stored?.version ?? 0;
      return seat.online;
    }
    return stored && stored.version > seat.version ? stored.online : seat.online;
  }

  private releaseHeld() {
    const held = this.held;
    if (!held) return;
    for (let next = held.get(this.lastSeq + 1); next !== undefined; next = held.get(this.lastSeq + 1)) {
      held.delete(this.lastSeq + 1);
      this.deps.publish(this, next);
      this.lastSeq++;
    }
    if (held.size > 0) return;
    this.held = null;
    if (this.gapTimer && !this.waiting && !this.changes.waiting) {
      clearTimeout(this.gapTimer);
      this.gapTimer = null;
    }
  }

  private runWaiting() {
    const due = this.waiting!.filter((w) => w.seq <= this.lastSeq);
    if (due.length === 0) return;
    const left = this.waiting!.filter((w) => w.seq > this.lastSeq);
    this.waiting = left.length > 0 ? left : null;
    for (const w of due) w.run();
  }

  private armGapTimer() {
    if (this.gapTimer || this.fetching) return;
    this.gapTimer = setTimeout(() => {
      this.gapTimer = null;
      void this.catchUp();
    }, GAP_WAIT_MS);
  }

  private async fetchUntilCurrent() {
    try {
      // One cheap lookup (coalesced across rooms) first: most rooms that catch up are current already.
      const at = await this.deps.fetchPosition(this);
      if (at.lastSeq <= this.lastSeq && at.lastChange <= this.lastChange && !this.held?.size && !this.changes.waiting) return;
      for (;;) {
        const page = await this.deps.fetchAfter(this, this.lastSeq, FETCH_LIMIT);
        for (const m of page) this.deliver(m.seq, this.held?.get(m.seq) ?? this.deps.frameOf(m));
        if (page.length < FETCH_LIMIT) break;
      }
      for (;;) {
        const page = await this.deps.fetchChangesAfter(this, this.lastChange, FETCH_LIMIT);
        for (const c of page) if (!this.changes.fetched(c, this.lastSeq, this.deps.changeFrameOf, this.publisher())) return;
        if (page.length < FETCH_LIMIT) return;
      }
    } catch (err) {
      this.deps.onError(this, err);
    }
  }
}
