/**
 * The demo page: React over the client package's hooks (src/client/react). Served at /demo by a
 * development server (DEMO_PAGE), bundled by Bun's HTML import. StrictMode on purpose: the hooks
 * keep one connection through its double mounting.
 */
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./app.tsx";

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
