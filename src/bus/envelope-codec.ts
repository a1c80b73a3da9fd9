/**
 * The bytes of an envelope on a Redis channel: one header line, then the frame untouched, so the
 * receiver never parses the frame. A session's channel names the session:
 *   message:  "<origin> m <seq> <sent-at ms> <wire>\n<frame>"
 *   change:   "<origin> c <change seq>:<message seq> <sent-at ms> <wire>\n<frame>"
 *   direct:   "<origin> d <userId> <sent-at ms> <wire>\n<frame>"
 *   presence: "<origin> p <userId> <sent-at ms> <wire>\n<1|0> <version>" (each receiver builds its own frame)
 * A user's inbox channel names the user:
 *   inbox:    "<origin> i <sessionId> <sent-at ms> <wire>\n" (each receiver reads the state from the store)
 * Envelopes published to one channel in the same tick travel together (see encodeBatch).
 *
 * Two versions side by side (a rolling upgrade): `<wire>` is WIRE_VERSION (absent before it, in 0.2),
 * and the format only grows the way older readers tolerate. A reader ignores header fields after the
 * ones it knows and skips envelopes of kinds it does not know, alone or inside a batch (0.2 drops a
 * batch holding one: a change never travels in a batch). A kind's bytes never change meaning: a
 * change that an older reader would misread gets a new kind letter.
 */
import type { Envelope } from "../chat/ports.ts";
import { RedisNames, type Route } from "./redis-names.ts";

export type { Route } from "./redis-names.ts";

/** The bridge's format version, in every header (see above). */
export const WIRE_VERSION = 2;

const defaultNames = new RedisNames();

/** The default deployment's names (the memory hub and the tests use them). */
export const channelOf = (sessionId: string) => defaultNames.channelOf(sessionId);
export const inboxChannelOf = (userId: string) => defaultNames.inboxChannelOf(userId);
export const channelFor = (e: Envelope) => defaultNames.channelFor(e);
export const routeOf = (channel: string) => defaultNames.routeOf(channel);

/** An envelope's kind letter, argument and body: the parts of its bytes. */
function partsOf(e: Envelope): [kind: string, arg: string | number, body: string] {
  switch (e.kind) {
    case "message":
      return ["m", e.seq, e.frame];
    case "change":
      return ["c", `${e.changeSeq}:${e.seq}`, e.frame];
    case "direct":
      return ["d", e.toUserId, e.frame];
    case "presence":
      return ["p", e.userId, `${e.online ? 1 : 0} ${e.version}`];
    case "inbox":
      return ["i", e.sessionId, ""];
  }
}

export function encode(origin: string, e: Envelope, sentAt = Date.now()): string {
  const [kind, arg, body] = partsOf(e);
  return `${origin} ${kind} ${arg} ${sentAt} ${WIRE_VERSION}\n${body}`;
}

/**
 * Whether an envelope can travel in a batch: its body is one line (frames are JSON.stringify's
 * output, whose strings escape line breaks) and 0.2 instances, which drop a batch with a kind they do
 * not know, read every other member of it: so not a change.
 */
export const batchable = (e: Envelope): boolean => e.kind !== "change" && !partsOf(e)[2].includes("\n");

/**
 * Several envelopes of one channel in one Redis message (what one committed batch publishes):
 *   "<origin> b <count> <sent-at ms>" then, per envelope, "\n<kind> <arg>\n<body>".
 * Versions before 0.2 drop "b" like any unknown kind (see the upgrade note in docs/operations.md).
 */
export function encodeBatch(origin: string, envelopes: readonly Envelope[], sentAt = Date.now()): string {
  let out = `${origin} b ${envelopes.length} ${sentAt} ${WIRE_VERSION}`;
  for (const e of envelopes) {
    const [kind, arg, body] = partsOf(e);
    out += `\n${kind} ${arg}\n${body}`;
  }
  return out;
}

/** What a payload carries: its envelopes in order, and the kinds it held that this version does not know. */
export type Decoded = { origin: string; wire: number; envelopes: Envelope[]; unknownKinds: string[] };

/** The envelopes of a payload (one, or a batch's in order); null when it is not ours or malformed. */
export function decode(route: Route, payload: string): Decoded | null {
  const nl = payload.indexOf("\n");
  if (nl < 0) return null;
  const [origin, kind, arg, sent, wireField] = payload.slice(0, nl).split(" ");
  const sentAt = Number(sent);
  const wire = wireField === undefined ? 1 : Number(wireField);
  if (!origin || !kind || !arg || !Number.isSafeInteger(sentAt) || !Number.isSafeInteger(wire)) return null;
  const decoded: Decoded = { origin, wire, envelopes: [], unknownKinds: [] };
  if (kind !== "b") return addMember(decoded, route, kind, arg, payload.slice(nl + 1), sentAt) ? decoded : null;
  const count = Number(arg);
  const lines = payload.slice(nl + 1).split("\n");
  if (!Number.isSafeInteger(count) || count < 1 || lines.length !== count * 2) return null;
  for (let i = 0; i < lines.length; i += 2) {
    const head = lines[i]!;
    const space = head.indexOf(" ");
    if (space <= 0 || !addMember(decoded, route, head.slice(0, space), head.slice(space + 1), lines[i + 1]!, sentAt)) return null;
  }
  return decoded;
}

/** Adds one envelope, or notes its kind when this version does not know it; false when it is malformed. */
function addMember(decoded: Decoded, route: Route, kind: string, arg: string, body: string, sentAt: number): boolean {
  if (!KINDS.has(kind)) {
    decoded.unknownKinds.push(kind);
    return /^[a-z]$/.test(kind) && decoded.wire > WIRE_VERSION;
  }
  const envelope = envelopeOf(route, kind, arg, body, sentAt);
  if (envelope) decoded.envelopes.push(envelope);
  return envelope !== null;
}

const KINDS = new Set(["m", "c", "d", "p", "i"]);

function envelopeOf(route: Route, kind: string, arg: string, frame: string, sentAt: number): Envelope | null {
  if (!arg) return null;
  if ("userId" in route) return kind === "i" ? { kind: "inbox", userId: route.userId, sessionId: arg, sentAt } : null;
  const { sessionId } = route;
  if (kind === "m") {
    const seq = Number(arg);
    return Number.isSafeInteger(seq) ? { kind: "message", sessionId, seq, frame, sentAt } : null;
  }
  if (kind === "c") {
    const [changeSeq, seq] = arg.split(":").map(Number);
    if (!Number.isSafeInteger(changeSeq) || !Number.isSafeInteger(seq)) return null;
    return { kind: "change", sessionId, changeSeq: changeSeq!, seq: seq!, frame, sentAt };
  }
  if (kind === "d") return { kind: "direct", sessionId, toUserId: arg, frame, sentAt };
  if (kind === "p") {
    const [online, version] = frame.split(" ").map(Number);
    if ((online !== 0 && online !== 1) || !Number.isSafeInteger(version)) return null;
    return { kind: "presence", sessionId, userId: arg, online: online === 1, version: version!, sentAt };
  }
  return null;
}
