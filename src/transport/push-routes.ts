/**
 * Web Push subscriptions over the HTTP API: the page asks for the VAPID public key, subscribes in
 * the browser, and hands the subscription (`PushSubscription.toJSON()`) to the server.
 *
 *   GET    /api/push/vapid-public-key  → {"public_key"}                  (no token: it is public)
 *   POST   /api/push/subscriptions     ← {"endpoint","keys":{"p256dh","auth"}} → 201
 *   DELETE /api/push/subscriptions     ← {"endpoint"}                     → 204
 *
 * The server POSTs to the endpoint later: only https endpoints on the push services' hosts (default
 * port) are taken, with a key on the P-256 curve. An endpoint already registered moves to another
 * user only with the same `auth` secret (which only the browser that subscribed knows).
 */
import * as v from "valibot";
import type { PushSubscriptions } from "../notify/model.ts";
import { endpointAllowed, isP256Point } from "../notify/push-endpoint.ts";
import { json, jsonBody } from "./json-response.ts";

export const PUSH_KEY_PATH = /^\/api\/push\/vapid-public-key\/?$/;
export const PUSH_SUBSCRIPTIONS_PATH = /^\/api\/push\/subscriptions\/?$/;

export type PushApi = { subscriptions: PushSubscriptions; vapidPublicKey: string; hosts: string[] };

/** A subscription body is a few hundred bytes. */
const MAX_BODY = 4096;

const b64url = (bytes: number, what: string) =>
  v.pipe(
    v.string(`${what} must be a string`),
    v.check(
      (s) => /^[A-Za-z0-9_-]+={0,2}$/.test(s) && Buffer.from(s, "base64url").length === bytes,
      `${what} must be ${bytes} bytes, URL-safe base64`,
    ),
  );

const Endpoint = v.pipe(
  v.string("endpoint must be a string"),
  v.maxLength(1024, "endpoint must be at most 1024 characters"),
  v.url("endpoint must be a URL"),
);

const Subscription = v.object({
  endpoint: Endpoint,
  expirationTime: v.optional(v.nullable(v.number())),
  keys: v.object(
    {
      p256dh: v.pipe(
        b64url(65, "keys.p256dh"),
        v.check((s) => isP256Point(Buffer.from(s, "base64url")), "keys.p256dh must be an uncompressed point of the P-256 curve"),
      ),
      auth: b64url(16, "keys.auth"),
    },
    "keys must be an object with p256dh and auth",
  ),
});

const Unsubscription = v.object({ endpoint: Endpoint });

export function vapidPublicKey(push: PushApi | null): Response {
  return push ? json(200, { public_key: push.vapidPublicKey }) : notEnabled();
}

export async function subscribe(push: PushApi | null, userId: string, req: Request): Promise<Response> {
  if (!push) return notEnabled();
  const body = await jsonBody(req, Subscription, { maxBytes: MAX_BODY, expected: "PushSubscription.toJSON()" });
  if ("error" in body) return body.error;
  const { endpoint, keys } = body.value;
  if (!endpointAllowed(endpoint, push.hosts)) {
    return json(400, { error: "endpoint must be an https URL of a known push service, on its default port" });
  }
  const saved = await push.subscriptions.subscribe(userId, { endpoint, p256dh: keys.p256dh, auth: keys.auth });
  if (saved === "no_user") return json(401, { error: "user not found" });
  if (saved === "taken") return json(409, { error: "this endpoint is registered with other keys" });
  return json(201, { endpoint, created: saved === "created" });
}

export async function unsubscribe(push: PushApi | null, userId: string, req: Request): Promise<Response> {
  if (!push) return notEnabled();
  const body = await jsonBody(req, Unsubscription, { maxBytes: MAX_BODY, expected: '{"endpoint":"…"}' });
  if ("error" in body) return body.error;
  await push.subscriptions.unsubscribe(userId, body.value.endpoint);
  return new Response(null, { status: 204, headers: { "cache-control": "no-store" } });
}

function notEnabled(): Response {
  return json(404, { error: "web push is not enabled on this server (VAPID keys are not configured)" });
}
