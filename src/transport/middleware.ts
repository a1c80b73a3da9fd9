/**
 * The HTTP path as a chain, in the manner of Hono's middleware: each step answers itself (a refusal)
 * or calls `next()` for the rest of the chain, and may add to the request's context on the way.
 */
export type Middleware<C> = (ctx: C, next: () => Promise<Response>) => Promise<Response>;

export function chain<C>(steps: readonly Middleware<C>[], handler: (ctx: C) => Promise<Response>): (ctx: C) => Promise<Response> {
  return (ctx) => {
    const run = (i: number): Promise<Response> => (i < steps.length ? steps[i]!(ctx, () => run(i + 1)) : handler(ctx));
    return run(0);
  };
}
