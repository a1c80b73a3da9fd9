/**
 * The Redis bridge codec of version 0.2.0 (commit b495368), verbatim but for its imports (0.2 had no change envelopes): the
 * previous release, kept to test that an instance of this version and one of 0.2 read each other.
 */
/**
 * The bytes of an envelope on a Redis channel: one header line, then the frame untouched, so the
 * receiver never parses the frame. A session's channel names the session:
 *   message:  "<origin> m <seq> <sent-at ms>\n<frame>"
 *   direct:   "<origin> d <userId> <sent-at ms>\n<frame>"
 *   presence: "<origin> p <userId> <sent-at ms>\n<1|0> <version>" (each receiver builds its own frame)
 * A user's inbox channel names the user:
 *   inbox:    "<origin> i <sessionId> <sent-at ms>\n" (each receiver reads the state from the store)
 * Envelopes published to one channel in the same tick travel together (see encodeBatch).
 */
import type { Envelope as AnyEnvelope } from "../../src/chat/ports.ts";

/** 0.2 had no change envelopes. */
type Envelope = Exclude<AnyEnvelope, { kind: "change" }>;

const PREFIX = "chat:";

/** Braces make a Redis Cluster hash tag: one session, one slot. */
export const channelOf = (sessionId: string) => `${PREFIX}{${sessionId}}`;

const INBOX_PREFIX = `${PREFIX}inbox:`;

/** A user's inbox channel: one user, one slot. */
export const inboxChannelOf = (userId: string) => `${INBOX_PREFIX}{${userId}}`;

/** The channel an envelope travels on: its user's for inbox envelopes, its session's for the rest. */
export const channelFor = (e: Envelope) => (e.kind === "inbox" ? inboxChannelOf(e.userId) : channelOf(e.sessionId));

export type Route = { sessionId: string } | { userId: string };

/** Whose channel it is, or null when it is not one of ours. */
export function routeOf(channel: string): Route | null {
  if (!channel.endsWith("}")) return null;
  if (channel.startsWith(INBOX_PREFIX + "{")) return { userId: channel.slice(INBOX_PREFIX.length + 1, -1) };
  if (channel.startsWith(PREFIX + "{")) return { sessionId: channel.slice(PREFIX.length + 1, -1) };
  return null;
}

/** An envelope's kind letter, argument and body: the parts of its bytes. */
function partsOf(e: Envelope): [kind: string, arg: string | number, body: string] {
  switch (e.kind) {
    case "message":
      return ["m", e.seq, e.frame];
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
  return `${origin} ${kind} ${arg} ${sentAt}\n${body}`;
}

/**
 * Whether an envelope can travel in a batch: its body is one line. Frames are JSON.stringify's
 * output, whose strings escape line breaks, so every envelope the chat publishes can.
 */
export const batchable = (e: Envelope): boolean => !partsOf(e)[2].includes("\n");

/**
 * Several envelopes of one channel in one Redis message (what one committed batch publishes):
 *   "<origin> b <count> <sent-at ms>" then, per envelope, "\n<kind> <arg>\n<body>".
 * Versions before 0.2 drop "b" like any unknown kind (see the upgrade note in docs/operations.md).
 */
export function encodeBatch(origin: string, envelopes: readonly Envelope[], sentAt = Date.now()): string {
  let out = `${origin} b ${envelopes.length} ${sentAt}`;
  for (const e of envelopes) {
    const [kind, arg, body] = partsOf(e);
    out += `\n${kind} ${arg}\n${body}`;
  }
  return out;
}

/** The envelopes of a payload (one, or a batch's in order); null when it is not ours or malformed. */
export function decode(route: Route, payload: string): { origin: string; envelopes: Envelope[] } | null {
  const nl = payload.indexOf("\n");
  if (nl < 0) return null;
  const [origin, kind, arg, sent] = payload.slice(0, nl).split(" ");
  const sentAt = Number(sent);
  if (!origin || !kind || !arg || !Number.isSafeInteger(sentAt)) return null;
  if (kind !== "b") {
    const envelope = envelopeOf(route, kind, arg, payload.slice(nl + 1), sentAt);
    return envelope ? { origin, envelopes: [envelope] } : null;
  }
  const count = Number(arg);
  const lines = payload.slice(nl + 1).split("\n");
  if (!Number.isSafeInteger(count) || count < 1 || lines.length !== count * 2) return null;
  const envelopes: Envelope[] = [];
  for (let i = 0; i < lines.length; i += 2) {
    const head = lines[i]!;
    const space = head.indexOf(" ");
    const envelope = space > 0 ? envelopeOf(route, head.slice(0, space), head.slice(space + 1), lines[i + 1]!, sentAt) : null;
    if (!envelope) return null;
    envelopes.push(envelope);
  }
  return { origin, envelopes };
}

function envelopeOf(route: Route, kind: string, arg: string, frame: string, sentAt: number): Envelope | null {
  if (!arg) return null;
  if ("userId" in route) return kind === "i" ? { kind: "inbox", userId: route.userId, sessionId: arg, sentAt } : null;
  const { sessionId } = route;
  if (kind === "m") {
    const seq = Number(arg);
    return Number.isSafeInteger(seq) ? { kind: "message", sessionId, seq, frame, sentAt } : null;
  }
  if (kind === "d") return { kind: "direct", sessionId, toUserId: arg, frame, sentAt };
  if (kind === "p") {
    const [online, version] = frame.split(" ").map(Number);
    if ((online !== 0 && online !== 1) || !Number.isSafeInteger(version)) return null;
    return { kind: "presence", sessionId, userId: arg, online: online === 1, version: version!, sentAt };
  }
  return null;
}
