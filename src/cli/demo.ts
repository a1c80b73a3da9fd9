/**
 * Two demo climbers and their two sessions (Alex invited Sam to one, Sam invited Alex to the other:
 * the inbox has something to show), with tokens and ready-to-paste wscat lines for the first. The ids
 * are fixed, so the demo keeps its history across restarts.
 */
import type { Sql } from "postgres";
import { mintAccessToken } from "../auth/tokens.ts";
import { upsertSession, upsertUser } from "../store/directory.ts";

export const DEMO = {
  sessionId: "5e55a0b1-0000-4000-8000-000000000001",
  secondSessionId: "5e55a0b1-0000-4000-8000-000000000002",
  alex: { id: "5e55a0b1-0000-4000-8000-0000000000a1", email: "alex@demo.invalid", display_name: "Alex (demo)" },
  sam: { id: "5e55a0b1-0000-4000-8000-0000000000b2", email: "sam@demo.invalid", display_name: "Sam (demo)" },
};

export type DemoAccess = { sessionId: string; sessions: string[]; users: { id: string; name: string; token: string }[] };

export async function provisionDemo(sql: Sql, jwtSecret: string, lifetimeSeconds = 24 * 3600): Promise<DemoAccess> {
  await upsertUser(sql, DEMO.alex);
  await upsertUser(sql, DEMO.sam);
  await upsertSession(sql, { id: DEMO.sessionId, inviter_id: DEMO.alex.id, invitee_id: DEMO.sam.id });
  await upsertSession(sql, { id: DEMO.secondSessionId, inviter_id: DEMO.sam.id, invitee_id: DEMO.alex.id });
  const users = await Promise.all(
    [DEMO.alex, DEMO.sam].map(async (u) => ({
      id: u.id,
      name: u.display_name,
      token: await mintAccessToken(jwtSecret, u.id, lifetimeSeconds),
    })),
  );
  return { sessionId: DEMO.sessionId, sessions: [DEMO.sessionId, DEMO.secondSessionId], users };
}

export function wscatLines(wsBase: string, demo: DemoAccess): string {
  const lines = demo.users.map((u) => `  # ${u.name}\n  bunx wscat -c '${wsBase}/ws/sessions/${demo.sessionId}/?token=${u.token}'`);
  return [
    "Try it: open two terminals and paste one line in each (tokens valid 24 h):",
    ...lines,
    `  then type: {"type":"message","content":"Hello, climbing partner!"}  or  {"type":"typing","is_typing":true}`,
  ].join("\n");
}
