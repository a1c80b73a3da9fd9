/**
 * Blocked terms (BLOCKED_TERMS_FILE): a message or an edit containing one is refused or masked.
 * Matching is done on a normalised copy of the text, so that case, accents, compatibility forms
 * (full-width letters, ligatures) and invisible characters (zero-width spaces and joiners, soft
 * hyphens) do not get around it: "B̲A̲D̲", "ｂａｄ", "b\u200Bad" all contain "bad". A term matches anywhere,
 * inside words too (a term list is written with that in mind). Pure: no I/O.
 */

/** One code point as the filter compares it: compatibility-decomposed, without marks or format characters, lower case. */
function fold(codePoint: string): string {
  return codePoint
    .normalize("NFKD")
    .replace(/[\p{M}\p{Cf}]/gu, "")
    .toLowerCase();
}

/** The folded text, and for each of its UTF-16 units the original code point's start and end. */
function folded(text: string): { text: string; start: number[]; end: number[] } {
  let out = "";
  const start: number[] = [];
  const end: number[] = [];
  let at = 0;
  for (const cp of text) {
    const f = fold(cp);
    // A mark or an invisible character belongs to what precedes it: masked with it.
    if (f.length === 0 && end.length > 0) end[end.length - 1] = at + cp.length;
    for (let i = 0; i < f.length; i++) {
      start.push(at);
      end.push(at + cp.length);
    }
    out += f;
    at += cp.length;
  }
  return { text: out, start, end };
}

export type FilterVerdict = { blocked: false } | { blocked: true; masked: string };

export class TermFilter {
  private readonly terms: string[];

  constructor(terms: readonly string[]) {
    const folded = terms.map((t) => [...t.trim()].map(fold).join("")).filter((t) => t.length > 0);
    this.terms = [...new Set(folded)];
  }

  /** Reads a term list: one term a line, blank lines and lines starting with "#" ignored. */
  static parse(list: string): TermFilter {
    return new TermFilter(list.split(/\r?\n/).filter((line) => !line.trimStart().startsWith("#")));
  }

  get size(): number {
    return this.terms.length;
  }

  /** Whether the text contains a term, and the text with every occurrence replaced by one "*" per code point. */
  check(text: string): FilterVerdict {
    if (this.terms.length === 0) return { blocked: false };
    const f = folded(text);
    const spans: [number, number][] = [];
    for (const term of this.terms) {
      for (let i = f.text.indexOf(term); i >= 0; i = f.text.indexOf(term, i + 1)) {
        spans.push([f.start[i]!, f.end[i + term.length - 1]!]);
      }
    }
    if (spans.length === 0) return { blocked: false };
    return { blocked: true, masked: mask(text, spans) };
  }
}

function mask(text: string, spans: [number, number][]): string {
  const hidden = new Uint8Array(text.length);
  for (const [from, to] of spans) hidden.fill(1, from, to);
  let out = "";
  let at = 0;
  for (const cp of text) {
    out += hidden[at] ? "*" : cp;
    at += cp.length;
  }
  return out;
}
