/**
 * A stand-in for a browser push service and for the backend's webhook, over TLS with a certificate
 * made for the test: it records every request, answers with scripted statuses, and decrypts Web Push
 * payloads (RFC 8291, aes128gcm) with the subscription's private key made here with Web Crypto, and
 * checks the VAPID signature (RFC 8292) — so the tests prove the encryption, not just the call.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { importJWK, jwtVerify } from "jose";
import type { Server } from "bun";

export type Bytes = Uint8Array<ArrayBuffer>;
export type Recorded = { path: string; headers: Record<string, string>; body: Bytes; at: number };

export class PushStandIn {
  readonly requests: Recorded[] = [];
  /** Statuses to answer, per path, in order; then 201. */
  readonly script = new Map<string, number[]>();
  private server: Server<undefined> | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), "push-standin-"));
  readonly caFile = join(this.dir, "ca.pem");

  start(): void {
    const key = join(this.dir, "key.pem");
    const made = Bun.spawnSync(
      [
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        key,
        "-out",
        this.caFile,
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
      ],
      { stderr: "pipe" },
    );
    if (made.exitCode !== 0) throw new Error(`openssl failed: ${made.stderr.toString()}`);
    this.server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      tls: { key: readFileSync(key, "utf8"), cert: readFileSync(this.caFile, "utf8") },
      fetch: async (req) => {
        const path = new URL(req.url).pathname;
        this.requests.push({
          path,
          headers: Object.fromEntries(req.headers),
          body: new Uint8Array(await req.arrayBuffer()),
          at: Date.now(),
        });
        const status = this.script.get(path)?.shift() ?? 201;
        return new Response(null, { status, headers: status === 503 ? { "retry-after": "0" } : {} });
      },
    });
  }

  url(path: string): string {
    return `https://${this.host}${path}`;
  }

  /** "127.0.0.1:<port>", as PUSH_ENDPOINT_HOSTS allows a push service on a port other than 443. */
  get host(): string {
    return `127.0.0.1:${this.server!.port}`;
  }

  to(path: string): Recorded[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** Waits until `n` requests reached `path`. */
  async until(path: string, n = 1, timeoutMs = 8000): Promise<Recorded[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.to(path).length < n) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} request(s) to ${path}; got ${this.to(path).length}`);
      await Bun.sleep(20);
    }
    return this.to(path);
  }

  stop(): void {
    this.server?.stop(true);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");
const concat = (...parts: Uint8Array[]): Bytes => new Uint8Array(Buffer.concat(parts));
const text = (s: string): Bytes => new Uint8Array(new TextEncoder().encode(s));

async function hkdf(salt: Bytes, ikm: Bytes, info: Bytes, bytes: number): Promise<Bytes> {
  const key = await crypto.subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info }, key, bytes * 8));
}

/** What a browser makes when it subscribes: a P-256 key pair and an auth secret; only the public parts leave it. */
export class BrowserSubscription {
  private constructor(
    readonly endpoint: string,
    private readonly keys: CryptoKeyPair,
    private readonly publicRaw: Bytes,
    private readonly authSecret: Bytes,
  ) {}

  static async create(endpoint: string): Promise<BrowserSubscription> {
    const keys = (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"])) as CryptoKeyPair;
    const publicRaw = new Uint8Array(await crypto.subtle.exportKey("raw", keys.publicKey));
    return new BrowserSubscription(endpoint, keys, publicRaw, crypto.getRandomValues(new Uint8Array(16)));
  }

  /** `PushSubscription.toJSON()` */
  toJSON() {
    return { endpoint: this.endpoint, expirationTime: null, keys: { p256dh: b64(this.publicRaw), auth: b64(this.authSecret) } };
  }

  /** RFC 8291 §3.4 and RFC 8188: one aes128gcm record, padding removed. */
  async decrypt(body: Bytes): Promise<string> {
    const salt = body.slice(0, 16);
    const idlen = body[20]!;
    const serverPublic = body.slice(21, 21 + idlen);
    const ciphertext = body.slice(21 + idlen);
    const peer = await crypto.subtle.importKey("raw", serverPublic, { name: "ECDH", namedCurve: "P-256" }, false, []);
    const ecdh = new Uint8Array(await crypto.subtle.deriveBits({ name: "ECDH", public: peer }, this.keys.privateKey, 256));
    const ikm = await hkdf(this.authSecret, ecdh, concat(text("WebPush: info\0"), this.publicRaw, serverPublic), 32);
    const cek = await hkdf(salt, ikm, text("Content-Encoding: aes128gcm\0"), 16);
    const nonce = await hkdf(salt, ikm, text("Content-Encoding: nonce\0"), 12);
    const key = await crypto.subtle.importKey("raw", cek, "AES-GCM", false, ["decrypt"]);
    const padded = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce }, key, ciphertext));
    let end = padded.length - 1;
    while (end >= 0 && padded[end] === 0) end--;
    if (padded[end] !== 2) throw new Error("not the last record's delimiter");
    return new TextDecoder().decode(padded.slice(0, end));
  }
}

/** RFC 8292: `vapid t=<ES256 JWT>, k=<public key>`; the JWT's audience is the push service's origin. */
export async function verifyVapid(
  authorization: string,
  expected: { publicKey: string; audience: string; subject: string },
): Promise<void> {
  const match = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(authorization);
  if (!match) throw new Error(`not a VAPID authorization: ${authorization.slice(0, 20)}`);
  if (match[2] !== expected.publicKey) throw new Error("the VAPID key is not the server's");
  const raw = Buffer.from(match[2]!, "base64url");
  const key = await importJWK({ kty: "EC", crv: "P-256", x: b64(raw.subarray(1, 33)), y: b64(raw.subarray(33, 65)) }, "ES256");
  await jwtVerify(match[1]!, key, { audience: expected.audience, subject: expected.subject, algorithms: ["ES256"] });
}
