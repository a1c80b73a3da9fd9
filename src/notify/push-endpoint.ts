/**
 * What a Web Push subscription must be before the server will POST to it: an endpoint on a known
 * push service (https, its default port, no credentials), and a browser key that is a point of the
 * P-256 curve (an off-curve key makes the encryption throw at every delivery).
 */

/**
 * https without credentials in the URL, on an allowed host or one of its subdomains and the default
 * port; an allowed entry written `host:port` allows exactly that host and port (a push service of
 * one's own on another port).
 */
export function endpointAllowed(endpoint: string, hosts: readonly string[]): boolean {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return false;
  }
  if (url.protocol !== "https:" || url.username || url.password) return false;
  const host = url.hostname.toLowerCase();
  // URL drops a port that is the scheme's default: any port left is another service on that host.
  if (url.port !== "") return hosts.includes(`${host}:${url.port}`);
  return hosts.some((h) => host === h || host.endsWith(`.${h}`));
}

// NIST P-256 (secp256r1): y² = x³ − 3x + b over the prime field p.
const P = 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;

/** An uncompressed point (0x04 ‖ x ‖ y, 65 bytes) that lies on the curve. */
export function isP256Point(bytes: Uint8Array): boolean {
  if (bytes.length !== 65 || bytes[0] !== 4) return false;
  const x = toBigInt(bytes.subarray(1, 33));
  const y = toBigInt(bytes.subarray(33, 65));
  if (x >= P || y >= P) return false;
  return (y * y) % P === (((x * x * x - 3n * x + B) % P) + P) % P;
}

function toBigInt(bytes: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(bytes).toString("hex")}`);
}
