/**
 * The message box: Enter sends, Shift+Enter is a new line; typing is signalled (debounced by the
 * client); a counter near the limit. With a draft it replies to a message, or edits one of yours.
 */
import { useEffect, useLayoutEffect, useRef, useState } from "react";
import type { ChatSession } from "../client/react/index.ts";
import { MAX_CONTENT_CODE_POINTS } from "../protocol/content.ts";
import { shortName } from "./format.ts";
import type { Draft } from "./message-parts.tsx";

type Props = { peerName: string; chat: ChatSession; draft: Draft | null; onDraftDone(): void };

export function Composer({ peerName, chat, draft, onDraftDone }: Props) {
  const [text, setText] = useState("");
  const input = useRef<HTMLTextAreaElement>(null);
  const length = [...text].length;
  const sendable = text.trim() !== "" && length <= MAX_CONTENT_CODE_POINTS;

  useEffect(() => input.current?.focus(), []);
  // Editing starts from the message's text; a reply from what was being typed.
  useEffect(() => {
    if (draft?.kind === "edit") setText(draft.message.content);
    input.current?.focus();
  }, [draft]);

  // Grows with its text, up to 140 px.
  useLayoutEffect(() => {
    const el = input.current;
    if (!el || text === undefined) return;
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight, 140)}px`;
  }, [text]);

  const submit = (e?: React.FormEvent) => {
    e?.preventDefault();
    if (!sendable) return;
    if (draft?.kind === "edit") chat.edit(draft.message.seq, text);
    else chat.send(text, draft ? { replyTo: draft.message.seq } : {});
    if (draft) onDraftDone();
    setText("");
    input.current?.focus();
  };

  const cancel = () => {
    if (draft?.kind === "edit") setText("");
    onDraftDone();
  };

  return (
    <>
      {draft && (
        <div id="draft" className="draft" data-kind={draft.kind}>
          <span className="draft-what">
            {draft.kind === "edit" ? "Editing your message" : `Replying to ${shortName(draft.message.sender_name)}`}
          </span>
          <span className="draft-preview">{draft.message.content}</span>
          <button id="draft-cancel" className="link-button" type="button" onClick={cancel}>
            Cancel
          </button>
        </div>
      )}
      <form id="composer" className="composer" autoComplete="off" onSubmit={submit}>
        <textarea
          id="input"
          ref={input}
          rows={1}
          placeholder={`Message ${peerName}`}
          aria-label="Message"
          maxLength={8000}
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            chat.setTyping(e.target.value.trim() !== "");
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) submit(e);
            if (e.key === "Escape" && draft) cancel();
          }}
        />
        <button id="send" className="send" type="submit" aria-label="Send" disabled={!sendable}>
          <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
            <path
              fill="currentColor"
              d="M3.4 20.4 20.85 12.9a1 1 0 0 0 0-1.8L3.4 3.6a.99.99 0 0 0-1.39 1.2L4.7 12l-2.69 7.2a.99.99 0 0 0 1.39 1.2Z"
            />
          </svg>
        </button>
      </form>
      <div
        id="counter"
        className={`counter${length > MAX_CONTENT_CODE_POINTS ? " over" : ""}`}
        hidden={length < MAX_CONTENT_CODE_POINTS - 200}
      >
        {length} / {MAX_CONTENT_CODE_POINTS}
      </div>
    </>
  );
}
