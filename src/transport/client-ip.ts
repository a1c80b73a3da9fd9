/**
 * The address a request comes from, for per-IP limits. Behind a proxy every request comes from the
 * proxy: with TRUST_PROXY listing it, the client is the rightmost X-Forwarded-For entry that is not
 * itself a trusted proxy (entries further left are whatever the client wrote, never believed).
 */

/** IPv4 addresses and CIDR ranges, and exact IPv6 addresses. */
export type TrustedProxies = { v4: { base: number; mask: number }[]; exact: Set<string> };

export function parseTrustedProxies(entries: string[]): TrustedProxies | string {
  const trusted: TrustedProxies = { v4: [], exact: new Set() };
  for (const entry of entries) {
    const [address, bits] = entry.split("/");
    const v4 = ipv4(address!);
    if (v4 !== null) {
      const prefix = bits === undefined ? 32 : Number(bits);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) return `TRUST_PROXY: bad prefix in ${entry}`;
      const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
      trusted.v4.push({ base: (v4 & mask) >>> 0, mask });
    } else if (bits === undefined && address!.includes(":")) {
      trusted.exact.add(address!.toLowerCase());
    } else {
      return `TRUST_PROXY: ${entry} is not an IPv4 address or range, or an IPv6 address`;
    }
  }
  return trusted;
}

export function clientIp(peer: string, forwardedFor: string | null, trusted: TrustedProxies | null): string {
  let ip = normalize(peer);
  if (!trusted || !isTrusted(ip, trusted) || !forwardedFor) return ip;
  const hops = forwardedFor
    .split(",")
    .map((h) => normalize(h.trim()))
    .filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    ip = hops[i]!;
    if (!isTrusted(ip, trusted)) return ip;
  }
  return ip;
}

function isTrusted(ip: string, trusted: TrustedProxies): boolean {
  const v4 = ipv4(ip);
  if (v4 !== null) return trusted.v4.some(({ base, mask }) => (v4 & mask) >>> 0 === base);
  return trusted.exact.has(ip);
}

/** "::ffff:1.2.3.4" is the IPv4 client 1.2.3.4. */
function normalize(ip: string): string {
  const lower = ip.toLowerCase();
  return lower.startsWith("::ffff:") && ipv4(lower.slice(7)) !== null ? lower.slice(7) : lower;
}

function ipv4(text: string): number | null {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return parts.reduce((n, p) => ((n << 8) | Number(p)) >>> 0, 0);
}
