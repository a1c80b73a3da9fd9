/**
 * The demo chat page's routes. Bun bundles the page (HTML, CSS, TypeScript with the client module)
 * from these sources when it is first served; `bun build --compile` bundles it into the binary. A
 * static import on purpose: a dynamic `import()` of an HTML file breaks the compiled binary (Bun 1.4).
 */
import page from "./index.html";

export const demoRoutes = { "/demo": page, "/demo/": page };
