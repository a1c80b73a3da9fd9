/**
 * The demo chat page's routes. Bun bundles the page (HTML, CSS, TypeScript with the client module)
 * from these sources when it is first served; `bun build --compile` bundles it into the binary. A
 * static import on purpose: a dynamic `import()` of an HTML file breaks the compiled binary (Bun 1.4).
 */
import page from "./index.html";
import { SERVICE_WORKER_SOURCE } from "./service-worker.ts";

const serviceWorker = new Response(SERVICE_WORKER_SOURCE, {
  // Its scope must cover /demo itself, not only /demo/…
  headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache", "service-worker-allowed": "/demo" },
});

export const demoRoutes: Record<string, Bun.HTMLBundle | Response> = { "/demo": page, "/demo/": page, "/demo/sw.js": serviceWorker };
