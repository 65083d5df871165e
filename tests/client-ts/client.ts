// A client written only against the types openapi-typescript generates from
// the live /openapi.json: if the spec and the server disagree, this either
// fails to type-check or fails when it runs. It creates a room, sends a
// message and reads it back from history.
import type { components, paths } from "./gen/schema.js";

type Room = components["schemas"]["api.Room"];
type CreateRoom = paths["/rooms"]["post"]["requestBody"]["content"]["application/json"];
type Send = paths["/rooms/{room}/messages"]["post"]["requestBody"]["content"]["application/json"];
type Sent = paths["/rooms/{room}/messages"]["post"]["responses"][201]["content"]["application/json"];
type History = paths["/rooms/{room}/messages"]["get"]["responses"][200]["content"]["application/json"];
// Problems are described as application/problem+json: this would not compile otherwise.
type NotFound = paths["/rooms/{room}"]["get"]["responses"][404]["content"]["application/problem+json"];

// Only what this script needs of Node, so that it needs no @types/node.
declare const process: { env: Record<string, string | undefined>; exit(code: number): never };

const base = `${process.env.CHAT_URL}/api/v1`;
const token = process.env.CHAT_TOKEN ?? "";
const roomID = process.env.CHAT_ROOM ?? "ts-client";

async function call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; type: string; body: T }> {
  const r = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: r.status, type: r.headers.get("Content-Type") ?? "", body: (await r.json()) as T };
}

function check(ok: boolean, what: string, got?: unknown): void {
  if (!ok) {
    console.error(`FAIL: ${what}`, got === undefined ? "" : JSON.stringify(got));
    process.exit(1);
  }
}

const create: CreateRoom = { id: roomID, name: "Generated client" };
const room = await call<Room>("POST", "/rooms", create);
check(room.status === 201 && room.body.id === roomID, "create the room", room);
const lock: string | null = room.body.chat.locked_until; // required and nullable: not optional
check(lock === null, "a new room is not locked", room.body.chat);

const send: Send = { content: "hello from TypeScript", client_id: "ts-0001" };
const sent = await call<Sent>("POST", `/rooms/${encodeURIComponent(roomID)}/messages`, send);
check(sent.status === 201 && sent.body.content === send.content, "send a message", sent);
const edited: string | null = sent.body.edited_at;
check(edited === null && sent.body.client_id === "ts-0001", "the message's nullable fields", sent.body);

const page = await call<History>("GET", `/rooms/${encodeURIComponent(roomID)}/messages?limit=10`);
const newest = page.body.messages[0];
check(page.status === 200 && newest !== undefined && newest.id === sent.body.id && newest.content === send.content,
  "read the message back from history", page);
check(page.body.head_seq >= sent.body.seq, "head_seq is at least the message's seq", page.body);

const missing = await call<NotFound>("GET", "/rooms/no-such-room-here");
const code: NotFound["code"] = missing.body.code;
check(missing.status === 404 && code === "not_found" && missing.type === "application/problem+json", "a typed problem", missing);

console.log(JSON.stringify({ ok: true, room: room.body.id, message: sent.body.id, head_seq: page.body.head_seq }));
