/**
 * Fuzzing a live server: random bytes, random and mutated JSON, huge and deeply nested JSON, wrong
 * types in every field of every frame, unicode edge cases, prototype-pollution keys, broken WebSocket
 * framing over raw TCP, and a flood of opens and closes. Every frame must get the error frame an
 * independent oracle predicts (or the close code the protocol prescribes), nothing may be stored, and
 * the server must keep serving. The random input comes from a seeded PRNG: the seed is printed, and
 * FUZZ_SEED=<seed> replays a run exactly.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  Client,
  createPair,
  createUser,
  db,
  join,
  RawSocket,
  sessionUrl,
  settle,
  useServers,
  type Frame,
  type Pair,
  type TestUser,
  joinBoth,
  waitFor,
} from "./helpers.ts";
import type { App } from "../src/app.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 20260113);
console.log(`[fuzz] seed ${SEED} (replay with FUZZ_SEED=${SEED})`);

/** mulberry32, one stream per test (seeded from SEED and the test's label) so each test replays alone. */
function prng(label: string) {
  let a = SEED ^ [...label].reduce((h, ch) => Math.imul(h ^ ch.charCodeAt(0), 16777619), 2166136261);
  const next = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
  const uuid = () => "xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx".replace(/x/g, () => int(16).toString(16));
  return { next, int, pick, bytes, uuid };
}

const LIMIT = 256 * 1024; // MAX_FRAME_BYTES here: room for 100,000 levels of nesting
const servers = useServers();
let app: App;
let garbage: Pair; // every bad frame goes to this session: it must end with no message stored
let observer: Client; // the other participant of that session: must see no message and no typing

beforeAll(async () => {
  app = await servers.start({}, { MAX_FRAME_BYTES: String(LIMIT), MAX_CONNECTIONS_PER_USER: "1000" });
  garbage = await createPair();
  observer = await join(app, garbage.sessionId, garbage.invitee.token);
});
afterAll(() => observer?.ws.close());

type Expected = { code: string; field?: string; client_id?: string };
const count = (frames: Frame[], type: string) => frames.filter((f) => f.type === type).length;

