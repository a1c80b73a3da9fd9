/** Blocked terms: matched on normalised text, so case, accents, compatibility forms and invisible characters do not get around them. */
import { describe, expect, test } from "bun:test";
import { TermFilter } from "../../src/chat/term-filter.ts";

const filter = TermFilter.parse("# the list\nscam\nÉvil plan\n\n   \ncrag-bait\n");

describe("TermFilter", () => {
  test("reads a list: one term a line, comments and blank lines ignored, duplicates once", () => {
    expect(filter.size).toBe(3);
    expect(TermFilter.parse("a\nA\n# a\n").size).toBe(1);
  });

  test("case, accents, full-width letters, zero-width characters and soft hyphens do not get around it", () => {
    for (const text of [
      "this is a SCAM",
      "Scám",
      "ｓｃａｍ",
      "s\u200Bc\u200Ca\u200Dm",
      "s\u00ADcam",
      "s\uFEFFcam",
      "S̲C̲A̲M̲",
      "an evil plan",
      "AN ÉVIL PLAN",
      "e\u0301vil plan",
      "crag-bait",
    ]) {
      expect({ text, blocked: filter.check(text).blocked }).toEqual({ text, blocked: true });
    }
  });

  test("text without a term passes untouched", () => {
    for (const text of ["see you at the crag", "sc am, s-c-a-m", "evil", "plan", "🧗‍♀️ 7 pm"]) {
      expect(filter.check(text)).toEqual({ blocked: false });
    }
    expect(new TermFilter([]).check("scam")).toEqual({ blocked: false });
  });

  test("a term matches inside words too (the list is written with that in mind)", () => {
    expect(filter.check("scampi").blocked).toBe(true);
  });

  test("masking replaces each code point of every occurrence (its marks and invisible characters too) with *", () => {
    expect(filter.check("a SCAM and a scam")).toEqual({ blocked: true, masked: "a **** and a ****" });
    expect(filter.check("s\u200Bcam!")).toEqual({ blocked: true, masked: "*****!" });
    expect(filter.check("🧗 S̲C̲A̲M̲ 🧗")).toEqual({ blocked: true, masked: "🧗 ******** 🧗" });
    expect(filter.check("ｓｃａｍ")).toEqual({ blocked: true, masked: "****" });
  });
});
