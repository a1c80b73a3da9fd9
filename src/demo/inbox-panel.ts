/**
 * The inbox strip above the conversation: every session of the climber, newest first, with the other
 * climber's online dot, the last message and a live unread badge (InboxClient over /ws/inbox/).
 * Picking a session opens it.
 */
import { InboxClient, type InboxEntry } from "../client/index.ts";
import { byId, h } from "./dom.ts";
import { hueOf, initialOf, shortName } from "./format.ts";

export type InboxPanel = { select(sessionId: string): void; close(): void };

export function openInboxPanel(getToken: () => Promise<string>, onPick: (sessionId: string) => void): InboxPanel {
  const list = byId("inbox");
  let current: string | null = null;
  const inbox = new InboxClient({ baseUrl: location.origin, getToken });
  const render = (sessions: InboxEntry[]) => {
    list.replaceChildren(...sessions.map(item));
    list.hidden = sessions.length === 0;
    const unread = inbox.totalUnread;
    document.title = `${unread > 0 ? `(${unread}) ` : ""}Send Buddy`;
  };
  const item = (s: InboxEntry) => {
    const preview = s.last_message
      ? `${s.last_message.sender_id === s.other.user_id ? "" : "You: "}${s.last_message.content}`
      : "No messages yet";
    const button = h(
      "button",
      { type: "button", class: "inbox-item", "data-session": s.session_id, "aria-current": s.session_id === current ? "true" : undefined },
      h(
        "span",
        { class: "avatar small", style: `--hue:${hueOf(s.other.user_id)}`, "data-online": String(s.other.online), "aria-hidden": "true" },
        initialOf(s.other.display_name),
      ),
      h(
        "span",
        { class: "inbox-text" },
        h("span", { class: "inbox-name" }, shortName(s.other.display_name)),
        h("span", { class: "inbox-preview" }, preview),
      ),
      s.unread > 0 ? h("span", { class: "badge", "aria-label": `${s.unread} unread` }, String(s.unread)) : null,
    );
    button.addEventListener("click", () => onPick(s.session_id));
    return button;
  };
  inbox.on("change", render);
  inbox.connect();
  return {
    select(sessionId) {
      current = sessionId;
      render(inbox.sessions);
    },
    close() {
      inbox.close();
      list.replaceChildren();
      list.hidden = true;
    },
  };
}
