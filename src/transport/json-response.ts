/** API answers are JSON and never cached (they are per user). */
export const json = (status: number, body: unknown) => Response.json(body, { status, headers: { "cache-control": "no-store" } });
