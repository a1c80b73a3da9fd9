/**
 * The conversation: stored messages in seq order, then this user's messages still being sent, with
 * day separators, grouping of consecutive messages, ✓ sent / ✓✓ seen, a retry on failed sends, the
 * typing indicator, and older history loaded when scrolled to the top. Each stored message shows its
 * changes (edited, deleted, reactions), its quote when it is a reply, and its actions (message-parts.tsx).
 */
import { useLayoutEffect, useRef } from "react";
import type { ChatMessage } from "../client/index.ts";
import type { ChatSession, PendingMessage } from "../client/react/index.ts";
import type { DemoUser } from "./access.ts";
import { dayOf, hueOf, initialOf, sameDay, shortName, timeOf } from "./format.ts";
import { Actions, type Draft, FailedChanges, Quote, Reactions, pendingEdit } from "./message-parts.tsx";

const GROUP_WINDOW_MS = 5 * 60_000;
/** Closer than this to the top, older messages are loaded; to the bottom, new ones keep it in view. */
const EDGE_PX = 120;

type Bubble = {
  key: string;
  senderId: string;
  content: string;
  at: Date;
  seq: number | null;
  pending: PendingMessage | null;
  message: ChatMessage | null;
};

type Props = { chat: ChatSession; me: DemoUser; peer: DemoUser; onDraft(draft: Draft): void; onReport(message: ChatMessage): void };

export function Conversation({ chat, me, peer, onDraft, onReport }: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const sentAt = useRef(new Map<string, Date>());
  const bubbles = bubblesOf(chat.messages, chat.pending, me.id, sentAt.current);
  const peerRead = chat.readMarks[peer.id] ?? 0;
  const peerTyping = chat.typing.some((t) => t.userId === peer.id);
  const lastSeenOwn = bubbles.findLast((b) => b.senderId === me.id && b.seq !== null && b.seq <= peerRead)?.key;
  useStickyScroll(scroller, bubbles[0]?.key, bubbles.length, peerTyping);

  return (
    <div
      id="scroller"
      className="scroller"
      ref={scroller}
      onScroll={(e) => {
        if (e.currentTarget.scrollTop < EDGE_PX && chat.hasOlder && !chat.loadingOlder) void chat.loadOlder();
      }}
    >
      <button
        id="load-older"
        className="load-older"
        type="button"
        hidden={!chat.hasOlder}
        disabled={chat.loadingOlder}
        onClick={() => void chat.loadOlder()}
      >
        Load earlier messages
      </button>
      <ol id="messages" className="messages" aria-live="polite">
        {bubbles.map((b, i) => {
          const prev = bubbles[i - 1];
          const next = bubbles[i + 1];
          const own = b.senderId === me.id;
          const seen = own && b.seq !== null && b.seq <= peerRead;
          const changes = b.seq === null ? [] : chat.pendingChanges.filter((c) => c.seq === b.seq);
          const editing = pendingEdit(changes);
          const deleted = Boolean(b.message?.deleted_at) || changes.some((c) => c.kind === "delete" && c.status === "sending");
          const state = b.pending ? (b.pending.status === "failed" ? "not sent" : "sending") : seen ? "seen" : "sent";
          const classes = [
            "msg",
            own ? "own" : "theirs",
            prev && grouped(prev, b) ? "" : "group-start",
            next && grouped(b, next) ? "" : "group-end",
            b.pending?.status === "sending" ? "pending" : "",
            b.pending?.status === "failed" ? "failed" : "",
            seen ? "seen" : "",
            b.key === lastSeenOwn ? "seen-last" : "",
            deleted ? "deleted" : "",
            changes.some((c) => c.status === "sending") ? "changing" : "",
          ];
          return [
            !prev || !sameDay(prev.at, b.at) ? (
              <li key={`day-${b.key}`} className="day">
                <span>{dayOf(b.at)}</span>
              </li>
            ) : null,
            <li key={b.key} className={classes.filter(Boolean).join(" ")} data-seq={b.seq ?? undefined}>
              {!own && (
                <span className="avatar small" style={{ "--hue": hueOf(b.senderId) } as React.CSSProperties} aria-hidden="true">
                  {initialOf(peer.name)}
                </span>
              )}
              <div className="bubble">
                {b.message && <Quote message={b.message} />}
                <p className="text">{deleted ? "This message was deleted" : (editing ?? b.content)}</p>
                <span className="meta">
                  {(b.message?.edited_at || editing !== null) && !deleted && <span className="edited">edited</span>}
                  <time dateTime={b.at.toISOString()}>{timeOf(b.at)}</time>
                  {own && <Status state={state} />}
                </span>
              </div>
              {b.message && <Reactions message={b.message} me={me.id} chat={chat} />}
              {b.message && !deleted && <Actions message={b.message} me={me.id} chat={chat} onDraft={onDraft} onReport={onReport} />}
              <FailedChanges changes={changes} chat={chat} />
              {b.pending?.status === "failed" && (
                <div className="failed-note" role="alert">
                  Not sent: {b.pending.error?.message ?? "no connection"}.{" "}
                  <button type="button" className="link-button" onClick={b.pending.retry}>
                    Retry
                  </button>
                </div>
              )}
            </li>,
          ];
        })}
      </ol>
      <div id="empty" className="empty" hidden={bubbles.length > 0 || chat.state === "connecting"}>
        <div className="empty-icon" aria-hidden="true">
          ⛰️
        </div>
        <p>No messages yet. Say hello and plan the next climb!</p>
      </div>
      <div id="typing" className="typing" hidden={!peerTyping}>
        <span className="typing-bubble" aria-hidden="true">
          <i />
          <i />
          <i />
        </span>
        <span id="typing-text" className="typing-text">
          {shortName(peer.name)} is typing
        </span>
      </div>
    </div>
  );
}

