/** Connect tickets carry a MAC: a ticket this deployment did not issue costs no database query. */
import { expect, test } from "bun:test";
import type { Sql } from "postgres";
import { Tickets } from "../../src/store/tickets.ts";

/** A stand-in for postgres.js: every statement is recorded; `answer` gives the rows of the next one. */
function fakeDatabase() {
  const statements: string[] = [];
  let answer: object[] = [];
  const sql = ((strings: TemplateStringsArray) => strings.join("?")) as unknown as Sql;
  const bounded = async (query: unknown) => {
    statements.push(String(query));
    const rows = answer;
    answer = [];
    return rows;
  };
  return { sql, bounded: bounded as never, statements, answerNext: (rows: object[]) => (answer = rows) };
}

test("only a ticket with this deployment's MAC reaches the database; forged and malformed ones are refused first", async () => {
  const fake = fakeDatabase();
  const tickets = new Tickets(fake.sql, fake.bounded);
  fake.answerNext([{ key: Buffer.alloc(32, 7) }]);
  await tickets.start();
  const { ticket } = await tickets.issue({ userId: "u", sessionId: "s", tokenExpiresAt: Date.now() + 60_000 });
  expect(ticket).toMatch(/^[A-Za-z0-9_-]{64}$/);
  const before = fake.statements.length;

  const forged = Buffer.from(crypto.getRandomValues(new Uint8Array(48))).toString("base64url");
  const flipped = `${ticket.slice(0, 10)}${ticket[10] === "A" ? "B" : "A"}${ticket.slice(11)}`;
  for (const bad of [forged, flipped, ticket.slice(0, 43), "", "x".repeat(64), `${ticket}=`, "é".repeat(64)]) {
    expect(await tickets.redeem(bad)).toBeNull();
  }
  expect(fake.statements.length).toBe(before); // not one query

  fake.answerNext([{ user_id: "u", session_id: "s", token_expires_at: new Date() }]);
  expect(await tickets.redeem(ticket)).toMatchObject({ userId: "u", sessionId: "s" });
  expect(fake.statements.length).toBe(before + 1); // the genuine one is spent in the database

  const other = new Tickets(fake.sql, fake.bounded);
  fake.answerNext([{ key: Buffer.alloc(32, 8) }]); // another deployment's key
  await other.start();
  expect(await other.redeem(ticket)).toBeNull();
});
