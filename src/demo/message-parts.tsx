/**
 * What a stored message shows besides its text: the quote of the message it replies to, its
 * reactions (tap one to add or take back yours), the actions (reply, react, and on your own messages
 * edit within the window and delete), and a change that could not be saved.
 */
import type { ChatMessage } from "../client/index.ts";
import type { ChatSession, PendingChange } from "../client/react/index.ts";
import { shortName } from "./format.ts";

/** The server's default EDIT_WINDOW_SECONDS: the demo offers Edit this long; the server decides. */
const EDIT_WINDOW_MS = 15 * 60_000;
const QUICK_REACTIONS = ["👍", "❤️", "😂", "🔥", "🧗"];

/** What the composer is doing besides a new message: replying to one, or editing one of yours. */
export type Draft = { kind: "reply" | "edit"; message: ChatMessage };

export function Quote({ message }: { message: ChatMessage }) {
  const quote = message.reply_to;
  if (!quote) return null;
  return (
    <blockquote className={`quote${quote.deleted ? " deleted" : ""}`} data-seq={quote.seq}>
      <span className="quote-name">{shortName(quote.sender_name)}</span>
      <span className="quote-text">{quote.deleted ? "Deleted message" : quote.preview}</span>
    </blockquote>
  );
}

export function Reactions({ message, me, chat }: { message: ChatMessage; me: string; chat: ChatSession }) {
  if (!message.reactions?.length) return null;
  return (
    <div className="reactions">
      {message.reactions.map((r) => {
        const mine = r.user_ids.includes(me);
        return (
          <button
            key={r.emoji}
            type="button"
            className={`reaction${mine ? " mine" : ""}`}
            data-emoji={r.emoji}
            aria-pressed={mine}
            onClick={() => chat.react(message.seq, r.emoji, !mine)}
          >
            {r.emoji} <span className="count">{r.count}</span>
          </button>
        );
      })}
    </div>
  );
}

type ActionsProps = {
  message: ChatMessage;
  me: string;
  chat: ChatSession;
  onDraft(draft: Draft): void;
  onReport(message: ChatMessage): void;
};

export function Actions({ message, me, chat, onDraft, onReport }: ActionsProps) {
  if (message.deleted_at) return null;
  const own = message.sender_id === me;
  const editable = own && Date.now() - Date.parse(message.created_at) < EDIT_WINDOW_MS;
  const holds = (emoji: string) => message.reactions?.some((r) => r.emoji === emoji && r.user_ids.includes(me)) ?? false;
  return (
    <div className="actions">
      {QUICK_REACTIONS.map((emoji) => (
        <button
          key={emoji}
          type="button"
          className="act-react"
          data-emoji={emoji}
          title={`React ${emoji}`}
          onClick={() => chat.react(message.seq, emoji, !holds(emoji))}
        >
          {emoji}
        </button>
      ))}
      <button type="button" className="act-reply" onClick={() => onDraft({ kind: "reply", message })}>
        Reply
      </button>
      {editable && (
        <button type="button" className="act-edit" onClick={() => onDraft({ kind: "edit", message })}>
          Edit
        </button>
      )}
      {own && (
        <button type="button" className="act-delete" onClick={() => chat.remove(message.seq)}>
          Delete
        </button>
      )}
      {!own && (
        <button type="button" className="act-report" onClick={() => onReport(message)}>
          Report
        </button>
      )}
    </div>
  );
}

/** The user's changes to this message not stored yet: the newest edit shows as its text, pending. */
export function pendingEdit(changes: readonly PendingChange[]): string | null {
  const edit = changes.findLast((c) => c.kind === "edit");
  return edit?.kind === "edit" ? edit.content : null;
}

export function FailedChanges({ changes, chat }: { changes: readonly PendingChange[]; chat: ChatSession }) {
  const failed = changes.filter((c) => c.status === "failed");
  if (failed.length === 0) return null;
  return (
    <div className="failed-note change-failed" role="alert">
      {failed.map((c) => (
        <span key={c.id}>
          Your {c.kind === "react" ? "reaction" : c.kind === "edit" ? "edit" : "deletion"} was not saved:{" "}
          {c.error?.message ?? "no connection"}.{" "}
          <button type="button" className="link-button" onClick={() => chat.retryChange(c.id)}>
            Retry
          </button>{" "}
          <button type="button" className="link-button" onClick={() => chat.discardChange(c.id)}>
            Dismiss
          </button>
        </span>
      ))}
    </div>
  );
}