async function metric(series: string): Promise<number> {
  const text = await (await fetch(`${app.httpUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** Sends the frames on a fresh socket of the garbage session; each must get exactly the expected error. */
async function expectErrors(frames: (string | Uint8Array<ArrayBuffer>)[], expected: Expected[]): Promise<void> {
  expect(frames.length).toBe(expected.length);
  const c = await join(app, garbage.sessionId, garbage.inviter.token);
  for (const f of frames) c.ws.send(f);
  await c.until((fs) => count(fs, "error") >= frames.length, `${frames.length} error frames`, 15_000);
  await settle();
  const errors = c.of("error");
  expect(errors).toHaveLength(frames.length);
  errors.forEach((e, i) => {
    const got = { code: e.code, field: e.field, client_id: e.client_id };
    const frame = typeof frames[i] === "string" ? (frames[i] as string).slice(0, 300) : `<${frames[i]!.length} binary bytes>`;
    expect({ frame, got }).toEqual({ frame, got: { field: undefined, client_id: undefined, ...expected[i]! } });
    expect(typeof e.error).toBe("string");
  });
  expect(count(c.frames, "message")).toBe(0);
  expect(c.ws.readyState).toBe(WebSocket.OPEN);
  await c.close();
}

/**
 * The oracle for frames that are not one of the four known types, written from docs/protocol.md's error
 * table rather than from the server's code. Null: a known type, left to the field-by-field tests.
 */
function predict(sent: string): Expected | null {
  const text = new TextDecoder().decode(new TextEncoder().encode(sent)); // what goes on the wire (lone surrogates become U+FFFD)
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { code: "invalid_json" };
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) return { code: "invalid_frame" };
  const { type, client_id } = data as { type?: unknown; client_id?: unknown };
  const echo = typeof client_id === "string" && client_id.length <= 64 ? { client_id } : {};
  if (typeof type !== "string") return { code: "invalid_frame", ...echo };
  if (["message", "typing", "read", "auth"].includes(type)) return null;
  return { code: "unknown_type", ...echo };
}

describe("random input", () => {
  test("random bytes as binary frames each get binary_frame", async () => {
    const r = prng("binary");
    const frames = Array.from({ length: 150 }, () => r.bytes(r.pick([0, 1, 2, 16, 100, 1000, 5000])));
    await expectErrors(
      frames,
      frames.map(() => ({ code: "binary_frame" })),
    );
  }, 20_000);

  test("random text, random JSON and mutated valid frames get the error the oracle predicts", async () => {
    const r = prng("text");
    const pool = [
      ...'{}[]":,.-+eE0123456789 \t\n\\/abcnulltruefalsetypemessagecontent',
      "é",
      "🧗",
      "\u0000",
      "\u2028",
      "\ud800",
      "\udfff",
      "\ufeff",
      "\\u0000",
      "\\ud800",
      '"type"',
      '"message"',
      '"__proto__"',
    ];
    const randomText = () => Array.from({ length: r.int(60) }, () => r.pick(pool)).join("");
    const randomBytesAsText = () => new TextDecoder().decode(r.bytes(r.int(200))); // invalid sequences become U+FFFD
    const randomValue = (depth: number): unknown => {
      const kind = r.int(depth > 3 ? 5 : 8);
      if (kind === 0) return null;
      if (kind === 1) return r.next() < 0.5;
      if (kind === 2) return r.pick([0, -1, 1.5, 2 ** 53, 1e308, -0]);
      if (kind === 3 || kind === 4)
        return r.pick(["", "message", "typing", "read", "auth", "shout", "__proto__", "constructor", "🧗", r.uuid()]);
      if (kind === 5) return Array.from({ length: r.int(4) }, () => randomValue(depth + 1));
      return Object.fromEntries(
        Array.from({ length: r.int(5) }, () => [
          r.pick(["type", "content", "client_id", "is_typing", "seq", "token", "x", "__proto__"]),
          randomValue(depth + 1),
        ]),
      );
    };
    const templates = [
      JSON.stringify({ type: "message", content: "Let's climb tomorrow!", client_id: "6f1c2a9b-8e7d-4c3b-a1f0-e9d8c7b6a594" }),
      JSON.stringify({ type: "typing", is_typing: true }),
      JSON.stringify({ type: "read", seq: 42 }),
      JSON.stringify({ type: "auth", token: "eyJhbGciOiJIUzI1NiJ9.e30.c2ln" }),
    ];
    const mutate = (s: string) => {
      for (let n = 1 + r.int(4); n > 0; n--) {
        const i = r.int(s.length + 1);
        const op = r.int(5);
        if (op === 0) s = s.slice(0, i) + s.slice(i + 1);
        else if (op === 1) s = s.slice(0, i) + r.pick(pool) + s.slice(i);
        else if (op === 2) s = s.slice(0, i) + r.pick(pool) + s.slice(i + 1);
        else if (op === 3) s = s.slice(0, i);
        else s = s.slice(0, i) + s.slice(r.int(s.length), r.int(s.length)) + s.slice(i);
      }
      return s;
    };
    const makers = [randomText, randomBytesAsText, () => JSON.stringify(randomValue(0)) ?? "", () => mutate(r.pick(templates))];
    const frames: string[] = [];
    const expected: Expected[] = [];
    for (let attempts = 0; frames.length < 800 && attempts < 5000; attempts++) {
      const frame = r.pick(makers)();
      const prediction = predict(frame);
      if (!prediction) continue;
      frames.push(frame);
      expected.push(prediction);
    }
    expect(frames.length).toBe(800);
    await expectErrors(frames, expected);
  }, 20_000);
});

describe("huge and deep JSON", () => {
  /** `head` + `fill` repeated + `tail`, exactly `bytes` long (fill is one ASCII byte). */
  const sized = (bytes: number, head: string, fill: string, tail: string) => head + fill.repeat(bytes - head.length - tail.length) + tail;

  test("frames just under and at the frame limit get field errors, not a crash", async () => {
    const uuid = crypto.randomUUID();
    const manyKeys = (() => {
      let s = '{"type":"shout"';
      for (let i = 0; s.length < LIMIT - 40; i++) s += `,"k${i}":${i}`;
      return s + "}";
    })();
    const cases: [string, Expected][] = [
      [sized(LIMIT, '{"type":"message","content":"', "a", '"}'), { code: "content_too_long", field: "content" }],
      [
        sized(LIMIT - 1, `{"type":"message","client_id":"${uuid}","content":"`, "b", '"}'),
        { code: "content_too_long", field: "content", client_id: uuid },
      ],
      [sized(LIMIT, '{"type":"message","content":"hi","client_id":"', "c", '"}'), { code: "invalid_field", field: "client_id" }],
      [sized(LIMIT, '{"type":"typing","is_typing":"', "d", '"}'), { code: "invalid_field", field: "is_typing" }],
      [sized(LIMIT, '{"type":"auth","token":"', "e", '"}'), { code: "invalid_field", field: "token" }],
      [sized(LIMIT, '{"type":"read","seq":1', "0", "}"), { code: "invalid_field", field: "seq" }], // 1e262140: not a safe integer
      ["[" + "0,".repeat((LIMIT - 4) / 2) + "0]", { code: "invalid_frame" }],
      ['"' + "\\n".repeat((LIMIT - 2) / 2) + '"', { code: "invalid_frame" }], // one long JSON string of escapes
      [sized(LIMIT, '{"type":"message","content":"', "x", ""), { code: "invalid_json" }], // never closed
      [manyKeys, { code: "unknown_type" }],
    ];
    for (const [frame] of cases) expect(Buffer.byteLength(frame)).toBeLessThanOrEqual(LIMIT);
    await expectErrors(
      cases.map(([f]) => f),
      cases.map(([, e]) => e),
    );
  }, 20_000);

  test("one byte over the limit closes that socket with 1009, and only that one", async () => {
    const c = await join(app, garbage.sessionId, garbage.inviter.token);
    c.send(sized(LIMIT + 1, '{"type":"message","content":"', "a", '"}'));
    expect((await c.closed).code).toBe(1009);
    expect(observer.ws.readyState).toBe(WebSocket.OPEN);
  }, 10_000);

  test("100,000 levels of nesting are answered like any other bad frame", async () => {
    const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
    const deepObject = (n: number) => '{"a":'.repeat(n) + "1" + "}".repeat(n);
    const cases: [string, Expected][] = [
      ["[".repeat(100_000), { code: "invalid_json" }],
      [deep(100_000), { code: "invalid_frame" }],
      [deepObject(40_000), { code: "invalid_frame" }],
      [`{"type":${deep(100_000)}}`, { code: "invalid_frame" }],
      [`{"type":"message","content":${deep(100_000)}}`, { code: "invalid_field", field: "content" }],
      [`{"type":"read","seq":${deepObject(40_000)}}`, { code: "invalid_field", field: "seq" }],
      [`{"type":"typing","is_typing":"no","x":${deep(100_000)}}`, { code: "invalid_field", field: "is_typing" }],
    ];
    await expectErrors(
      cases.map(([f]) => f),
      cases.map(([, e]) => e),
    );
  }, 20_000);
});

