/** Who is chatting: the demo climbers come from /dev/demo; pick one (or `?as=sam`), then chat as them. */
import { useCallback, useEffect, useState } from "react";
import { fetchDemoAccess, remember, rememberedUser, type DemoAccess, type DemoUser } from "./access.ts";
import { ChatScreen } from "./chat-screen.tsx";
import { Picker } from "./picker.tsx";

export function App() {
  const [access, setAccess] = useState<DemoAccess | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [me, setMe] = useState<DemoUser | null>(null);

  useEffect(() => {
    fetchDemoAccess().then(
      (a) => {
        setAccess(a);
        setMe(rememberedUser(a.users));
      },
      (err: unknown) => setProblem(err instanceof Error ? err.message : String(err)),
    );
  }, []);

  const choose = useCallback((user: DemoUser | null) => {
    remember(user);
    setMe(user);
  }, []);

  if (!access || !me) return <Picker users={access?.users ?? []} problem={problem} onPick={choose} />;
  return <ChatScreen access={access} me={me} onSwitch={() => choose(null)} />;
}
