/**
 * Access tokens in the layout Django REST framework SimpleJWT issues: HS256 over the shared secret,
 * claims `token_type: "access"`, `user_id`, `exp`, `iat`, `jti`.
 */
import { SignJWT, jwtVerify, errors } from "jose";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type TokenCheck = { ok: true; userId: string; expiresAt: number } | { ok: false; reason: "expired" | "invalid" | "not_access" };

export type TokenVerifier = (token: string) => Promise<TokenCheck>;

/** The key is imported once, not per connection. */
export function hs256Verifier(secret: string, clockToleranceSeconds = 5): TokenVerifier {
  const key = new TextEncoder().encode(secret);
  return async (token) => {
    try {
      const { payload } = await jwtVerify(token, key, { algorithms: ["HS256"], clockTolerance: clockToleranceSeconds, requiredClaims: ["exp"] });
      if (payload.token_type !== "access") return { ok: false, reason: "not_access" };
      const userId = payload.user_id;
      if (typeof userId !== "string" || !UUID.test(userId)) return { ok: false, reason: "invalid" };
      return { ok: true, userId: userId.toLowerCase(), expiresAt: (payload.exp as number) * 1000 };
    } catch (err) {
      return { ok: false, reason: err instanceof errors.JWTExpired ? "expired" : "invalid" };
    }
  };
}

/** Mints a SimpleJWT-shaped access token: for the demo CLI, the benchmark and the tests. */
export async function mintAccessToken(secret: string, userId: string, lifetimeSeconds = 3600, tokenType = "access"): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ token_type: tokenType, user_id: userId, jti: crypto.randomUUID().replaceAll("-", "") })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt(now)
    .setExpirationTime(now + lifetimeSeconds)
    .sign(new TextEncoder().encode(secret));
}
