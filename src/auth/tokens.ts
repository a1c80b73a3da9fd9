/**
 * Access tokens. By default in the layout Django REST framework SimpleJWT issues: HS256 over the
 * shared secret, claims `token_type: "access"`, `user_id`, `exp`, `iat`, `jti`. For deployments that
 * sign with a private key: a PEM public key (RS256, ES256, EdDSA) or a JWKS URL (fetched and cached
 * by jose). Keys are imported once, never per connection.
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { SignJWT, createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey, type JWTVerifyOptions } from "jose";
import type { JwtConfig } from "../config/config.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type TokenCheck = { ok: true; userId: string; expiresAt: number } | { ok: false; reason: "expired" | "invalid" | "not_access" };

export type TokenVerifier = (token: string) => Promise<TokenCheck>;

type Key = CryptoKey | KeyObject | JWTVerifyGetKey;

/** The HS256 secret as a CryptoKey, imported once: jose would import a raw secret on every call. */
const hmacKey = (secret: string) =>
  crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);

export function createVerifier(jwt: JwtConfig): TokenVerifier {
  const key: Key | Promise<CryptoKey> = jwt.jwksUrl
    ? createRemoteJWKSet(new URL(jwt.jwksUrl), { cacheMaxAge: 10 * 60_000, cooldownDuration: 30_000, timeoutDuration: 5000 })
    : jwt.publicKeyPem
      ? createPublicKey(jwt.publicKeyPem)
      : hmacKey(jwt.secret);
  // Rotation: a token the current secret does not verify may still be signed with the previous one.
  const previous = !jwt.jwksUrl && !jwt.publicKeyPem && jwt.previousSecret ? hmacKey(jwt.previousSecret) : null;
  const options: JWTVerifyOptions = {
    algorithms: jwt.algorithms,
    clockTolerance: jwt.clockSkewSeconds,
    requiredClaims: ["exp"],
    ...(jwt.issuer ? { issuer: jwt.issuer } : {}),
    ...(jwt.audience ? { audience: jwt.audience } : {}),
  };
  const verified = async (token: string) => {
    try {
      return await jwtVerify(token, (await key) as CryptoKey, options);
    } catch (err) {
      if (!previous || !(err instanceof errors.JWSSignatureVerificationFailed)) throw err;
      return jwtVerify(token, await previous, options);
    }
  };
  return async (token) => {
    try {
      const { payload } = await verified(token);
      if (payload.token_type !== "access") return { ok: false, reason: "not_access" };
      const userId = payload.user_id;
      if (typeof userId !== "string" || !UUID.test(userId)) return { ok: false, reason: "invalid" };
      return { ok: true, userId: userId.toLowerCase(), expiresAt: (payload.exp as number) * 1000 };
    } catch (err) {
      return { ok: false, reason: err instanceof errors.JWTExpired ? "expired" : "invalid" };
    }
  };
}

/** The SimpleJWT-compatible default: HS256 over a shared secret. */
export function hs256Verifier(secret: string, clockSkewSeconds = 5): TokenVerifier {
  return createVerifier({
    secret,
    secretIsDefault: false,
    previousSecret: null,
    publicKeyPem: null,
    jwksUrl: null,
    algorithms: ["HS256"],
    issuer: null,
    audience: null,
    clockSkewSeconds,
  });
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