/** Stored messages, then pending ones; a pending bubble keeps its key when it becomes the stored message. */
function bubblesOf(
  messages: readonly ChatMessage[],
  pending: readonly PendingMessage[],
  myId: string,
  sentAt: Map<string, Date>,
): Bubble[] {
  const stored = messages.map((m) => ({
    key: m.client_id ?? m.message_id,
    senderId: m.sender_id,
    content: m.content,
    at: new Date(m.created_at),
    seq: m.seq,
    pending: null,
    message: m,
  }));
  const waiting = pending.map((p) => {
    if (!sentAt.has(p.clientId)) sentAt.set(p.clientId, new Date());
    return { key: p.clientId, senderId: myId, content: p.content, at: sentAt.get(p.clientId)!, seq: null, pending: p, message: null };
  });
  return [...stored, ...waiting];
}

function grouped(a: Bubble, b: Bubble): boolean {
  return a.senderId === b.senderId && sameDay(a.at, b.at) && b.at.getTime() - a.at.getTime() < GROUP_WINDOW_MS;
}

const ICONS: Record<string, React.ReactNode> = {
  sending: (
    <svg viewBox="0 0 16 16" width="13" height="13" aria-hidden="true">
      <circle cx="8" cy="8" r="6.2" fill="none" stroke="currentColor" strokeWidth="1.6" />
      <path d="M8 4.6V8l2.3 1.5" fill="none" stroke="currentColor" strokeWidth="1.6" strokeLinecap="round" />
    </svg>
  ),
  sent: (
    <svg viewBox="0 0 16 16" width="15" height="15" aria-hidden="true">
      <path d="m3 8.5 3 3 7-7" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round" />
    </svg>
  ),
  seen: (
    <svg viewBox="0 0 20 16" width="19" height="15" aria-hidden="true">
      <path
        d="m1.5 8.5 3 3 7-7M8.5 11.5l7-7"
        fill="none"
        stroke="currentColor"
        strokeWidth="1.8"
        strokeLinecap="round"
        strokeLinejoin="round"
      />
    </svg>
  ),
};

function Status({ state }: { state: string }) {
  return (
    <span className="status" data-state={state} title={state}>
      {ICONS[state] ?? null}
    </span>
  );
}

/**
 * Keeps the view where the reader is: at the bottom when they were near it and something arrived;
 * at the same message when older ones were added above.
 */
function useStickyScroll(scroller: React.RefObject<HTMLDivElement | null>, firstKey: string | undefined, count: number, typing: boolean) {
  const last = useRef({ firstKey, height: 0, nearBottom: true });
  // biome-ignore lint/correctness/useExhaustiveDependencies: count and typing are what changes the content's height
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const before = last.current;
    if (before.firstKey !== undefined && firstKey !== before.firstKey && before.height > 0) {
      el.scrollTop += el.scrollHeight - before.height; // older messages were prepended
    } else if (before.nearBottom) {
      el.scrollTop = el.scrollHeight;
    }
    last.current = { firstKey, height: el.scrollHeight, nearBottom: el.scrollHeight - el.scrollTop - el.clientHeight < EDGE_PX };
  }, [scroller, firstKey, count, typing]);
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const track = () => {
      last.current.nearBottom = el.scrollHeight - el.scrollTop - el.clientHeight < EDGE_PX;
      last.current.height = el.scrollHeight;
    };
    el.addEventListener("scroll", track);
    return () => el.removeEventListener("scroll", track);
  }, [scroller]);
}
