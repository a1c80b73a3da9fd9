/**
 * Every close code and error code the server sends. docs/protocol.md mirrors this file (test/docs.test.ts checks).
 */

/**
 * WebSocket close codes.
 * 4000–4099: the credentials or the request are wrong; reconnecting with the same ones will fail again.
 * 4100–4199: a transient condition; reconnect (with backoff) and resume with `after=<last seq>`.
 */
export const CloseCode = {
  /** Server shutting down or restarting: reconnect and resume. */
  GoingAway: 1001,
  /** Sustained abuse (e.g. rate limit exceeded again and again): do not retry at once. */
  PolicyViolation: 1008,
  /** A frame larger than the limit. */
  MessageTooBig: 1009,
  /** Unexpected server failure: reconnect with backoff. */
  InternalError: 1011,
  /** A dependency (the database) is unavailable: reconnect with backoff. */
  TryAgainLater: 1013,
  /** The request is malformed (e.g. `after` is not a non-negative integer, or `changes_after` comes without `after`). */
  BadRequest: 4000,
  /** No token in the query string or Authorization header. */
  NoToken: 4001,
  /** The token is valid but its user does not exist. */
  UserNotFound: 4002,
  /** The token is malformed, badly signed, expired or not an access token; also at expiry on a live socket. */
  InvalidToken: 4003,
  /** The user is neither the session's inviter nor its invitee, or the session does not exist. */
  NotParticipant: 4004,
  /** A moderator banned the user (the server API or `cli ban`): every socket closed, new ones refused until the ban ends. */
  Banned: 4005,
  /** The user has too many open connections on this instance: close one, reconnect later. */
  TooManyConnections: 4101,
  /** The user attempted too many connections lately (CONNECT_RATE_PER_SECOND): reconnect later. */
  TooManyAttempts: 4102,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

export const CloseReason: Record<CloseCode, string> = {
  [CloseCode.GoingAway]: "server shutting down, reconnect and resume",
  [CloseCode.PolicyViolation]: "rate limit exceeded again and again",
  [CloseCode.MessageTooBig]: "frame too large",
  [CloseCode.InternalError]: "internal error, reconnect later",
  [CloseCode.TryAgainLater]: "service temporarily unavailable, reconnect later",
  [CloseCode.BadRequest]: "bad request: after (and changes_after) must be non-negative integers",
  [CloseCode.NoToken]: "no token provided",
  [CloseCode.UserNotFound]: "user not found",
  [CloseCode.InvalidToken]: "invalid or expired token",
  [CloseCode.NotParticipant]: "not a participant of this session",
  [CloseCode.Banned]: "banned by a moderator",
  [CloseCode.TooManyConnections]: "too many connections for this user",
  [CloseCode.TooManyAttempts]: "too many connection attempts, reconnect later",
};

/** `code` of an error frame: stable and machine-readable. The connection stays open after each. */
export const ErrorCode = {
  /** A binary WebSocket frame: the protocol is JSON text. */
  BinaryFrame: "binary_frame",
  /** The frame is not valid JSON. */
  InvalidJson: "invalid_json",
  /** The JSON is not an object with a string `type`. */
  InvalidFrame: "invalid_frame",
  /** `type` is not one the server knows. */
  UnknownType: "unknown_type",
  /** A field is missing or has the wrong type; `field` names it. */
  InvalidField: "invalid_field",
  /** `content` is empty or only whitespace. */
  EmptyContent: "empty_content",
  /** `content` is longer than 2000 Unicode code points. */
  ContentTooLong: "content_too_long",
  /** `content` holds characters PostgreSQL cannot store (NUL, unpaired surrogates). */
  InvalidContent: "invalid_content",
  /** `emoji` is not one emoji. */
  InvalidEmoji: "invalid_emoji",
  /** One participant blocked the other: the blocked one's messages and changes are refused in their sessions. */
  Blocked: "blocked",
  /** The backend's pre-send check (PRESEND_CHECK_URL) refused the content: its reason is the error text. Nothing stored. */
  ContentRejected: "content_rejected",
  /** `content` contains a blocked term (BLOCKED_TERMS_FILE with BLOCKED_TERMS_POLICY=reject): nothing stored. */
  ContentBlocked: "content_blocked",
  /** No message with that `seq` in the session (`seq` echoed). */
  MessageNotFound: "message_not_found",
  /** Only the sender may edit or delete a message. */
  NotSender: "not_sender",
  /** The message is older than EDIT_WINDOW_SECONDS: it can no longer be edited (it can still be deleted). */
  EditWindowPassed: "edit_window_passed",
  /** The message was deleted: it takes no edit, deletion or reaction. */
  MessageDeleted: "message_deleted",
  /** The message already carries the most distinct emoji it may (MAX_REACTIONS_PER_MESSAGE). */
  TooManyReactions: "too_many_reactions",
  /** The message could not be stored (database unavailable or too slow): retry it with the same client_id. */
  Unavailable: "unavailable",
  /** Too many frames: this one was refused; slow down. */
  RateLimited: "rate_limited",
  /** An `auth` frame's token is invalid, expired, not an access token, or for another user. */
  AuthFailed: "auth_failed",
  /** Unexpected server failure while handling the frame. */
  InternalError: "internal_error",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Refusals after which the same message may be sent again (same client_id), after a delay. */
export const RETRYABLE_ERRORS: ReadonlySet<string> = new Set([ErrorCode.Unavailable, ErrorCode.RateLimited]);
