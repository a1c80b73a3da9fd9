/** The Store on PostgreSQL through postgres.js: the same code for a real server and for PGlite. */
import postgres, { type Sql } from "postgres";
import type { Authorization, NewMessage, Store, Appended } from "../chat/ports.ts";
import type { MessageView } from "../protocol/frames.ts";
import { ISO_UTC, MessageWriter } from "./message-writer.ts";

export type PostgresOptions = { url: string; poolMax: number };

export function connect({ url, poolMax }: PostgresOptions): Sql {
  return postgres(url, {
    max: poolMax,
    onnotice: () => {},
    connect_timeout: 5,
    // seq and counts are bigint: numbers well below 2^53, so plain numbers are safe.
    types: { bigint: { to: 20, from: [20], parse: (x: string) => Number(x), serialize: (x: number) => String(x) } },
  });
}

type AuthRow = {
  user_name: string | null;
  session_id: string | null;
  last_seq: number;
  inviter_id: string;
  inviter_name: string;
  invitee_id: string;
  invitee_name: string;
};

export class PostgresStore implements Store {
  private readonly writer: MessageWriter;

  constructor(readonly sql: Sql) {
    this.writer = new MessageWriter(sql);
  }

  async authorize(sessionId: string, userId: string): Promise<Authorization> {
    const [row] = await this.sql<AuthRow[]>`
      SELECT (SELECT display_name FROM users WHERE id = ${userId}) AS user_name,
             s.id AS session_id, s.last_seq, s.inviter_id, iu.display_name AS inviter_name,
             s.invitee_id, eu.display_name AS invitee_name
      FROM (VALUES (1)) AS one
      LEFT JOIN sessions s ON s.id = ${sessionId}
      LEFT JOIN users iu ON iu.id = s.inviter_id
      LEFT JOIN users eu ON eu.id = s.invitee_id`;
    if (!row || row.user_name === null) return { ok: false, reason: "user_not_found" };
    if (row.session_id === null || (row.inviter_id !== userId && row.invitee_id !== userId)) {
      return { ok: false, reason: "not_participant" };
    }
    return {
      ok: true,
      user: { userId, displayName: row.user_name },
      session: {
        sessionId: row.session_id,
        inviter: { userId: row.inviter_id, displayName: row.inviter_name },
        invitee: { userId: row.invitee_id, displayName: row.invitee_name },
        lastSeq: row.last_seq,
      },
    };
  }

  append(message: NewMessage): Promise<Appended> {
    return this.writer.append(message);
  }

  messagesAfter(sessionId: string, afterSeq: number, limit: number): Promise<MessageView[]> {
    return this.sql<MessageView[]>`
      SELECT m.id AS message_id, m.session_id, m.seq, m.content, m.sender_id, u.display_name AS sender_name,
             to_char(m.created_at AT TIME ZONE 'UTC', ${this.sql.unsafe(ISO_UTC)}) AS created_at, m.client_id
      FROM messages m JOIN users u ON u.id = m.sender_id
      WHERE m.session_id = ${sessionId} AND m.seq > ${afterSeq}
      ORDER BY m.seq LIMIT ${limit}`.then((rows) => rows.map(withoutNullClientId));
  }

  /** Resolves when every message handed to `append` so far is written or failed. */
  drainWrites(): Promise<void> {
    return this.writer.drain();
  }

  async ping(): Promise<void> {
    await this.sql`SELECT 1`;
  }

  async close(): Promise<void> {
    await this.writer.drain();
    await this.sql.end({ timeout: 5 });
  }
}

/** client_id is shown only when the sender gave one, as in live frames. */
function withoutNullClientId(row: MessageView): MessageView {
  if (row.client_id == null) delete row.client_id;
  return row;
}
