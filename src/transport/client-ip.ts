/**
 * The address a request comes from, for per-IP limits. Behind a proxy every request comes from the
 * proxy: with TRUST_PROXY listing it, the client is the rightmost X-Forwarded-For entry that is not
 * itself a trusted proxy (entries further left are whatever the client wrote, never believed).
 */
import { ipv4, type TrustedProxies } from "../config/trusted-proxies.ts";

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

/**
 * The key of a client's per-IP limit: an IPv4 address, or an IPv6 address's /64. One subscriber gets
 * a whole /64 (2^64 addresses): keyed by full address, a single client could fill the limiter's keys
 * and push everyone else's buckets out.
 */
export function ipLimitKey(ip: string): string {
  const groups = ip.includes(":") ? ipv6Groups(ip) : null;
  return groups ? `${groups.slice(0, 4).join(":")}::/64` : ip;
}

/** The eight groups of an IPv6 address (hex, without leading zeros); null when it is not one. */
function ipv6Groups(ip: string): string[] | null {
  const address = ip.split("%")[0]!.toLowerCase(); // a zone ("%eth0") is not part of the address
  const halves = address.split("::");
  if (halves.length > 2) return null;
  const parse = (part: string | undefined) => (part ? part.split(":") : []);
  const [head, tail] = [parse(halves[0]), parse(halves[1])];
  const last = tail.length > 0 ? tail : head;
  if (last.length > 0 && ipv4(last[last.length - 1]!) !== null) last.splice(-1, 1, "0", "0"); // a dotted IPv4 tail is two groups
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return null;
  return groups.map((g) => parseInt(g, 16).toString(16));
}
