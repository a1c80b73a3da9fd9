/**
 * The chat screen, on the hooks: useChatSession for the open conversation, useInbox for the strip of
 * sessions above it. The complete component docs/client.md shows.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import { useChatSession, useInbox } from "../client/react/index.ts";
import type { ChatMessage, ConnectionState } from "../client/index.ts";
import { fetchDemoAccess, type DemoAccess, type DemoUser } from "./access.ts";
import { Composer } from "./composer.tsx";
import { Conversation } from "./conversation.tsx";
import { hueOf, initialOf, shortName } from "./format.ts";
import { InboxStrip } from "./inbox-strip.tsx";
import type { Draft } from "./message-parts.tsx";
import { ReportDialog } from "./report-dialog.tsx";
import { enableNotifications } from "./notifications.ts";

type Props = { access: DemoAccess; me: DemoUser; onSwitch(): void };

export function ChatScreen({ access, me, onSwitch }: Props) {
  const [sessionId, setSessionId] = useState(access.sessionId);
  // The demo's tokens come from /dev/demo; a real app asks its backend for a new access token here.
  const getToken = useCallback(async () => (await fetchDemoAccess()).users.find((u) => u.id === me.id)!.token, [me.id]);
  const inbox = useInbox({ getToken });

  useEffect(() => {
    document.title = `${inbox.totalUnread > 0 ? `(${inbox.totalUnread}) ` : ""}Send Buddy`;
  }, [inbox.totalUnread]);

  return (
    <section id="chat" className="chat">
      <Session key={sessionId} sessionId={sessionId} access={access} me={me} getToken={getToken} onSwitch={onSwitch}>
        <InboxStrip sessions={inbox.sessions} current={sessionId} onPick={setSessionId} />
      </Session>
    </section>
  );
}

type SessionProps = {
  sessionId: string;
  access: DemoAccess;
  me: DemoUser;
  getToken(): Promise<string>;
  onSwitch(): void;
  children: React.ReactNode;
};

function Session({ sessionId, access, me, getToken, onSwitch, children }: SessionProps) {
  const chat = useChatSession({ sessionId, getToken });
  const peer = access.users.find((u) => u.id !== me.id)!;
  const peerTyping = chat.typing.some((t) => t.userId === peer.id);
  const peerOnline = chat.presence[peer.id] ?? false;
  const { markRead } = chat;
  const [notice, setNotice] = useState<Notice | null>(null);
  const [draft, setDraft] = useState<Draft | null>(null);
  const [reporting, setReporting] = useState<ChatMessage | null>(null);
  const [blocked, setBlocked] = useState(false);
  const toggleBlock = async () => {
    const next = !blocked;
    await (next ? chat.block(peer.id) : chat.unblock(peer.id)).then(
      () => {
        setBlocked(next);
        setNotice({
          ok: true,
          message: next ? `${shortName(peer.name)} is blocked: nothing they send reaches you.` : `${shortName(peer.name)} is unblocked.`,
        });
      },
      (err: Error) => setNotice({ ok: false, message: `Could not ${next ? "block" : "unblock"}: ${err.message}` }),
    );
  };

  // Seen: everything shown while the page is visible.
  const lastSeq = chat.messages.at(-1)?.seq ?? 0;
  useEffect(() => {
    const seen = () => document.visibilityState === "visible" && lastSeq > 0 && markRead(lastSeq);
    seen();
    document.addEventListener("visibilitychange", seen);
    return () => document.removeEventListener("visibilitychange", seen);
  }, [lastSeq, markRead]);

  useEffect(() => {
    document.body.dataset.connection = chat.state;
  }, [chat.state]);

  return (
    <>
      <header className="chat-header">
        <div
          id="peer-avatar"
          className="avatar"
          aria-hidden="true"
          data-online={String(peerOnline)}
          style={{ "--hue": hueOf(peer.id) } as React.CSSProperties}
        >
          {initialOf(peer.name)}
        </div>
        <div className="peer">
          <div id="peer-name" className="peer-name">
            {shortName(peer.name)}
          </div>
          <div id="peer-status" className={`peer-status${peerTyping ? " is-typing" : ""}`} data-online={String(peerOnline)}>
            {peerTyping ? "typing…" : peerOnline ? "online" : "offline"}
          </div>
        </div>
        <div className="me">
          <span>
            <span className="me-label">You are </span>
            <strong id="me-name">{shortName(me.name)}</strong>
          </span>
          <NotifyButton getToken={getToken} onResult={setNotice} />
          <button id="block" className="link-button" type="button" onClick={toggleBlock}>
            {blocked ? "Unblock" : "Block"}
          </button>
          <button id="switch-user" className="link-button" type="button" onClick={onSwitch}>
            Switch
          </button>
        </div>
      </header>
      {children}
      <p id="notify-status" className="notify-status" role="status" data-ok={String(notice?.ok ?? false)} hidden={!notice}>
        {notice?.message}
      </p>
      <Banner state={chat.state} error={chat.state === "closed" ? chat.error?.message : undefined} />
      <Conversation chat={chat} me={me} peer={peer} onDraft={setDraft} onReport={setReporting} />
      {reporting && (
        <ReportDialog
          message={reporting}
          chat={chat}
          onClose={(outcome) => {
            setReporting(null);
            if (outcome) setNotice({ ok: !outcome.startsWith("The report could not"), message: outcome });
          }}
        />
      )}
      <Composer peerName={shortName(peer.name)} chat={chat} draft={draft} onDraftDone={() => setDraft(null)} />
    </>
  );
}

/** The connection, in words: nothing while open, "Back online" for a moment after a reconnection. */
function Banner({ state, error }: { state: ConnectionState; error: string | undefined }) {
  const [backOnline, setBackOnline] = useState(false);
  const wasOpen = useRef(false);
  useEffect(() => {
    if (state !== "open") return;
    if (!wasOpen.current) {
      wasOpen.current = true;
      return;
    }
    setBackOnline(true);
    const t = setTimeout(() => setBackOnline(false), 1500);
    return () => clearTimeout(t);
  }, [state]);
  const [text, tone] =
    state === "connecting"
      ? ["Connecting…", "info"]
      : state === "reconnecting"
        ? ["Connection lost. Reconnecting…", "warn"]
        : state === "closed" && error
          ? [`Disconnected: ${error}. Reload the page to try again.`, "error"]
          : backOnline
            ? ["Back online", "ok"]
            : [null, "info"];
  return (
    <div id="banner" className="banner" role="status" data-tone={tone} hidden={text === null}>
      {text}
    </div>
  );
}

type Notice = { ok: boolean; message: string };

/** "Notify me": subscribes this browser to Web Push; what came of it is shown under the inbox. */
function NotifyButton({ getToken, onResult }: { getToken(): Promise<string>; onResult(notice: Notice): void }) {
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const click = async () => {
    setBusy(true);
    const result = await enableNotifications(getToken).catch((err: unknown) => ({ ok: false, message: String(err) }));
    onResult(result);
    setDone(result.ok);
    setBusy(false);
  };
  return (
    <button id="notify" className="link-button" type="button" title="Web Push while you are away" disabled={busy || done} onClick={click}>
      Notify me
    </button>
  );
}
