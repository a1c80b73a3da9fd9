/** The chat screen: wires the client's events to the view and the composer to the client. */
import { ChatClient, type ChatError, type ConnectionState } from "../client/index.ts";
import { newClientId } from "../client/client-id.ts";
import { MAX_CONTENT_CODE_POINTS } from "../protocol/content.ts";
import { fetchDemoAccess, type DemoAccess, type DemoUser } from "./access.ts";
import { ConversationView } from "./conversation-view.ts";
import { byId } from "./dom.ts";
import { hueOf, initialOf, shortName } from "./format.ts";

/** A typing indicator not refreshed for this long is stale (the other side sends `true` every ~2 s). */
const TYPING_STALE_MS = 6_000;
const PAGE_SIZE = 50;

export type ChatScreen = { close(): void };

export function openChatScreen(access: DemoAccess, me: DemoUser, sessionId = access.sessionId): ChatScreen {
  const peer = access.users.find((u) => u.id !== me.id)!;
  const dom = {
    screen: byId("chat"),
    peerAvatar: byId("peer-avatar"),
    peerName: byId("peer-name"),
    peerStatus: byId("peer-status"),
    meName: byId("me-name"),
    banner: byId("banner"),
    scroller: byId("scroller"),
    list: byId<HTMLOListElement>("messages"),
    empty: byId("empty"),
    loadOlder: byId<HTMLButtonElement>("load-older"),
    typing: byId("typing"),
    typingText: byId("typing-text"),
    composer: byId<HTMLFormElement>("composer"),
    input: byId<HTMLTextAreaElement>("input"),
    send: byId<HTMLButtonElement>("send"),
    counter: byId("counter"),
  };

  dom.peerAvatar.textContent = initialOf(peer.name);
  dom.peerAvatar.style.setProperty("--hue", String(hueOf(peer.id)));
  dom.peerName.textContent = shortName(peer.name);
  dom.meName.textContent = shortName(me.name);
  dom.input.placeholder = `Message ${shortName(peer.name)}`;
  dom.typingText.textContent = `${shortName(peer.name)} is typing`;
  dom.screen.hidden = false;

  const view = new ConversationView(dom.list, dom.scroller, me, peer);
  const client = new ChatClient({
    baseUrl: location.origin,
    sessionId,
    // The demo's tokens come from /dev/demo; a real app asks its backend for a new access token here.
    getToken: async () => (await fetchDemoAccess()).users.find((u) => u.id === me.id)!.token,
  });
  const cleanups: (() => void)[] = [];
  const listen = <K extends keyof DocumentEventMap>(target: HTMLElement | Document, type: K, handler: (e: DocumentEventMap[K]) => void) => {
    target.addEventListener(type, handler as EventListener);
    cleanups.push(() => target.removeEventListener(type, handler as EventListener));
  };

  // ---- the other participant: presence and typing ----
  let typingTimer: ReturnType<typeof setTimeout> | null = null;
  const showTyping = (on: boolean) => {
    if (typingTimer) clearTimeout(typingTimer);
    typingTimer = on ? setTimeout(() => showTyping(false), TYPING_STALE_MS) : null;
    const stick = dom.scroller.scrollHeight - dom.scroller.scrollTop - dom.scroller.clientHeight < 120;
    dom.typing.hidden = !on;
    dom.peerStatus.classList.toggle("is-typing", on);
    renderPeerStatus();
    if (on && stick) view.scrollToEnd();
  };
  let peerOnline = false;
  const renderPeerStatus = () => {
    dom.peerStatus.dataset.online = String(peerOnline);
    dom.peerAvatar.dataset.online = String(peerOnline);
    dom.peerStatus.textContent = !dom.typing.hidden ? "typing…" : peerOnline ? "online" : "offline";
  };
  client.on("presence", (p) => {
    if (p.user_id !== peer.id) return;
    peerOnline = p.online;
    if (!p.online) showTyping(false);
    renderPeerStatus();
  });
  client.on("typing", (t) => {
    if (t.sender_id === peer.id) showTyping(t.is_typing);
  });
  client.on("read", (r) => {
    if (r.user_id === peer.id) view.peerRead(r.seq);
  });

  // ---- messages ----
  const markSeen = () => {
    if (document.visibilityState === "visible" && view.lastSeq > 0) client.markRead(view.lastSeq);
  };
  client.on("message", (m) => {
    if (m.sender_id === peer.id) showTyping(false);
    view.add([m]);
    dom.empty.hidden = !view.isEmpty;
    markSeen();
  });
  listen(document, "visibilitychange", markSeen);

  // ---- connection state ----
  let everOpen = false;
  let bannerTimer: ReturnType<typeof setTimeout> | null = null;
  const banner = (text: string | null, tone: "info" | "warn" | "error" | "ok" = "info") => {
    if (bannerTimer) clearTimeout(bannerTimer);
    dom.banner.hidden = text === null;
    dom.banner.textContent = text ?? "";
    dom.banner.dataset.tone = tone;
  };
  client.on("state", (state: ConnectionState) => {
    document.body.dataset.connection = state;
    if (state === "connecting") banner("Connecting…");
    else if (state === "reconnecting") {
      banner("Connection lost. Reconnecting…", "warn");
      peerOnline = false;
      showTyping(false);
    } else if (state === "open") {
      banner(everOpen ? "Back online" : null, "ok");
      if (everOpen) bannerTimer = setTimeout(() => banner(null), 1500);
      everOpen = true;
    }
  });
  client.on("error", (e) => {
    if (client.state === "closed") banner(`Disconnected: ${e.message}. Reload the page to try again.`, "error");
    else if (e.code !== "rate_limited") console.warn("chat:", e.code, e.message);
  });

  // ---- history ----
  const loadOlder = async () => {
    const before = view.firstSeq;
    if (before === null) return;
    dom.loadOlder.disabled = true;
    try {
      const page = await client.history({ before, limit: PAGE_SIZE });
      view.add(page.messages, { keepScroll: true });
      dom.loadOlder.hidden = !page.has_more;
    } finally {
      dom.loadOlder.disabled = false;
    }
  };
  listen(dom.loadOlder, "click", () => void loadOlder());

  // ---- composer ----
  const codePoints = (s: string) => [...s].length;
  const refreshComposer = () => {
    const text = dom.input.value;
    const length = codePoints(text);
    dom.send.disabled = text.trim() === "" || length > MAX_CONTENT_CODE_POINTS;
    dom.counter.hidden = length < MAX_CONTENT_CODE_POINTS - 200;
    dom.counter.textContent = `${length} / ${MAX_CONTENT_CODE_POINTS}`;
    dom.counter.classList.toggle("over", length > MAX_CONTENT_CODE_POINTS);
    dom.input.style.height = "auto";
    dom.input.style.height = `${Math.min(dom.input.scrollHeight, 140)}px`;
  };
  const send = (content: string, clientId = newClientId()) => {
    client.send(content, { clientId }).catch((e: ChatError) => {
      if (e.code !== "closed") view.failed(clientId, e.message, () => send(content, clientId));
    });
  };
  listen(dom.composer, "submit", (e) => {
    e.preventDefault();
    const content = dom.input.value;
    if (dom.send.disabled) return;
    const clientId = newClientId();
    view.addSending(clientId, content);
    dom.empty.hidden = true;
    send(content, clientId);
    dom.input.value = "";
    refreshComposer();
    dom.input.focus();
  });
  listen(dom.input, "keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      dom.composer.requestSubmit();
    }
  });
  listen(dom.input, "input", () => {
    refreshComposer();
    client.typing(dom.input.value.trim() !== "");
  });
  refreshComposer();

  // ---- start: the newest page, then live from exactly where it ends ----
  void (async () => {
    banner("Connecting…");
    try {
      const page = await client.history({ limit: PAGE_SIZE });
      view.add(page.messages);
      view.scrollToEnd();
      dom.loadOlder.hidden = !page.has_more;
      dom.empty.hidden = !view.isEmpty;
      await client.connect({ after: page.cursors.after ?? page.last_seq });
      markSeen();
    } catch (err) {
      banner(`Could not open the conversation: ${err instanceof Error ? err.message : String(err)}`, "error");
    }
  })();
  dom.input.focus();

  return {
    close() {
      client.close();
      for (const cleanup of cleanups.splice(0)) cleanup();
      if (typingTimer) clearTimeout(typingTimer);
      if (bannerTimer) clearTimeout(bannerTimer);
      dom.list.replaceChildren();
      dom.typing.hidden = true;
      dom.banner.hidden = true;
      dom.screen.hidden = true;
    },
  };
}