describe("valid-looking frames with wrong fields", () => {
  test("every field of every frame type, missing or of a wrong type, gets invalid_field naming it (client_id echoed)", async () => {
    const wrong = {
      string: [0, -1, 1.5, 1e308, true, false, null, [], ["x"], {}, { a: "x" }],
      boolean: [0, 1, "true", "false", "", null, [], [true], {}, { value: true }],
      integer: ["1", "", true, false, null, [], [1], {}, { n: 1 }, -1, 1.5, -0.5, 2 ** 53, 1e308],
    };
    const fields: { type: string; field: string; kind: keyof typeof wrong; base: object; alsoWrong?: unknown[] }[] = [
      { type: "message", field: "content", kind: "string", base: {} },
      {
        type: "message",
        field: "client_id",
        kind: "string",
        base: { content: "valid content" },
        alsoWrong: ["not-a-uuid", "", crypto.randomUUID() + "0"],
      },
      { type: "typing", field: "is_typing", kind: "boolean", base: {} },
      { type: "read", field: "seq", kind: "integer", base: {} },
      { type: "auth", field: "token", kind: "string", base: {}, alsoWrong: ["", "t".repeat(8193)] },
    ];
    const frames: string[] = [];
    const expected: Expected[] = [];
    for (const { type, field, kind, base, alsoWrong = [] } of fields) {
      const echo = field === "client_id" ? null : crypto.randomUUID();
      const required = field !== "client_id";
      const values = [...(required ? [undefined] : []), ...wrong[kind], ...alsoWrong]; // undefined: the field is missing
      for (const value of values) {
        frames.push(JSON.stringify({ type, ...base, ...(echo ? { client_id: echo } : {}), [field]: value }));
        const echoed = echo ?? (typeof value === "string" && value.length <= 64 ? value : undefined);
        expected.push({ code: "invalid_field", field, ...(echoed !== undefined ? { client_id: echoed } : {}) });
      }
    }
    // The frame itself of the wrong shape.
    for (const type of [1, true, null, [], {}, ["message"]]) {
      frames.push(JSON.stringify({ type, content: "hi" }));
      expected.push({ code: "invalid_frame" });
    }
    await expectErrors(frames, expected);
  }, 20_000);

  test("unicode edge cases that cannot be a message get stable codes", async () => {
    const cases: [unknown, Expected][] = [
      [{ type: "ｍｅｓｓａｇｅ", content: "fullwidth" }, { code: "unknown_type" }],
      [{ type: "mеssage", content: "cyrillic e" }, { code: "unknown_type" }],
      [{ type: "message\u0000", content: "nul in type" }, { code: "unknown_type" }],
      [{ type: "message\u200b", content: "zero-width space in type" }, { code: "unknown_type" }],
      [{ type: "MESSAGE", content: "upper case" }, { code: "unknown_type" }],
      [{ typе: "message", content: "cyrillic e in the key" }, { code: "invalid_frame" }],
      [
        { type: "message", content: "\u00a0\u1680\u2000\u2003\u200a\u2028\u2029\u202f\u205f\u3000\ufeff" },
        { code: "empty_content", field: "content" },
      ],
      [
        { type: "message", content: "\udc00" },
        { code: "invalid_content", field: "content" },
      ],
      [
        { type: "message", content: "ok\ud83d" },
        { code: "invalid_content", field: "content" },
      ],
      [
        { type: "message", content: "\ud83d\ud83d" },
        { code: "invalid_content", field: "content" },
      ],
      [
        { type: "message", content: "a\u0000b" },
        { code: "invalid_content", field: "content" },
      ],
      [
        { type: "message", content: "bell\u0007" },
        { code: "invalid_content", field: "content" },
      ],
      [
        { type: "message", content: "\u001b[31mescape" },
        { code: "invalid_content", field: "content" },
      ],
      [
        { type: "message", content: "🧗".repeat(2001) },
        { code: "content_too_long", field: "content" },
      ],
      [
        { type: "message", content: "e\u0301".repeat(1001) },
        { code: "content_too_long", field: "content" },
      ],
      [
        { type: "message", content: "🧗".repeat(2000) + "\u0301" },
        { code: "content_too_long", field: "content" },
      ],
    ];
    // JSON.stringify keeps lone surrogates as \uXXXX escapes, so they reach the server as sent.
    await expectErrors(
      cases.map(([f]) => JSON.stringify(f)),
      cases.map(([, e]) => e),
    );
  }, 20_000);

  test("unicode edge cases that are valid messages are stored and delivered exactly as sent", async () => {
    const pair = await createPair();
    const { a, b } = await joinBoth(app, pair);
    const contents = [
      "🧗‍♀️🏳️‍🌈🇫🇷👍🏽",
      "\u202eright-to-left override\u202c",
      "e\u0301 is not normalised to é",
      "\u{10ffff}\uffff\ufffe noncharacters",
      "\u200b",
      "\ufeffBOM first",
      "line\u2028separator",
      "\ttab,\r\nline breaks and \u007f DEL",
      "🧗".repeat(2000),
      "e\u0301".repeat(1000),
    ];
    for (const content of contents) a.send({ type: "message", content });
    await b.until((f) => count(f, "message") === contents.length, "all unicode messages");
    expect(b.of("message").map((m) => m.content)).toEqual(contents);
    const rows = await db`SELECT content FROM messages WHERE session_id = ${pair.sessionId} ORDER BY seq`;
    expect(rows.map((row) => row.content)).toEqual(contents);
    await Promise.all([a.close(), b.close()]);
  }, 15_000);

  test("prototype-pollution keys neither supply fields nor pollute the server's prototypes", async () => {
    const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort();
    const uuid = crypto.randomUUID();
    const cases: [string, Expected][] = [
      ['{"type":"message","__proto__":{"content":"from the prototype"}}', { code: "invalid_field", field: "content" }],
      ['{"type":"typing","__proto__":{"is_typing":true}}', { code: "invalid_field", field: "is_typing" }],
      ['{"type":"read","__proto__":{"seq":1}}', { code: "invalid_field", field: "seq" }],
      ['{"type":"auth","__proto__":{"token":"x"}}', { code: "invalid_field", field: "token" }],
      ['{"__proto__":{"type":"message","content":"x"}}', { code: "invalid_frame" }],
      ['{"constructor":{"prototype":{"type":"message"}},"content":"x"}', { code: "invalid_frame" }],
      [`{"type":"message","content":"","__proto__":{"client_id":"${uuid}"}}`, { code: "empty_content", field: "content" }],
      ['{"type":"message","content":{"__proto__":{"length":1}}}', { code: "invalid_field", field: "content" }],
      [
        '{"type":"message","content":" ","__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}',
        { code: "empty_content", field: "content" },
      ],
      ...["__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "valueOf", "__defineGetter__"].map(
        (type): [string, Expected] => [JSON.stringify({ type, content: "x" }), { code: "unknown_type" }],
      ),
    ];
    await expectErrors(
      cases.map(([f]) => f),
      cases.map(([, e]) => e),
    );
    // The server runs in this process: its prototypes are ours.
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeKeys);
    const probe = {} as Record<string, unknown>;
    expect([probe.polluted, probe.content, probe.type, probe.is_typing, probe.seq, probe.token]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  }, 15_000);
});

