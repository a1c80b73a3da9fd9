/**
 * A user's blocks: `PUT /api/blocks/<user>` blocks, `DELETE /api/blocks/<user>` lifts it, `GET
 * /api/blocks` lists them (the caller's own only).
 */
import type { Caller, ChatApi } from "../chat/chat-api.ts";
import { json } from "./json-response.ts";
import { sessionIdPattern } from "./upgrade.ts";

export const BLOCKS_PATH = /^\/api\/blocks\/?$/;
export const BLOCK_PATH = new RegExp(`^/api/blocks/(${sessionIdPattern})/?$`, "i");

export async function block(chat: ChatApi, caller: Caller, userId: string): Promise<Response> {
  const result = await chat.block(caller, userId.toLowerCase());
  if (result === "self") return json(400, { error: "you cannot block yourself" });
  if (result === "no_user") return json(404, { error: "no such user" });
  return json(200, { blocked: true });
}

export async function unblock(chat: ChatApi, caller: Caller, userId: string): Promise<Response> {
  return json(200, { unblocked: await chat.unblock(caller, userId.toLowerCase()) });
}

export async function blocks(chat: ChatApi, caller: Caller): Promise<Response> {
  return json(200, { blocks: await chat.blocks(caller) });
}
