/**
 * The webhook for the backend's own mobile push (FCM/APNs): the event as JSON, signed so that the
 * backend can check it came from here and is recent.
 *
 *   X-Chat-Event-Id:  the event id (the same on every retry: de-duplicate by it)
 *   X-Chat-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under NOTIFY_WEBHOOK_SECRET>
 */
import { createHmac } from "node:crypto";
import type { Delivery } from "./model.ts";
import { attempt, type Post } from "./http-post.ts";
import type { Attempt } from "./delivery-policy.ts";

export class WebhookSender {
  constructor(
    private readonly url: string,
    private readonly secret: string,
    private readonly post: Post,
  ) {}

  send(delivery: Delivery, now = Date.now()): Promise<Attempt> {
    const body = JSON.stringify(delivery.event);
    const t = Math.floor(now / 1000);
    return attempt(
      this.post,
      this.url,
      {
        "content-type": "application/json",
        "x-chat-event-id": delivery.eventId,
        "x-chat-signature": `t=${t},v1=${signature(this.secret, t, body)}`,
      },
      body,
      false,
    );
  }
}

export function signature(secret: string, t: number, body: string): string {
  return createHmac("sha256", secret).update(`${t}.${body}`).digest("hex");
}