describe("broken WebSocket framing over raw TCP", () => {
  // What Bun (uWS) answers, measured: a close frame with the protocol's code, then the TCP close.
  const cases: [string, (raw: RawSocket) => void, number][] = [
    ["a text frame with invalid UTF-8", (raw) => raw.send(1, Uint8Array.from([0x7b, 0xc3, 0x28, 0x7d])), 1007],
    ["a lone continuation byte", (raw) => raw.send(1, Uint8Array.from([0x61, 0x80])), 1007],
    ["an overlong encoding", (raw) => raw.send(1, Uint8Array.from([0xc0, 0xaf])), 1007],
    ["a UTF-8-encoded surrogate", (raw) => raw.send(1, Uint8Array.from([0xed, 0xa0, 0x80])), 1007],
    ["a byte that is never UTF-8", (raw) => raw.send(1, Uint8Array.from([0x22, 0xff, 0x22])), 1007],
    ["a truncated 4-byte sequence", (raw) => raw.send(1, Uint8Array.from([0xf0, 0x9f, 0x8e])), 1007],
    [
      "invalid UTF-8 split over fragments",
      (raw) => {
        raw.send(1, Uint8Array.from([0x61, 0xe2]), { fin: false });
        raw.send(0, Uint8Array.from([0x28, 0xa1]));
      },
      1007,
    ],
    ["an unmasked client frame", (raw) => raw.send(1, new TextEncoder().encode("{}"), { mask: false }), 1002],
    ["a reserved opcode", (raw) => raw.send(3, Uint8Array.from([1])), 1002],
    ["a control frame over 125 bytes", (raw) => raw.send(9, new Uint8Array(200)), 1002],
    ["a continuation with nothing to continue", (raw) => raw.send(0, Uint8Array.from([0x61])), 1002],
    ["a close frame with an invalid code", (raw) => raw.send(8, Uint8Array.from([0x03, 0xe7])), 1002],
  ];

  test.each(cases)(
    "%s closes that connection with the right code; the server carries on",
    async (_name, misbehave, code) => {
      const raw = await RawSocket.open(sessionUrl(app, garbage.sessionId, garbage.inviter.token));
      misbehave(raw);
      await Promise.race([raw.ended, Bun.sleep(3000)]);
      expect(raw.closeFrame?.code).toBe(code);
      expect(raw.socket.destroyed).toBe(true);
      expect(raw.frames.filter((f) => f.opcode === 1).every((f) => !f.payload.toString().includes('"type":"message"'))).toBe(true);
      expect((await fetch(`${app.httpUrl}/healthz`)).status).toBe(200);
    },
    10_000,
  );
});

