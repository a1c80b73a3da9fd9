/** "Report": a reason from the fixed list and an optional note, sent through the hook; says what came of it. */
import { useState } from "react";
import type { ChatMessage } from "../client/index.ts";
import type { ChatSession } from "../client/react/index.ts";

const REASONS = ["harassment", "spam", "hate", "sexual", "violence", "scam", "other"];

type Props = { message: ChatMessage; chat: ChatSession; onClose(outcome: string | null): void };

export function ReportDialog({ message, chat, onClose }: Props) {
  const [reason, setReason] = useState(REASONS[0]!);
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  const send = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    const outcome = await chat.report(message.seq, reason, note.trim() || undefined).then(
      (r) => (r.duplicate ? "You had reported this message already." : "Thanks: the report was sent to the moderators."),
      (err: Error) => `The report could not be sent: ${err.message}`,
    );
    onClose(outcome);
  };
  return (
    <form id="report-dialog" className="report-dialog" onSubmit={send}>
      <strong>Report this message</strong>
      <span className="report-quote">{message.content}</span>
      <label>
        Why?{" "}
        <select id="report-reason" value={reason} onChange={(e) => setReason(e.target.value)}>
          {REASONS.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </label>
      <input
        id="report-note"
        placeholder="Anything to add (optional)"
        maxLength={500}
        value={note}
        onChange={(e) => setNote(e.target.value)}
      />
      <span className="report-buttons">
        <button id="report-send" type="submit" disabled={busy}>
          Send report
        </button>
        <button type="button" className="link-button" onClick={() => onClose(null)}>
          Cancel
        </button>
      </span>
    </form>
  );
}
