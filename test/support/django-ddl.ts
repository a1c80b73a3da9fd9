/** The Send Buddy backend's tables as Django makes them: the schema the service drops in beside. */

/** What `manage.py sqlmigrate` prints for the Send Buddy models (users, climbing sessions, messages). */
export const DJANGO_DDL = `
CREATE TABLE "users" ("password" varchar(128) NOT NULL, "last_login" timestamp with time zone NULL,
  "is_superuser" boolean NOT NULL, "id" uuid NOT NULL PRIMARY KEY, "email" varchar(254) NOT NULL UNIQUE,
  "display_name" varchar(100) NOT NULL, "is_active" boolean NOT NULL, "is_staff" boolean NOT NULL,
  "created_at" timestamp with time zone NOT NULL);
CREATE INDEX "users_email_0ea73cca_like" ON "users" ("email" varchar_pattern_ops);
CREATE TABLE "sessions" ("id" uuid NOT NULL PRIMARY KEY, "created_at" timestamp with time zone NOT NULL,
  "last_message_at" timestamp with time zone NULL, "invitee_id" uuid NOT NULL, "inviter_id" uuid NOT NULL);
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_invitee_id_8b1c2a4e_fk_users_id" FOREIGN KEY ("invitee_id")
  REFERENCES "users" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_inviter_id_5f2e9d1b_fk_users_id" FOREIGN KEY ("inviter_id")
  REFERENCES "users" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "sessions_invitee_id_8b1c2a4e" ON "sessions" ("invitee_id");
CREATE INDEX "sessions_inviter_id_5f2e9d1b" ON "sessions" ("inviter_id");
CREATE TABLE "messages" ("id" uuid NOT NULL PRIMARY KEY, "content" text NOT NULL,
  "created_at" timestamp with time zone NOT NULL, "sender_id" uuid NOT NULL, "session_id" uuid NOT NULL);
ALTER TABLE "messages" ADD CONSTRAINT "messages_sender_id_d2a3c1f0_fk_users_id" FOREIGN KEY ("sender_id")
  REFERENCES "users" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "messages" ADD CONSTRAINT "messages_session_id_7c1b4e2d_fk_sessions_id" FOREIGN KEY ("session_id")
  REFERENCES "sessions" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "messages_sender_id_d2a3c1f0" ON "messages" ("sender_id");
CREATE INDEX "messages_session_id_7c1b4e2d" ON "messages" ("session_id");
`;
