/**
 * The access token: fetched through the application's `getToken`, cached, and refreshed before it
 * expires. The payload is decoded only to read `exp`; verifying it is the server's job.
 */

export type TokenSource = () => Promise<string> | string;

/** `exp` of a JWT in milliseconds, or null when the token is not a JWT with a numeric `exp`. */
export function jwtExpiresAt(token: string): number | null {
  const payload = token.split(".")[1];
  if (!payload) return null;
  try {
    const base64 = payload
      .replaceAll("-", "+")
      .replaceAll("_", "/")
      .padEnd(Math.ceil(payload.length / 4) * 4, "=");
    const claims: unknown = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))));
    const exp = (claims as { exp?: unknown }).exp;
    return typeof exp === "number" ? exp * 1000 : null;
  } catch {
    return null;
  }
}

export class TokenKeeper {
  private token: string | null = null;
  private expiresAt: number | null = null;
  private inFlight: Promise<string> | null = null;

  constructor(
    private readonly source: TokenSource,
    private readonly marginMs: number,
  ) {}

  /** The cached token, or a new one when there is none or it expires within the margin. */
  async current(): Promise<string> {
    if (this.token !== null && !this.expiresSoon(Date.now())) return this.token;
    return this.fresh();
  }

  /** Always asks `getToken`; concurrent callers share one call. */
  fresh(): Promise<string> {
    this.inFlight ??= (async () => {
      try {
        const token = await this.source();
        if (typeof token !== "string" || token === "") throw new Error("getToken returned no token");
        this.token = token;
        this.expiresAt = jwtExpiresAt(token);
        return token;
      } finally {
        this.inFlight = null;
      }
    })();
    return this.inFlight;
  }

  /** Forget the cached token (the server refused it). */
  invalidate(): void {
    this.token = null;
    this.expiresAt = null;
  }

  /**
   * When to refresh a token expiring at `expiresAt`: `marginMs` before, but never later than half of
   * the remaining lifetime, so short-lived tokens are refreshed in time too.
   */
  refreshAt(expiresAt: number, now = Date.now()): number {
    const left = expiresAt - now;
    return expiresAt - Math.min(this.marginMs, left / 2);
  }

  private expiresSoon(now: number): boolean {
    return this.expiresAt !== null && this.refreshAt(this.expiresAt, now) <= now;
  }
}
