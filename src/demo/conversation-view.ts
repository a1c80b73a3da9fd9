/**
 * The list of bubbles. Stored messages are kept in seq order, then the local user's messages still
 * being sent, in the order they were typed. A pending bubble becomes the stored message when its
 * acknowledgement (the broadcast with its client_id) arrives.
 */
import type { ChatMessage } from "../client/index.ts";
import { h } from "./dom.ts";
import { dayOf, hueOf, initialOf, sameDay, timeOf } from "./format.ts";

type Bubble = {
  li: HTMLLIElement;
  /** null while sending. */
  seq: number | null;
  senderId: string;
  at: Date;
  status: HTMLSpanElement;
  time: HTMLTimeElement;
};

const GROUP_WINDOW_MS = 5 * 60_000;
const CLOCK = `<svg viewBox="0 0 16 16" width="13" height="13" aria-hidden="true"><circle cx="8" cy="8" r="6.2" fill="none" stroke="currentColor" stroke-width="1.6"/><path d="M8 4.6V8l2.3 1.5" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round"/></svg>`;
const CHECK = `<svg viewBox="0 0 16 16" width="15" height="15" aria-hidden="true"><path d="m3 8.5 3 3 7-7" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"/></svg>`;
const CHECKS = `<svg viewBox="0 0 20 16" width="19" height="15" aria-hidden="true"><path d="m1.5 8.5 3 3 7-7M8.5 11.5l7-7" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"/></svg>`;

export class ConversationView {
  private stored: Bubble[] = [];
  private sending: Bubble[] = [];
  private readonly byMessageId = new Map<string, Bubble>();
  private readonly byClientId = new Map<string, Bubble>();
  private peerReadSeq = 0;

  constructor(
    private readonly list: HTMLOListElement,
    private readonly scroller: HTMLElement,
    private readonly me: { id: string },
    private readonly peer: { id: string; name: string },
  ) {}

  get firstSeq(): number | null {
    return this.stored[0]?.seq ?? null;
  }

  get lastSeq(): number {
    return this.stored.at(-1)?.seq ?? 0;
  }

  get isEmpty(): boolean {
    return this.stored.length === 0 && this.sending.length === 0;
  }

  /** Adds stored messages (live, replayed or from history); each is shown once. */
  add(messages: ChatMessage[], { keepScroll = false } = {}): void {
    const stick = this.nearBottom();
    const fromBottom = this.scroller.scrollHeight - this.scroller.scrollTop;
    let changed = false;
    for (const m of messages) {
      if (this.byMessageId.has(m.message_id)) continue;
      const pending = m.client_id ? this.byClientId.get(m.client_id) : undefined;
      const bubble = pending ?? this.bubble(m.sender_id, m.content, new Date(m.created_at));
      if (pending) {
        this.sending = this.sending.filter((b) => b !== pending);
        this.byClientId.delete(m.client_id!);
        pending.at = new Date(m.created_at);
        pending.li.classList.remove("pending", "failed");
        pending.li.querySelector(".failed-note")?.remove();
      }
      bubble.seq = m.seq;
      bubble.li.dataset.seq = String(m.seq);
      this.insertStored(bubble);
      this.byMessageId.set(m.message_id, bubble);
      changed = true;
    }
    if (!changed) return;
    this.render();
    if (keepScroll) this.scroller.scrollTop = this.scroller.scrollHeight - fromBottom;
    else if (stick) this.scrollToEnd();
  }

  /** The local user's message, shown at once with a clock until it is acknowledged. */
  addSending(clientId: string, content: string): void {
    const bubble = this.bubble(this.me.id, content, new Date());
    bubble.li.classList.add("pending");
    this.sending.push(bubble);
    this.byClientId.set(clientId, bubble);
    this.render();
    this.scrollToEnd();
  }

  failed(clientId: string, reason: string, retry: () => void): void {
    const bubble = this.byClientId.get(clientId);
    if (!bubble) return;
    bubble.li.classList.replace("pending", "failed");
    const button = h("button", { type: "button", class: "link-button" }, "Retry");
    button.addEventListener("click", () => {
      bubble.li.classList.replace("failed", "pending");
      note.remove();
      retry();
    });
    const note = h("div", { class: "failed-note", role: "alert" }, `Not sent: ${reason}. `, button);
    bubble.li.append(note);
    this.render();
  }

  /** The other participant has seen everything up to `seq`. */
  peerRead(seq: number): void {
    if (seq <= this.peerReadSeq) return;
    this.peerReadSeq = seq;
    this.render();
  }

  scrollToEnd(): void {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  private nearBottom(): boolean {
    return this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 120;
  }

  private insertStored(bubble: Bubble) {
    let i = this.stored.length;
    while (i > 0 && this.stored[i - 1]!.seq! > bubble.seq!) i--;
    this.stored.splice(i, 0, bubble);
  }

  private bubble(senderId: string, content: string, at: Date): Bubble {
    const own = senderId === this.me.id;
    const time = h("time", {}, timeOf(at));
    const status = h("span", { class: "status" });
    const avatar = own
      ? null
      : h("span", { class: "avatar small", style: `--hue:${hueOf(senderId)}`, "aria-hidden": "true" }, initialOf(this.peer.name));
    const li = h(
      "li",
      { class: `msg ${own ? "own" : "theirs"}` },
      avatar,
      h("div", { class: "bubble" }, h("p", { class: "text" }, content), h("span", { class: "meta" }, time, status)),
    );
    return { li, seq: null, senderId, at, status, time };
  }

  /** Lays the bubbles out again: day separators, grouping of consecutive messages, ticks. */
  private render(): void {
    const all = [...this.stored, ...this.sending];
    const nodes: HTMLElement[] = [];
    let lastSeenOwn: Bubble | null = null;
    all.forEach((b, i) => {
      const prev = all[i - 1];
      const next = all[i + 1];
      if (!prev || !sameDay(prev.at, b.at)) nodes.push(h("li", { class: "day" }, h("span", {}, dayOf(b.at))));
      const joinsPrev = prev !== undefined && this.grouped(prev, b);
      const joinsNext = next !== undefined && this.grouped(b, next);
      b.li.classList.toggle("group-start", !joinsPrev);
      b.li.classList.toggle("group-end", !joinsNext);
      b.time.textContent = timeOf(b.at);
      b.time.dateTime = b.at.toISOString();
      const own = b.senderId === this.me.id;
      const seen = own && b.seq !== null && b.seq <= this.peerReadSeq;
      b.li.classList.toggle("seen", seen);
      b.li.classList.remove("seen-last");
      if (seen) lastSeenOwn = b;
      if (own) {
        const [icon, label] =
          b.seq === null
            ? b.li.classList.contains("failed")
              ? ["", "not sent"]
              : [CLOCK, "sending"]
            : seen
              ? [CHECKS, "seen"]
              : [CHECK, "sent"];
        if (b.status.dataset.state !== label) {
          b.status.innerHTML = icon; // one of the constant icons above, never message content
          b.status.dataset.state = label;
          b.status.title = label;
        }
      }
      nodes.push(b.li);
    });
    (lastSeenOwn as Bubble | null)?.li.classList.add("seen-last");
    this.list.replaceChildren(...nodes);
  }

  private grouped(a: Bubble, b: Bubble): boolean {
    return a.senderId === b.senderId && sameDay(a.at, b.at) && b.at.getTime() - a.at.getTime() < GROUP_WINDOW_MS;
  }
}
