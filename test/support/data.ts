/** Users and sessions as the backend would create them, with tokens signed by the suite's secret. */
import { mintAccessToken } from "../../src/auth/tokens.ts";
import { upsertSession, upsertUser } from "../../src/store/directory.ts";
import { SECRET, db } from "./env.ts";

export type TestUser = { id: string; name: string; token: string };
export type Pair = { sessionId: string; inviter: TestUser; invitee: TestUser };

export async function createUser(name = "Climber"): Promise<TestUser> {
  const id = crypto.randomUUID();
  const display = `${name} ${id.slice(0, 4)}`;
  await upsertUser(db, { id, email: `${id}@test.invalid`, display_name: display });
  return { id, name: display, token: await mintAccessToken(SECRET, id) };
}

export async function createPair(): Promise<Pair> {
  const [inviter, invitee] = await Promise.all([createUser("Inviter"), createUser("Invitee")]);
  const sessionId = crypto.randomUUID();
  await upsertSession(db, { id: sessionId, inviter_id: inviter.id, invitee_id: invitee.id });
  return { sessionId, inviter, invitee };
}
