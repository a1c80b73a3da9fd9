/**
 * The demo accounts: `POST /dev/demo` (development, from this machine) creates the two climbers and
 * their session and returns fresh tokens. It is also how the page gets a new token when one expires.
 */
export type DemoUser = { id: string; name: string; token: string };
export type DemoAccess = { sessionId: string; sessions: string[]; users: DemoUser[] };

export async function fetchDemoAccess(): Promise<DemoAccess> {
  const res = await fetch("/dev/demo", { method: "POST" }).catch(() => null);
  if (!res?.ok) {
    throw new Error(
      res?.status === 404
        ? "The demo accounts are only handed out by a development server (NODE_ENV=development) to this machine."
        : "The chat server did not answer. Is it running?",
    );
  }
  return (await res.json()) as DemoAccess;
}

const STORAGE_KEY = "sendbuddy-demo-user";

/** `?as=alex` picks a user by name; otherwise the one chosen earlier in this tab. */
export function rememberedUser(users: DemoUser[]): DemoUser | null {
  const asked = new URLSearchParams(location.search).get("as")?.toLowerCase();
  if (asked) return users.find((u) => u.name.toLowerCase().startsWith(asked) || u.id === asked) ?? null;
  const id = sessionStorage.getItem(STORAGE_KEY);
  return users.find((u) => u.id === id) ?? null;
}

export function remember(user: DemoUser | null): void {
  if (user) sessionStorage.setItem(STORAGE_KEY, user.id);
  else sessionStorage.removeItem(STORAGE_KEY);
  // A user picked by hand replaces the one in the URL.
  const url = new URL(location.href);
  if (url.searchParams.has("as")) {
    url.searchParams.delete("as");
    history.replaceState(null, "", url);
  }
}
