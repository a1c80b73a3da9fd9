/** How the demo shows names, times and days. */

/** "Alex (demo)" → "Alex". */
export const shortName = (name: string) => name.replace(/\s*\(demo\)\s*$/i, "");

export const initialOf = (name: string) => (shortName(name).trim()[0] ?? "?").toUpperCase();

/** Hues that stay apart from each other and from the accent colour. */
const AVATAR_HUES = [250, 165, 22, 330, 200, 285, 15, 140];

/** A stable hue per user (FNV-1a of the id), so each avatar keeps its colour. */
export function hueOf(id: string): number {
  let hash = 0x811c9dc5;
  for (const c of id) hash = Math.imul(hash ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return AVATAR_HUES[hash % AVATAR_HUES.length]!;
}

export const timeOf = (d: Date) => d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

export function dayOf(d: Date, now = new Date()): string {
  const startOf = (x: Date) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const days = Math.round((startOf(now) - startOf(d)) / 86_400_000);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  return d.toLocaleDateString([], {
    weekday: "long",
    day: "numeric",
    month: "long",
    ...(d.getFullYear() !== now.getFullYear() ? { year: "numeric" } : {}),
  });
}

export const sameDay = (a: Date, b: Date) => a.toDateString() === b.toDateString();
