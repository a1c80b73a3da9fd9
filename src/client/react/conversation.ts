/**
 * The conversation as a UI shows it, as pure functions over an immutable list: messages merged by seq
 * (each once, in order, whichever way they came) and changes applied by change number (a message
 * takes the state of its newest change; the replies quoting it follow).
 */
import { REPLY_PREVIEW_CODE_POINTS } from "../../protocol/views.ts";
import type { ChatMessage } from "../types.ts";

/** `list` with the messages of `incoming` it does not hold yet, in seq order; `list` itself when none is new. */
export function mergeMessages(list: readonly ChatMessage[], incoming: readonly ChatMessage[]): readonly ChatMessage[] {
  const known = new Set(list.map((m) => m.seq));
  const fresh = incoming.filter((m) => !known.has(m.seq) && known.add(m.seq));
  if (fresh.length === 0) return list;
  return [...list, ...fresh].sort((a, b) => a.seq - b.seq);
}

/**
 * `list` with `changed` in place of the message with its seq, unless that one is as new already, and
 * the quotes of replies to it updated (an edit shows, a deletion erases), also when the message
 * itself is not loaded (older than the pages shown). `list` itself when nothing changed.
 */
export function applyChange(list: readonly ChatMessage[], changed: ChatMessage): readonly ChatMessage[] {
  const at = list.findIndex((m) => m.seq === changed.seq);
  if (at >= 0 && (list[at]!.change_seq ?? 0) >= (changed.change_seq ?? 0)) return list;
  let touched = at >= 0;
  const next = list.map((m, i) => {
    if (i === at) return changed;
    const quoted = quoting(m, changed);
    touched ||= quoted !== m;
    return quoted;
  });
  return touched ? next : list;
}

function quoting(m: ChatMessage, original: ChatMessage): ChatMessage {
  if (m.reply_to?.seq !== original.seq) return m;
  const { deleted: _, ...quote } = m.reply_to;
  if (original.deleted_at) return { ...m, reply_to: { ...quote, preview: "", deleted: true } };
  return { ...m, reply_to: { ...quote, preview: [...original.content].slice(0, REPLY_PREVIEW_CODE_POINTS).join("") } };
}
