/**
 * Reports on PostgreSQL: filed by a participant (once per reporter and message), read and resolved by
 * the backend's moderators. With the webhook configured, the report's event goes into the outbox in
 * the same transaction, so a report stored is a report told.
 */
import type { PendingQuery, Sql } from "postgres";
import type { FiledReport, NewReport, ReportPage, ReportStore, ReportView } from "../chat/ports.ts";
import type { ReportEvent } from "../notify/model.ts";
import { WEBHOOK_TARGET } from "../notify/model.ts";
import { ISO_UTC } from "./batch-statement.ts";

type Bounded = <T extends readonly (object | undefined)[]>(query: PendingQuery<T>) => Promise<T>;

export class PostgresReports implements ReportStore {
  constructor(
    private readonly sql: Sql,
    private readonly bounded: Bounded,
    /** Whether reports go to the webhook too (NOTIFY_WEBHOOK_URL is set). */
    private readonly webhook: boolean,
  ) {}

  async file(r: NewReport): Promise<FiledReport> {
    return this.sql.begin(async (tx) => {
      await tx`SET LOCAL statement_timeout = '5s'`;
      const [session] = await tx<{ inviter_id: string; invitee_id: string }[]>`
        SELECT inviter_id, invitee_id FROM sessions WHERE id = ${r.sessionId} AND ${r.reporterId} IN (inviter_id, invitee_id)`;
      if (!session) return { ok: false, reason: "not_participant" };
      const other = session.inviter_id === r.reporterId ? session.invitee_id : session.inviter_id;
      let reported = other;
      let content: string | null = null;
      if (r.seq > 0) {
        const [message] = await tx<{ sender_id: string; content: string; system: boolean }[]>`
          SELECT m.sender_id, m.content, EXISTS (SELECT 1 FROM chat_system_messages sm WHERE sm.message_id = m.id) AS system
          FROM messages m WHERE m.session_id = ${r.sessionId} AND m.seq = ${r.seq}`;
        if (!message) return { ok: false, reason: "no_message" };
        if (message.system) return { ok: false, reason: "system_message" };
        if (message.sender_id === r.reporterId) return { ok: false, reason: "own_message" };
        reported = message.sender_id;
        content = message.content;
      }
      const [inserted] = await tx<{ id: string; created_at: string }[]>`
        INSERT INTO chat_reports (reporter_id, session_id, seq, reported_user_id, reason, note)
        VALUES (${r.reporterId}, ${r.sessionId}, ${r.seq}, ${reported}, ${r.reason}, ${r.note})
        ON CONFLICT (reporter_id, session_id, seq) DO NOTHING
        RETURNING id, to_char(created_at AT TIME ZONE 'UTC', ${tx.unsafe(ISO_UTC)}) AS created_at`;
      if (!inserted) {
        const [existing] = await tx<{ id: string }[]>`
          SELECT id FROM chat_reports WHERE reporter_id = ${r.reporterId} AND session_id = ${r.sessionId} AND seq = ${r.seq}`;
        return { ok: true, reportId: Number(existing!.id), duplicate: true };
      }
      const reportId = Number(inserted.id);
      if (this.webhook) {
        const event: ReportEvent = {
          id: crypto.randomUUID(),
          type: "report",
          user_id: r.reporterId,
          report_id: reportId,
          session_id: r.sessionId,
          seq: r.seq,
          reported_user_id: reported,
          reason: r.reason,
          note: r.note,
          content,
          created_at: inserted.created_at,
        };
        await tx`INSERT INTO chat_notification_deliveries (event_id, target, event) VALUES (${event.id}, ${WEBHOOK_TARGET}, ${tx.json(event)})`;
      }
      return { ok: true, reportId, duplicate: false };
    });
  }

  async list(state: "open" | "resolved", limit: number, before: number | null): Promise<ReportPage> {
    const iso = this.sql.unsafe(ISO_UTC);
    const rows = await this.bounded(this.sql<(ReportView & { id: string })[]>`
      SELECT r.id, r.session_id, r.seq, r.reporter_id, r.reported_user_id, r.reason, r.note, r.state, r.resolution,
             to_char(r.created_at AT TIME ZONE 'UTC', ${iso}) AS created_at,
             to_char(r.resolved_at AT TIME ZONE 'UTC', ${iso}) AS resolved_at,
             m.content, coalesce(c.deleted_at IS NOT NULL, false) AS deleted
      FROM chat_reports r
      LEFT JOIN messages m ON r.seq > 0 AND m.session_id = r.session_id AND m.seq = r.seq
      LEFT JOIN chat_message_changes c ON c.message_id = m.id
      WHERE r.state = ${state} ${before === null ? this.sql`` : this.sql`AND r.id < ${before}`}
      ORDER BY r.id DESC LIMIT ${limit + 1}`);
    const page = rows.slice(0, limit).map((r) => ({ ...r, id: Number(r.id), seq: Number(r.seq) }));
    return { reports: page, next: rows.length > limit ? page.at(-1)!.id : null };
  }

  async resolve(id: number, resolution: string | null): Promise<boolean> {
    const rows = await this.bounded(this.sql`
      UPDATE chat_reports SET state = 'resolved', resolution = ${resolution}, resolved_at = now() WHERE id = ${id} RETURNING id`);
    return rows.length > 0;
  }
}
