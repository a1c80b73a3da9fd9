/** The message box: Enter sends, Shift+Enter is a new line; typing is signalled (debounced by the client); a counter near the limit. */
import { useEffect, useLayoutEffect, useRef, useState } from "react";
import { MAX_CONTENT_CODE_POINTS } from "../protocol/content.ts";

export function Composer({ peerName, send, setTyping }: { peerName: string; send(content: string): void; setTyping(on: boolean): void }) {
  const [text, setText] = useState("");
  const input = useRef<HTMLTextAreaElement>(null);
  const length = [...text].length;
  const sendable = text.trim() !== "" && length <= MAX_CONTENT_CODE_POINTS;

  useEffect(() => input.current?.focus(), []);

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
    send(text);
    setText("");
    input.current?.focus();
  };

  return (
    <>
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
            setTyping(e.target.value.trim() !== "");
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) submit(e);
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
