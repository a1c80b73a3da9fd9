/**
 * The demo page: pick one of the two demo climbers, then chat as them. Served at /demo by a
 * development server (DEMO_PAGE); everything it does goes through the client module (src/client).
 */
import { fetchDemoAccess, remember, rememberedUser, type DemoAccess, type DemoUser } from "./access.ts";
import { openChatScreen, type ChatScreen } from "./chat-screen.ts";
import { byId, h } from "./dom.ts";
import { hueOf, initialOf, shortName } from "./format.ts";
import { openInboxPanel, type InboxPanel } from "./inbox-panel.ts";
import { enableNotifications } from "./notifications.ts";

let screen: ChatScreen | null = null;
let inbox: InboxPanel | null = null;

function showPicker(access: DemoAccess) {
  const choices = byId("choices");
  choices.replaceChildren(
    ...access.users.map((user) => {
      const button = h(
        "button",
        { type: "button", class: "choice", "data-user": shortName(user.name).toLowerCase() },
        h("span", { class: "avatar", style: `--hue:${hueOf(user.id)}`, "aria-hidden": "true" }, initialOf(user.name)),
        h("span", { class: "choice-name" }, shortName(user.name)),
        h("span", { class: "choice-hint" }, "Continue →"),
      );
      button.addEventListener("click", () => start(access, user));
      return button;
    }),
  );
  byId("picker").hidden = false;
}

function start(access: DemoAccess, user: DemoUser) {
  remember(user);
  byId("picker").hidden = true;
  // The demo's tokens come from /dev/demo; a real app asks its backend for a new access token here.
  const getToken = async () => (await fetchDemoAccess()).users.find((u) => u.id === user.id)!.token;
  const open = (sessionId: string) => {
    screen?.close();
    screen = openChatScreen(access, user, sessionId);
    inbox?.select(sessionId);
  };
  inbox = openInboxPanel(getToken, open);
  open(access.sessionId);
  const notify = byId<HTMLButtonElement>("notify");
  notify.onclick = async () => {
    notify.disabled = true;
    const status = byId("notify-status");
    const result = await enableNotifications(getToken).catch((err) => ({ ok: false, message: String(err) }));
    status.textContent = result.message;
    status.dataset.ok = String(result.ok);
    status.hidden = false;
    notify.disabled = result.ok;
  };
}

async function boot() {
  let access: DemoAccess;
  try {
    access = await fetchDemoAccess();
  } catch (err) {
    byId("picker").hidden = false;
    const error = byId("picker-error");
    error.textContent = err instanceof Error ? err.message : String(err);
    error.hidden = false;
    return;
  }
  byId("switch-user").addEventListener("click", () => {
    screen?.close();
    screen = null;
    inbox?.close();
    inbox = null;
    remember(null);
    showPicker(access);
  });
  const user = rememberedUser(access.users);
  if (user) start(access, user);
  else showPicker(access);
}

void boot();
