/**
 * What goes over the wire: the valibot schemas of every frame a client may send, and the builders of
 * every frame the server sends. Server frames are serialised once and the string is shared by all
 * receivers.
 */
import * as v from "valibot";
import { ErrorCode } from "./codes.ts";
import { MAX_CONTENT_CODE_POINTS, contentProblem, isOneEmoji } from "./content.ts";
import type { InboxView, MessageView } from "./views.ts";

export type { InboxView, MessageView, ReplyView } from "./views.ts";
import type { AuthOkView, ErrorView, InboxReadyView, PresenceView, ReadView, ResumedView, TypingView } from "./views.ts";

/** The content rules of protocol/content.ts, reported with their error code as the issue's message. */
const Content = v.pipe(
  v.string(),
  v.rawCheck(({ dataset, addIssue }) => {
    const problem = dataset.typed ? contentProblem(dataset.value) : null;
    if (problem) addIssue({ message: problem });
  }),
);

export const MessageFrame = v.object({
  type: v.literal("message"),
  content: Content,
  /** Idempotency key: a retry with the same one is not stored twice. */
  client_id: v.optional(v.pipe(v.string(), v.uuid())),
  /** The seq of the message of the session this one replies to. */
  reply_to: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(1))),
});

export const TypingFrame = v.object({
  type: v.literal("typing"),
  is_typing: v.boolean(),
});

export const ReadFrame = v.object({
  type: v.literal("read"),
  /** The highest seq the participant has seen. */
  seq: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
});

/** The seq of a message of the session: the target of an edit, a deletion, a reaction or a reply. */
const TargetSeq = v.pipe(v.number(), v.safeInteger(), v.minValue(1));

/** Correlates a change with its `message_changed` broadcast and its error frames; echoed, not stored. */
const ChangeId = v.optional(v.pipe(v.string(), v.uuid()));

/** Edits the sender's own message, within EDIT_WINDOW_SECONDS of sending it. Same content rules as a message. */
export const EditFrame = v.object({ type: v.literal("edit"), seq: TargetSeq, content: Content, change_id: ChangeId });

/** Deletes the sender's own message for everyone: its content is erased, its seq stays as a tombstone. */
export const DeleteFrame = v.object({ type: v.literal("delete"), seq: TargetSeq, change_id: ChangeId });

/**
 * The user's reaction with one emoji on any message of the session: `on` true adds it, false takes it
 * away (either is a no-op when already so, which makes a retry safe); without `on`, a toggle.
 */
export const ReactFrame = v.object({
  type: v.literal("react"),
  seq: TargetSeq,
  emoji: v.pipe(
    v.string(),
    v.check((e) => isOneEmoji(e), ErrorCode.InvalidEmoji),
  ),
  on: v.optional(v.boolean()),
  change_id: ChangeId,
});

/** In-band token refresh: a new access token for the same user, before the current one expires. */
export const AuthFrame = v.object({
  type: v.literal("auth"),
  token: v.pipe(v.string(), v.minLength(1), v.maxLength(8192)),
});

const clientFrameSchemas = {
  message: MessageFrame,
  typing: TypingFrame,
  read: ReadFrame,
  edit: EditFrame,
  delete: DeleteFrame,
  react: ReactFrame,
  auth: AuthFrame,
} as const;

export type ClientFrameType = keyof typeof clientFrameSchemas;
export type ClientFrame = { [K in ClientFrameType]: v.InferOutput<(typeof clientFrameSchemas)[K]> }[ClientFrameType];

export type FrameError = ErrorView & { code: ErrorCode };

const sentences: Partial<Record<ErrorCode, string>> = {
  [ErrorCode.EmptyContent]: "content must not be empty",
  [ErrorCode.ContentTooLong]: `content must be at most ${MAX_CONTENT_CODE_POINTS} characters`,
  [ErrorCode.InvalidEmoji]: "emoji must be one emoji (one grapheme cluster)",
  [ErrorCode.InvalidContent]:
    "content contains characters that cannot be stored (control characters other than tab and line breaks, or unpaired surrogates)",
};

