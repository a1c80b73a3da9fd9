/**
 * "Notify me": asks for permission, registers the service worker and subscribes this browser to Web
 * Push with the server's VAPID key, then hands the subscription to the server. Every way it can fail
 * ends in a sentence for the page: the server has no VAPID keys, the permission is refused, or the
 * browser cannot reach its push service (a machine without internet access).
 */
/** A step the browser does not finish in this time counts as failed (headless browsers may never answer). */
const STEP_TIMEOUT_MS = 8_000;

const within = <T>(promise: Promise<T>, step: string): Promise<T> =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${step}: no answer`)), STEP_TIMEOUT_MS))]);

export async function enableNotifications(getToken: () => Promise<string>): Promise<{ ok: boolean; message: string }> {
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    return { ok: false, message: "This browser has no Web Push." };
  }
  const keyRes = await fetch("/api/push/vapid-public-key").catch(() => null);
  if (keyRes?.status === 404) return { ok: false, message: "Push notifications are not configured on this server (no VAPID keys)." };
  if (!keyRes?.ok) return { ok: false, message: "The server did not answer; try again later." };
  const { public_key } = (await keyRes.json()) as { public_key: string };
  const permission = await within(Notification.requestPermission(), "permission").catch(() => "default");
  if (permission !== "granted") return { ok: false, message: "Notifications are not allowed for this page (browser settings)." };
  let subscription: PushSubscription;
  try {
    const registration = await within(navigator.serviceWorker.register("/demo/sw.js", { scope: "/demo" }), "service worker");
    await within(navigator.serviceWorker.ready, "service worker");
    subscription = await within(
      registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromBase64Url(public_key) }),
      "subscription",
    );
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    if (why.startsWith("service worker")) return { ok: false, message: `The service worker did not start (${why}).` };
    return { ok: false, message: `This browser could not reach its push service (${why}): no notifications on this machine.` };
  }
  const res = await fetch("/api/push/subscriptions", {
    method: "POST",
    headers: { authorization: `Bearer ${await getToken()}`, "content-type": "application/json" },
    body: JSON.stringify(subscription.toJSON()),
  }).catch(() => null);
  return res?.ok
    ? { ok: true, message: "Notifications are on: you will be told of messages while you are away." }
    : { ok: false, message: `The server did not take the subscription (${res?.status ?? "no answer"}).` };
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const base64 = text
    .replaceAll("-", "+")
    .replaceAll("_", "/")
    .padEnd(Math.ceil(text.length / 4) * 4, "=");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}
