/**
 * A PostgreSQL array literal, sent as text and cast in SQL (`${pgArray(ids)}::uuid[]`). postgres.js'
 * own `sql.array()` needs the server's array types, which it fetches only after its first
 * connection: a fresh instance's very first query would otherwise send the array as a plain value.
 */
export function pgArray(values: readonly (string | null)[]): string {
  return `{${values.map((v) => (v === null ? "NULL" : `"${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`)).join(",")}}`;
}