/** Turns one text frame into a typed command, or the error to send back. Never throws. */
export function parseClientFrame(text: string): { ok: true; frame: ClientFrame } | { ok: false; error: FrameError } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return fail(ErrorCode.InvalidJson, "frame is not valid JSON");
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    return fail(ErrorCode.InvalidFrame, 'frame must be a JSON object with a string "type"');
  }
  const ids = idsOf(data);
  const type = (data as { type?: unknown }).type;
  if (typeof type !== "string") return fail(ErrorCode.InvalidFrame, 'frame must be a JSON object with a string "type"', undefined, ids);
  if (!Object.hasOwn(clientFrameSchemas, type)) {
    return fail(ErrorCode.UnknownType, `unknown frame type "${type.slice(0, 32)}"`, undefined, ids);
  }
  const result = v.safeParse(clientFrameSchemas[type as ClientFrameType], data, { abortEarly: true });
  if (result.success) return { ok: true, frame: result.output };
  const issue = result.issues[0];
  const field = issue.path?.map((p) => String(p.key)).join(".") ?? "";
  const known = Object.values(ErrorCode).includes(issue.message as ErrorCode) ? (issue.message as ErrorCode) : null;
  if (known) return fail(known, sentences[known] ?? known, field, ids);
  const problem = issue.input === undefined ? "is missing" : `must be ${expectedWords[issue.expected ?? ""] ?? "valid"}`;
  return fail(ErrorCode.InvalidField, `field "${field}" ${problem}`, field, ids);
}

const expectedWords: Record<string, string> = {
  string: "a string",
  boolean: "a boolean",
  number: "a number",
  ">=0": "zero or more",
  ">=1": "a message's seq (1 or more)",
};

type Ids = Pick<ErrorView, "client_id" | "change_id">;

/** A rejected frame's client_id (or change_id) is echoed so the sender can match the error to what it waits for. */
function idsOf(data: object): Ids {
  const ids: Ids = {};
  for (const key of ["client_id", "change_id"] as const) {
    const id = (data as Record<string, unknown>)[key];
    if (typeof id === "string" && id.length <= 64) ids[key] = id;
  }
  return ids;
}

function fail(code: ErrorCode, error: string, field?: string, ids: Ids = {}) {
  const e: FrameError = { code, error };
  if (field) e.field = field;
  Object.assign(e, ids);
  return { ok: false as const, error: e };
}

// ---- server → client ----

export const messageFrame = (m: MessageView) => JSON.stringify({ type: "message", ...m });

/**
 * A message as a change left it (edited, deleted, reacted to), with the change's number in `change_seq`
 * and, live, the `change_id` its author gave.
 */
export const messageChangedFrame = (m: MessageView, changeId?: string) =>
  JSON.stringify(changeId === undefined ? { type: "message_changed", ...m } : { type: "message_changed", ...m, change_id: changeId });

export const typingFrame = (t: TypingView) => JSON.stringify({ type: "typing", ...t });

export const errorFrame = (e: FrameError) => JSON.stringify({ type: "error", ...e });

export const readFrame = (r: ReadView) => JSON.stringify({ type: "read", ...r });

export const presenceFrame = (p: PresenceView) => JSON.stringify({ type: "presence", ...p });

export const resumedFrame = (r: ResumedView) => JSON.stringify({ type: "resumed", ...r });

export const inboxFrame = (e: InboxView) => JSON.stringify({ type: "inbox", ...e });

export const inboxReadyFrame = (r: InboxReadyView) => JSON.stringify({ type: "inbox_ready", ...r });

export const authOkFrame = (expiresAt: number) => {
  const answer: AuthOkView = { ok: true, expires_at: new Date(expiresAt).toISOString() };
  return JSON.stringify({ type: "auth", ...answer });
};
