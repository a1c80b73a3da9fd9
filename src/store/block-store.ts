/** Blocks on PostgreSQL (chat_blocks): the trigger of migration 14 tells every instance. */
import type { PendingQuery, Sql } from "postgres";
import type { BlockRow, BlockStore } from "../chat/ports.ts";
import { ISO_UTC } from "./batch-statement.ts";
import { pgArray } from "./pg-array.ts";

type Bounded = <T extends readonly (object | undefined)[]>(query: PendingQuery<T>) => Promise<T>;

export class PostgresBlocks implements BlockStore {
  constructor(
    private readonly sql: Sql,
    private readonly bounded: Bounded,
  ) {}

  async block(blockerId: string, blockedId: string): Promise<"blocked" | "no_user"> {
    const [row] = await this.bounded(this.sql<{ known: boolean }[]>`
      WITH target AS (SELECT id FROM users WHERE id = ${blockedId}),
      added AS (
        INSERT INTO chat_blocks (blocker_id, blocked_id) SELECT ${blockerId}, id FROM target
        ON CONFLICT (blocker_id, blocked_id) DO NOTHING
      )
      SELECT EXISTS (SELECT 1 FROM target) AS known`);
    return row!.known ? "blocked" : "no_user";
  }

  async unblock(blockerId: string, blockedId: string): Promise<boolean> {
    const rows = await this.bounded(this.sql`
      DELETE FROM chat_blocks WHERE blocker_id = ${blockerId} AND blocked_id = ${blockedId} RETURNING blocker_id`);
    return rows.length > 0;
  }

  list(blockerId: string): Promise<BlockRow[]> {
    return this.bounded(this.sql<BlockRow[]>`
      SELECT b.blocked_id AS user_id, u.display_name, to_char(b.created_at AT TIME ZONE 'UTC', ${this.sql.unsafe(ISO_UTC)}) AS created_at
      FROM chat_blocks b JOIN users u ON u.id = b.blocked_id
      WHERE b.blocker_id = ${blockerId} ORDER BY b.created_at DESC LIMIT 1000`);
  }

  async blockedAmong(pairs: readonly (readonly [string, string])[]): Promise<{ blocker: string; blocked: string }[]> {
    if (pairs.length === 0) return [];
    const a = pgArray(pairs.map((p) => p[0]));
    const b = pgArray(pairs.map((p) => p[1]));
    return this.bounded(this.sql<{ blocker: string; blocked: string }[]>`
      SELECT k.blocker_id AS blocker, k.blocked_id AS blocked
      FROM unnest(${a}::uuid[], ${b}::uuid[]) AS p(x, y)
      JOIN chat_blocks k ON (k.blocker_id = p.x AND k.blocked_id = p.y) OR (k.blocker_id = p.y AND k.blocked_id = p.x)`);
  }
}
