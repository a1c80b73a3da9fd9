/** REDIS_KEY_PREFIX's names: a deployment's channels and presence keys, and only its own channels routed. */
import { expect, test } from "bun:test";
import { RedisNames } from "../../src/bus/redis-names.ts";

test("channels and presence keys under the prefix; another deployment's channel is not routed", () => {
  const names = new RedisNames("staging");
  expect(names.channelOf("s1")).toBe("staging:{s1}");
  expect(names.inboxChannelOf("u1")).toBe("staging:inbox:{u1}");
  expect(names.presenceKeys("s1")).toEqual(["staging:presence:{s1}", "staging:presence:{s1}:state"]);
  expect(names.routeOf("staging:{s1}")).toEqual({ sessionId: "s1" });
  expect(names.routeOf("staging:inbox:{u1}")).toEqual({ userId: "u1" });
  expect(names.routeOf("chat:{s1}")).toBeNull();
  expect(new RedisNames().channelOf("s1")).toBe("chat:{s1}");
});
