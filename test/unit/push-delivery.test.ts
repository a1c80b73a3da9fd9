/** What a push delivery reads and where it may go, with a fake HTTP POST. */
import { expect, test } from "bun:test";
import webpush from "web-push";
import { attempt, MAX_ANSWER_BYTES, type Post } from "../../src/notify/http-post.ts";
import { WebPushSender } from "../../src/notify/web-push-sender.ts";
import type { Delivery } from "../../src/notify/model.ts";

test("of an answer's body at most a few KB are read, however big it is", async () => {
  let pulled = 0;
  const chunk = new Uint8Array(64 * 1024);
  const huge = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled += chunk.byteLength;
      if (pulled > 200 * 1024 * 1024) controller.close();
      else controller.enqueue(chunk);
    },
  });
  const post: Post = async () => new Response(huge, { status: 201 });
  expect(await attempt(post, "https://push.example/x", {}, "", true)).toEqual({ kind: "sent" });
  expect(pulled).toBeLessThanOrEqual(MAX_ANSWER_BYTES + 3 * chunk.byteLength); // what the stream had buffered, not 200 MB
});

test("a push endpoint is checked again at delivery: one no longer allowed is gone, and nothing is sent to it", async () => {
  const vapid = { ...webpush.generateVAPIDKeys(), subject: "mailto:ops@sendbuddy.test" };
  const posted: string[] = [];
  const post: Post = async (url) => {
    posted.push(url);
    return new Response(null, { status: 201 });
  };
  const sender = new WebPushSender(vapid, post, ["push.example"]);
  const browser = webpush.generateVAPIDKeys(); // a P-256 key pair, as a browser's
  const delivery = (target: string): Delivery => ({
    id: 1,
    eventId: crypto.randomUUID(),
    target,
    attempts: 1,
    keys: { p256dh: browser.publicKey, auth: Buffer.alloc(16, 1).toString("base64url") },
    event: {
      id: crypto.randomUUID(),
      type: "message",
      user_id: crypto.randomUUID(),
      session_id: crypto.randomUUID(),
      seq: 1,
      title: "t",
      body: "b",
      count: 1,
      created_at: new Date().toISOString(),
    },
  });
  expect((await sender.send(delivery("https://push.example:6379/x"))).kind).toBe("gone");
  expect((await sender.send(delivery("https://elsewhere.example/x"))).kind).toBe("gone");
  expect(posted).toEqual([]);
  expect((await sender.send(delivery("https://push.example/x"))).kind).toBe("sent");
  expect(posted).toEqual(["https://push.example/x"]);
});
