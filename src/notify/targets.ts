/**
 * Where notifications go, registered once from the configuration: Web Push (with VAPID keys) and/or
 * the backend's webhook. The message batch and the notifier both follow from it (see `queueEveryone`).
 */
import type { NotifyConfig } from "../config/config.ts";
import { createPost } from "./http-post.ts";
import { WebPushSender } from "./web-push-sender.ts";
import { WebhookSender } from "./webhook-sender.ts";

export type DeliveryTargets = { push: WebPushSender | null; webhook: WebhookSender | null };

export function deliveryTargets(notify: NotifyConfig): DeliveryTargets {
  const post = createPost(notify.extraCaFile);
  return {
    push: notify.vapid ? new WebPushSender(notify.vapid, post, notify.pushHosts) : null,
    webhook: notify.webhook ? new WebhookSender(notify.webhook.url, notify.webhook.secret, post) : null,
  };
}

/** A webhook notifies anyone; Web Push only those with a subscription: whom a message batch queues. */
export const queueEveryone = (targets: DeliveryTargets): boolean => targets.webhook !== null;
