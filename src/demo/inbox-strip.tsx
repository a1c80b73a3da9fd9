/** The inbox above the conversation: every session, newest first, the other climber's online dot, the last message, a live unread badge. */
import type { InboxEntry } from "../client/index.ts";
import { hueOf, initialOf, shortName } from "./format.ts";

export function InboxStrip({
  sessions,
  current,
  onPick,
}: {
  sessions: readonly InboxEntry[];
  current: string;
  onPick(sessionId: string): void;
}) {
  if (sessions.length === 0) return null;
  return (
    <nav id="inbox" className="inbox" aria-label="Your sessions">
      {sessions.map((s) => (
        <button
          key={s.session_id}
          type="button"
          className="inbox-item"
          data-session={s.session_id}
          aria-current={s.session_id === current ? "true" : undefined}
          onClick={() => onPick(s.session_id)}
        >
          <span
            className="avatar small"
            style={{ "--hue": hueOf(s.other.user_id) } as React.CSSProperties}
            data-online={String(s.other.online)}
            aria-hidden="true"
          >
            {initialOf(s.other.display_name)}
          </span>
          <span className="inbox-text">
            <span className="inbox-name">{shortName(s.other.display_name)}</span>
            <span className="inbox-preview">
              {s.last_message
                ? `${s.last_message.sender_id === s.other.user_id ? "" : "You: "}${s.last_message.content}`
                : "No messages yet"}
            </span>
          </span>
          {s.unread > 0 && (
            <span className="badge" title={`${s.unread} unread`}>
              {s.unread}
            </span>
          )}
        </button>
      ))}
    </nav>
  );
}