describe("a flood of opens and closes", () => {
  test("300 connections of every kind, opened and closed fast, leave no socket or room behind", async () => {
    const r = prng("flood");
    const flood = await createPair();
    const stranger: TestUser = await createUser("Stranger");
    const socketsBefore = await metric("chat_open_sockets");
    const roomsBefore = await metric("chat_rooms");
    const url = (token?: string) => sessionUrl(app, flood.sessionId, token);
    const within = <T>(p: Promise<T>, what: string, ms = 8000) =>
      Promise.race([p, Bun.sleep(ms).then(() => Promise.reject(new Error(`flood: ${what} did not finish within ${ms} ms`)))]);
    const closedWith = async (c: Client) => (await within(c.closed, "a refused socket")).code;

    const kinds: Record<string, () => Promise<void>> = {
      "valid, closed after joining": async () => {
        const c = new Client(url(r.next() < 0.5 ? flood.inviter.token : flood.invitee.token));
        await within(c.next("presence"), "a join");
        await within(c.close(), "a close");
      },
      "valid, closed before the open completes": async () => {
        const c = new Client(url(flood.inviter.token));
        c.opened.catch(() => {});
        c.ws.close();
        await within(c.closed, "an aborted open");
      },
      "bad token": async () => expect(await closedWith(new Client(url(`garbage.${r.int(1e9)}`)))).toBe(4003),
      "no token": async () => expect(await closedWith(new Client(url()))).toBe(4001),
      "not a participant": async () => expect(await closedWith(new Client(url(stranger.token)))).toBe(4004),
      "raw TCP, gone before the handshake answer": async () => {
        const raw = await RawSocket.open(url(flood.invitee.token), { handshake: false });
        raw.destroy();
        await within(raw.ended, "a raw abort");
      },
      "raw TCP, gone after the handshake without a close frame": async () => {
        const raw = await within(RawSocket.open(url(flood.invitee.token)), "a raw handshake");
        raw.destroy();
        await within(raw.ended, "a raw drop");
      },
    };
    const names = Object.keys(kinds);
    const tally: Record<string, number> = {};
    for (let wave = 0; wave < 6; wave++) {
      const batch = Array.from({ length: 50 }, () => r.pick(names));
      for (const name of batch) tally[name] = (tally[name] ?? 0) + 1;
      await Promise.all(batch.map((name) => kinds[name]!()));
    }
    console.log(`[fuzz] flood: ${JSON.stringify(tally)}`);
    await waitFor(
      "every flood socket to be gone",
      async () => (await metric("chat_open_sockets")) === socketsBefore && (await metric("chat_rooms")) === roomsBefore,
    );

    // The users of the flood can still join and chat.
    const a = await join(app, flood.sessionId, flood.inviter.token);
    const b = await join(app, flood.sessionId, flood.invitee.token);
    a.send({ type: "message", content: "after the flood" });
    expect((await b.next("message")).content).toBe("after the flood");
    await Promise.all([a.close(), b.close()]);
  }, 25_000);
});

