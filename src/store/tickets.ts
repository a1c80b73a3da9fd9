/**
 * One-use WebSocket connect tickets in PostgreSQL, so that any instance redeems what another issued.
 * A browser cannot put a token in a WebSocket's headers, and a URL ends up in proxies' logs: it asks
 * for a ticket over HTTP (Bearer) and connects with `?ticket=`, a random value good for one
 * connection to one session within a few seconds. Only its SHA-256 is stored.
 */
import type { PendingQuery, Sql } from "postgres";

/** How long a ticket may wait before it is used. */
export const TICKET_TTL_MS = 30_000;

export type Ticket = { userId: string; sessionId: string; tokenExpiresAt: number };

export class Tickets {
  constructor(
    private readonly sql: Sql,
    /** Every query answers within the store's timeout. */
    private readonly bounded: <T extends readonly (object | undefined)[]>(query: PendingQuery<T>) => Promise<T>,
  ) {}

  /** A new ticket; expired ones are swept by the same statement. */
  async issue({ userId, sessionId, tokenExpiresAt }: Ticket): Promise<{ ticket: string; expiresAt: number }> {
    const ticket = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
    const expiresAt = Date.now() + TICKET_TTL_MS;
    await this.bounded(this.sql`
      WITH swept AS (DELETE FROM ws_tickets WHERE expires_at < now())
      INSERT INTO ws_tickets (ticket_hash, user_id, session_id, token_expires_at, expires_at)
      VALUES (${hashOf(ticket)}, ${userId}, ${sessionId}, ${new Date(tokenExpiresAt)}, ${new Date(expiresAt)})`);
    return { ticket, expiresAt };
  }

  /** The ticket's grant, once: null when unknown, used or expired. */
  async redeem(ticket: string): Promise<Ticket | null> {
    const [row] = await this.bounded(this.sql<{ user_id: string; session_id: string; token_expires_at: Date }[]>`
      DELETE FROM ws_tickets WHERE ticket_hash = ${hashOf(ticket)} AND expires_at > now()
      RETURNING user_id, session_id, token_expires_at`);
    return row ? { userId: row.user_id, sessionId: row.session_id, tokenExpiresAt: row.token_expires_at.getTime() } : null;
  }
}

function hashOf(ticket: string): Buffer {
  return Buffer.from(new Bun.CryptoHasher("sha256").update(ticket).digest());
}
