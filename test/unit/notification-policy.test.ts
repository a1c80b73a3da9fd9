/** Offline notifications' pure parts: what a notification says, which answers are retried and when, which endpoints are taken. */
import { describe, expect, test } from "bun:test";
import { composeEvent, cut, pushPayload } from "../../src/notify/notification-text.ts";
import { BACKOFF_MAX_MS, backoffMs, classify, retryAfterMs } from "../../src/notify/delivery-policy.ts";
import { endpointAllowed, isP256Point } from "../../src/notify/push-endpoint.ts";
import { signature } from "../../src/notify/webhook-sender.ts";
import { topicOf } from "../../src/notify/web-push-sender.ts";

const to = { userId: "u1", sessionId: "5e55a0b1-0000-4000-8000-000000000001" };

describe("notification text", () => {
  test("the sender is the title; the first unnotified message the body, with how many more", () => {
    const one = composeEvent(
      { count: 1, newestSeq: 4, first: { senderName: "Sam", content: "Let's climb tomorrow!" } },
      to,
      "id-1",
      new Date(0),
    );
    expect(one).toEqual({
      id: "id-1",
      type: "message",
      user_id: "u1",
      session_id: to.sessionId,
      seq: 4,
      title: "Sam",
      body: "Let's climb tomorrow!",
      count: 1,
      created_at: "1970-01-01T00:00:00.000Z",
    });
    const three = composeEvent({ count: 3, newestSeq: 6, first: { senderName: "Sam", content: "Let's\n\nclimb   tomorrow!" } }, to);
    expect(three?.body).toBe("Let's climb tomorrow! (+2 more)");
    expect(composeEvent({ count: 0, newestSeq: 6, first: null }, to)).toBeNull();
  });

  test("cuts on code points, never inside a surrogate pair; the push payload stays far below 4 KB", () => {
    expect(cut("🧗".repeat(5), 3)).toBe("🧗🧗…");
    expect(cut("short", 10)).toBe("short");
    const worst = composeEvent(
      { count: 99_999, newestSeq: 1e12, first: { senderName: "🧗".repeat(500), content: "🧗".repeat(2000) } },
      to,
    )!;
    expect(Buffer.byteLength(pushPayload(worst))).toBeLessThan(1200);
    expect(Object.keys(JSON.parse(pushPayload(worst)))).toEqual(["type", "id", "session_id", "seq", "title", "body"]);
  });
});

describe("delivery policy", () => {
  test("2xx sent; 403/404/410 from a push service gone; 408/429/5xx retried; other 4xx dead at once", () => {
    expect(classify(201, null, true)).toEqual({ kind: "sent" });
    expect(classify(410, null, true)).toEqual({ kind: "gone", error: "HTTP 410" });
    expect(classify(404, null, true).kind).toBe("gone");
    expect(classify(404, null, false).kind).toBe("fail"); // a webhook's 404 is a misconfiguration
    expect(classify(503, "7", true)).toEqual({ kind: "retry", error: "HTTP 503", retryAfterMs: 7000 });
    expect(classify(429, null, true)).toEqual({ kind: "retry", error: "HTTP 429" });
    expect(classify(408, null, false).kind).toBe("retry");
    expect(classify(403, null, true).kind).toBe("gone"); // made for another VAPID key: after a rotation
    expect(classify(403, null, false).kind).toBe("fail"); // a webhook's 403 is a misconfiguration
    for (const status of [400, 401, 413]) expect(classify(status, null, true).kind).toBe("fail");
  });

  test("backoff doubles with the attempt within jitter, is capped, and a Retry-After wins within the cap", () => {
    expect([1, 2, 3, 4].map((n) => backoffMs(n, undefined, () => 1))).toEqual([1000, 2000, 4000, 8000]);
    expect([1, 2, 3, 4].map((n) => backoffMs(n, undefined, () => 0))).toEqual([500, 1000, 2000, 4000]);
    expect(backoffMs(40, undefined, () => 1)).toBe(BACKOFF_MAX_MS);
    expect(backoffMs(1, 30_000)).toBe(30_000);
    expect(backoffMs(1, 86_400_000)).toBe(BACKOFF_MAX_MS);
    expect(retryAfterMs("120")).toBe(120_000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(retryAfterMs("soon")).toBeNull();
  });
});

describe("push endpoints and signatures", () => {
  test("only https endpoints on an allowed host or its subdomains, on the default port, are taken", () => {
    const hosts = ["push.services.mozilla.com", "fcm.googleapis.com"];
    expect(endpointAllowed("https://updates.push.services.mozilla.com/wpush/v2/abc", hosts)).toBe(true);
    expect(endpointAllowed("https://fcm.googleapis.com/fcm/send/abc", hosts)).toBe(true);
    expect(endpointAllowed("https://fcm.googleapis.com:443/fcm/send/abc", hosts)).toBe(true); // the default, written out
    expect(endpointAllowed("https://127.0.0.1:8443/push/1", [...hosts, "127.0.0.1:8443"])).toBe(true); // host:port, exactly
    expect(endpointAllowed("https://127.0.0.1:8444/push/1", [...hosts, "127.0.0.1:8443"])).toBe(false);
    expect(endpointAllowed("https://sub.fcm.googleapis.com:8443/x", [...hosts, "fcm.googleapis.com:8443"])).toBe(false);
    for (const bad of [
      "https://fcm.googleapis.com:22/x",
      "https://fcm.googleapis.com:6379/x",
      "https://fcm.googleapis.com:8443/x",
      "http://fcm.googleapis.com/fcm/send/abc",
      "https://evilfcm.googleapis.com.attacker.example/x",
      "https://fcm.googleapis.com.attacker.example/x",
      "https://user:pw@fcm.googleapis.com/x",
      "https://169.254.169.254/latest/meta-data",
      "not a url",
    ]) {
      expect({ bad, allowed: endpointAllowed(bad, hosts) }).toEqual({ bad, allowed: false });
    }
  });

  test("a browser key must be a point of the P-256 curve: an off-curve one (which would make every encryption throw) is refused", async () => {
    const pair = (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"])) as CryptoKeyPair;
    const point = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    expect(isP256Point(point)).toBe(true);
    const offCurve = point.slice();
    offCurve[64]! ^= 1; // y changed by one bit
    expect(isP256Point(offCurve)).toBe(false);
    expect(isP256Point(new Uint8Array(65).fill(0, 1).fill(4, 0, 1))).toBe(false); // (0, 0)
    expect(isP256Point(new Uint8Array(65).fill(0xff).fill(4, 0, 1))).toBe(false); // coordinates beyond p
    expect(isP256Point(point.slice(0, 64))).toBe(false);
    const compressed = point.slice();
    compressed[0] = 2;
    expect(isP256Point(compressed)).toBe(false);
  });

  test("the webhook signature is HMAC-SHA256 of '<t>.<body>'; a push topic is 22 URL-safe characters per session", () => {
    expect(signature("secret", 1700000000, '{"a":1}')).toBe(
      new Bun.CryptoHasher("sha256", "secret").update('1700000000.{"a":1}').digest("hex"),
    );
    expect(topicOf(to.sessionId)).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(topicOf(to.sessionId)).not.toBe(topicOf("5e55a0b1-0000-4000-8000-000000000002"));
  });
});
