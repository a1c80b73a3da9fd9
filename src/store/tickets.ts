/**
 * One-use WebSocket connect tickets in PostgreSQL, so that any instance redeems what another issued.
 * A browser cannot put a token in a WebSocket's headers, and a URL ends up in proxies' logs: it asks
 * for a ticket over HTTP (Bearer) and connects with `?ticket=`, a random value good for one
 * connection to one session within a few seconds. Only its SHA-256 is stored.
 *
 * A ticket carries a MAC under a key every instance shares (made once, kept in `chat_keys`): one that
 * this deployment did not issue is refused without touching the database, which is asked only to
 * spend a genuine one. So guessing tickets costs the guesser a request and the service nothing.
 */
import { timingSafeEqual } from "node:crypto";
import type { PendingQuery, Sql } from "postgres";
import type { Ticket, TicketBook } from "../chat/ports.ts";

/** How long a ticket may wait before it is used. */
export const TICKET_TTL_MS = 30_000;

const NONCE_BYTES = 32;
const MAC_BYTES = 16;
/** 48 bytes in URL-safe base64, no padding. */
const TICKET_FORM = /^[A-Za-z0-9_-]{64}$/;

export class Tickets implements TicketBook {
  private key: Uint8Array | null = null;

  constructor(
    private readonly sql: Sql,
    /** Every query answers within the store's timeout. */
    private readonly bounded: <T extends readonly (object | undefined)[]>(query: PendingQuery<T>) => Promise<T>,
  ) {}

  /** Reads the deployment's ticket key, making it if this is the first instance ever to start. */
  async start(): Promise<void> {
    const [row] = await this.bounded(this.sql<{ key: Uint8Array }[]>`
      WITH made AS (
        INSERT INTO chat_keys (name, key) VALUES ('ws_ticket', ${Buffer.from(crypto.getRandomValues(new Uint8Array(32)))})
        ON CONFLICT (name) DO NOTHING RETURNING key
      )
      SELECT key FROM made UNION ALL SELECT key FROM chat_keys WHERE name = 'ws_ticket'`);
    this.key = row!.key;
  }

  /** A new ticket; expired ones are swept by the same statement. */
  async issue({ userId, sessionId, tokenExpiresAt }: Ticket): Promise<{ ticket: string; expiresAt: number }> {
    const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
    const ticket = Buffer.concat([nonce, this.mac(nonce)]).toString("base64url");
    const expiresAt = Date.now() + TICKET_TTL_MS;
    await this.bounded(this.sql`
      WITH swept AS (DELETE FROM ws_tickets WHERE expires_at < now())
      INSERT INTO ws_tickets (ticket_hash, user_id, session_id, token_expires_at, expires_at)
      VALUES (${hashOf(ticket)}, ${userId}, ${sessionId}, ${new Date(tokenExpiresAt)}, ${new Date(expiresAt)})`);
    return { ticket, expiresAt };
  }

  /** The ticket's grant, once: null when malformed, not ours, unknown, used or expired. */
  async redeem(ticket: string): Promise<Ticket | null> {
    if (!this.genuine(ticket)) return null;
    const [row] = await this.bounded(this.sql<{ user_id: string; session_id: string; token_expires_at: Date }[]>`
      DELETE FROM ws_tickets WHERE ticket_hash = ${hashOf(ticket)} AND expires_at > now()
      RETURNING user_id, session_id, token_expires_at`);
    return row ? { userId: row.user_id, sessionId: row.session_id, tokenExpiresAt: row.token_expires_at.getTime() } : null;
  }

  /** Its form, then its MAC: no database work for a ticket this deployment did not issue. */
  private genuine(ticket: string): boolean {
    if (!TICKET_FORM.test(ticket)) return false;
    const bytes = Buffer.from(ticket, "base64url");
    return timingSafeEqual(this.mac(bytes.subarray(0, NONCE_BYTES)), bytes.subarray(NONCE_BYTES));
  }

  private mac(nonce: Uint8Array): Buffer {
    if (!this.key) throw new Error("Tickets.start() was not called");
    const full = new Bun.CryptoHasher("sha256", this.key).update(nonce).digest();
    return Buffer.from(full.subarray(0, MAC_BYTES));
  }
}

function hashOf(ticket: string): Buffer {
  return Buffer.from(new Bun.CryptoHasher("sha256").update(ticket).digest());
}
