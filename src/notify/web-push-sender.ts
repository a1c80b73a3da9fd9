/**
 * Web Push (RFC 8030 delivery, RFC 8291 aes128gcm encryption, RFC 8292 VAPID): the `web-push`
 * library encrypts the payload and signs the VAPID JWT; the request goes out through `Post`.
 */
import webpush from "web-push";
import type { Delivery } from "./model.ts";
import { attempt, type Post } from "./http-post.ts";
import type { Attempt } from "./delivery-policy.ts";
import { pushPayload } from "./notification-text.ts";
import { endpointAllowed } from "./push-endpoint.ts";

export type Vapid = { publicKey: string; privateKey: string; subject: string };

/** How long a push service keeps a notification for a device that is offline. */
export const PUSH_TTL_SECONDS = 12 * 60 * 60;

export class WebPushSender {
  constructor(
    private readonly vapid: Vapid,
    private readonly post: Post,
    /** The push services' hosts, checked again at every delivery (the list may have changed since it subscribed). */
    private readonly hosts: readonly string[],
  ) {}

  async send(delivery: Delivery): Promise<Attempt> {
    if (!delivery.keys) return { kind: "gone", error: "subscription removed" };
    if (!endpointAllowed(delivery.target, this.hosts)) return { kind: "gone", error: "endpoint no longer allowed" };
    if (delivery.event.type !== "message") return { kind: "fail", error: "only messages are pushed to browsers" };
    const request = webpush.generateRequestDetails({ endpoint: delivery.target, keys: delivery.keys }, pushPayload(delivery.event), {
      vapidDetails: this.vapid,
      TTL: PUSH_TTL_SECONDS,
      urgency: "high",
      // A newer notification of the same session replaces one the device has not fetched yet.
      topic: topicOf(delivery.event.session_id),
    });
    const headers = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, String(v)]));
    return attempt(this.post, request.endpoint, headers, request.body as Uint8Array, true);
  }
}

/** RFC 8030 topics are at most 32 URL-safe base64 characters: the session's 16 bytes make 22. */
export function topicOf(sessionId: string): string {
  return Buffer.from(sessionId.replaceAll("-", ""), "hex").toString("base64url");
}

export function generateVapidKeys(): { publicKey: string; privateKey: string } {
  return webpush.generateVAPIDKeys();
}
