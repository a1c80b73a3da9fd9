/**
 * The demo's service worker, served at /demo/sw.js: it shows a Web Push (one notification per
 * session: a newer one replaces it, the tag) and opens the demo when the notification is clicked.
 * Kept as source text so that the compiled binary serves it as is.
 */
export const SERVICE_WORKER_SOURCE = `
self.addEventListener("push", (event) => {
  const data = event.data ? event.data.json() : {};
  event.waitUntil(
    self.registration.showNotification(data.title || "Send Buddy", {
      body: data.body || "",
      tag: data.session_id,
      renotify: true,
      data: { session_id: data.session_id },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(
    self.clients.matchAll({ type: "window" }).then((windows) => {
      const open = windows.find((w) => new URL(w.url).pathname.startsWith("/demo"));
      return open ? open.focus() : self.clients.openWindow("/demo");
    }),
  );
});
`;
