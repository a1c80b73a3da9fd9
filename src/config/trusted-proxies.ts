/** TRUST_PROXY: the proxies whose X-Forwarded-For is believed (transport/client-ip.ts reads it). */

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

/** An IPv4 address as a number; null when `text` is not one. */
export function ipv4(text: string): number | null {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return parts.reduce((n, p) => ((n << 8) | Number(p)) >>> 0, 0);
}
