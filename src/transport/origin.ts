/**
 * Cross-site WebSocket hijacking guard. Browsers always send Origin on a WebSocket upgrade; other
 * clients usually send none and are allowed (they authenticate with a token anyway). A browser page
 * of another origin is refused before the upgrade unless ALLOWED_ORIGINS lists it ("*": any).
 * Same-origin pages (Origin host = Host header) are always allowed.
 */
export function originAllowed(req: Request, allowed: string[] | null): boolean {
  const origin = req.headers.get("origin");
  if (!origin) return true;
  if (allowed && (allowed.includes("*") || allowed.includes(origin))) return true;
  try {
    return new URL(origin).host === req.headers.get("host");
  } catch {
    return false;
  }
}
