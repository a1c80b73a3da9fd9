/** The HTTP chain: steps run in order, each may answer and stop the rest, and the context travels along. */
import { expect, test } from "bun:test";
import { chain, type Middleware } from "../../src/transport/middleware.ts";

type Ctx = { seen: string[]; user: string | null };

test("steps run in order around the handler; one that answers stops the rest", async () => {
  const step =
    (name: string): Middleware<Ctx> =>
    async (ctx, next) => {
      ctx.seen.push(`${name} in`);
      const res = await next();
      ctx.seen.push(`${name} out`);
      return res;
    };
  const auth: Middleware<Ctx> = async (ctx, next) => {
    if (!ctx.user) return new Response("no", { status: 401 });
    return next();
  };
  const handler = chain<Ctx>([step("ip"), auth, step("slot")], async (ctx) => new Response(`hello ${ctx.user}`));

  const ok: Ctx = { seen: [], user: "sam" };
  expect(await (await handler(ok)).text()).toBe("hello sam");
  expect(ok.seen).toEqual(["ip in", "slot in", "slot out", "ip out"]);

  const refused: Ctx = { seen: [], user: null };
  expect((await handler(refused)).status).toBe(401);
  expect(refused.seen).toEqual(["ip in", "ip out"]);
});