describe("afterwards", () => {
  test("the server is healthy, a normal pair chats, the garbage stored nothing and nothing failed inside", async () => {
    expect((await fetch(`${app.httpUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${app.httpUrl}/readyz`);
    expect(ready.status).toBe(200);

    const pair = await createPair();
    const { a, b } = await joinBoth(app, pair);
    const clientId = crypto.randomUUID();
    a.send({ type: "message", content: "Still standing?", client_id: clientId });
    const got = await b.next("message");
    await a.next("message");
    await settle(300);
    expect(b.of("message")).toHaveLength(1);
    expect(a.of("message")).toEqual([got]);
    expect(got).toMatchObject({
      type: "message",
      content: "Still standing?",
      client_id: clientId,
      sender_id: pair.inviter.id,
      sender_name: pair.inviter.name,
      session_id: pair.sessionId,
      seq: 1,
    });
    expect(got.message_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(got.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    await Promise.all([a.close(), b.close()]);

    const [rows] = await db`SELECT count(*)::int AS n FROM messages WHERE session_id = ${garbage.sessionId}`;
    expect(rows!.n).toBe(0);
    expect(observer.ws.readyState).toBe(WebSocket.OPEN);
    expect(count(observer.frames, "message")).toBe(0);
    expect(count(observer.frames, "typing")).toBe(0);
    expect(await metric('chat_frame_errors_total{code="internal_error"}')).toBe(0);
  }, 15_000);
});
