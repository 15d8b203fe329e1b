import { encodeBase64 } from '@pothos/core';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { ChannelMessagesDocument, WorkspaceDocument } from '../client/generated/graphql.ts';
import { ok } from './support/client.ts';
import { post } from './support/raw.ts';
import { backendName, startServer, type TestServer } from './support/server.ts';
import { channelWith, sendText, signUpUsers, workspaceWith, type TestUser } from './support/world.ts';

/** API.md's codes; INTERNAL_SERVER_ERROR is deliberately not among them. */
const CLIENT_CODES = new Set(['UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'BAD_USER_INPUT', 'CONFLICT', 'RATE_LIMITED']);

let server: TestServer;
let ann: TestUser;
let outsider: TestUser;
let ours: { workspaceId: string; channelId: string; messageId: string; cursor: string };
let theirs: { workspaceId: string; channelId: string; messageId: string; cursor: string };

async function tenant(owner: TestUser) {
  const workspaceId = await workspaceWith(server, owner);
  const channelId = await channelWith(server, workspaceId, owner, [], { private: true });
  const messageId = (await sendText(server, owner.token, channelId, 'hello')).id;
  const { channel } = await ok(server, ChannelMessagesDocument, { id: channelId, first: 1 }, owner.token);
  return { workspaceId, channelId, messageId, cursor: channel!.messages.edges[0]!.cursor };
}

/** What the outsider's tenant looks like to its owner: any change made by the fuzzer would show here. */
async function snapshot() {
  const { workspace } = await ok(server, WorkspaceDocument, { id: theirs.workspaceId, first: 100 }, outsider.token);
  const { channel } = await ok(server, ChannelMessagesDocument, { id: theirs.channelId, last: 100 }, outsider.token);
  return {
    name: workspace!.name,
    channels: workspace!.channels.edges.map((e) => [e.node.id, e.node.name]),
    members: workspace!.members.edges.map((e) => e.node.id),
    messages: channel!.messages.edges.map((e) => [e.node.id, e.node.text, e.node.editedAt, e.node.deletedAt]),
  };
}

beforeAll(async () => {
  server = await startServer();
  [ann, outsider] = await signUpUsers(server, 'ann', 'outsider');
  ours = await tenant(ann);
  theirs = await tenant(outsider);
});

const uuid = '0197a1b2-0000-7000-8000-000000000000';

/** Strings a hostile client sends: control characters, lone surrogates, invisible and bidi characters, sizes. */
const hostileString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    'a\u0000b',
    '\uD800',
    'x\uDFFFy',
    '\u200B\u200D\u2060',
    '\u202Egnp.exe',
    '\u0301',
    '\u3164',
    '\u001b[2J',
    '😀',
    '👩‍👩‍👧‍👦',
    ':thumbsup:',
    "'; DROP TABLE \"Message\"; --",
    '%s%n%x',
    '{{7*7}}',
    '<script>alert(1)</script>',
  ),
  fc.tuple(fc.constantFrom('x', '😀', '\u200B', 'é', '\u0000'), fc.integer({ min: 1, max: 300_000 })).map(([unit, n]) => unit.repeat(n)),
);

/** Arbitraries over this file's tenants (known once beforeAll has run). */
function requests() {
  const id = fc.oneof(
    fc.constantFrom(ours.channelId, ours.messageId, ours.workspaceId, theirs.channelId, theirs.messageId, theirs.workspaceId, outsider.id, ann.id),
    fc.constantFrom(encodeBase64(`Channel:${uuid}`), encodeBase64('Message:not-a-uuid'), encodeBase64('Nope:1')),
    hostileString,
  );

  const cursor = fc.oneof(
    fc.constantFrom(ours.cursor, theirs.cursor, encodeBase64('GPC:T:["S:x","N:1"]'), encodeBase64(`CE:${uuid}:5`), encodeBase64('GPC:O:{')),
    hostileString,
  );

  const pageSize = fc.oneof(fc.constant(undefined), fc.integer({ min: -5, max: 500 }));

  /** One request of the main mutations and queries, with hostile arguments. */
  const operation = fc.oneof(
    fc.record({ text: hostileString, channelId: id }).map((v) => ({
      query: 'mutation($channelId: ID!, $text: String!) { sendMessage(input: { channelId: $channelId, text: $text }) { id } }',
      variables: v,
    })),
    fc.record({ text: hostileString, messageId: id }).map((v) => ({
      query: 'mutation($messageId: ID!, $text: String!) { editMessage(input: { messageId: $messageId, text: $text }) { id } }',
      variables: v,
    })),
    fc.record({ emoji: hostileString, messageId: id }).map((v) => ({
      query: 'mutation($messageId: ID!, $emoji: String!) { addReaction(messageId: $messageId, emoji: $emoji) { id } }',
      variables: v,
    })),
    fc.record({ name: hostileString, workspaceId: id }).map((v) => ({
      query: 'mutation($workspaceId: ID!, $name: String!) { createChannel(input: { workspaceId: $workspaceId, name: $name }) { id } }',
      variables: v,
    })),
    fc.record({ name: hostileString, slug: hostileString }).map((v) => ({
      query: 'mutation($name: String!, $slug: String!) { createWorkspace(input: { name: $name, slug: $slug }) { id } }',
      variables: v,
    })),
    fc.record({ email: hostileString, password: hostileString, name: hostileString, handle: hostileString }).map((input) => ({
      query: 'mutation($input: SignUpInput!) { signUp(input: $input) { token } }',
      variables: { input },
    })),
    fc.record({ email: hostileString, password: hostileString }).map((input) => ({
      query: 'mutation($input: LogInInput!) { logIn(input: $input) { token } }',
      variables: { input },
    })),
    fc.record({ code: hostileString }).map((v) => ({ query: 'mutation($code: String!) { joinWorkspace(code: $code) { id } }', variables: v })),
    fc.record({ id, first: pageSize, after: cursor }).map((v) => ({
      query: 'query($id: ID!, $first: Int, $after: String) { channel(id: $id) { messages(first: $first, after: $after) { edges { cursor node { id text } } } } }',
      variables: v,
    })),
    fc.record({ id, last: pageSize, before: cursor }).map((v) => ({
      query: 'query($id: ID!, $last: Int, $before: String) { message(id: $id) { replies(last: $last, before: $before) { edges { node { id } } } } }',
      variables: v,
    })),
    fc.record({ id, first: pageSize, after: cursor }).map((v) => ({
      query: 'query($id: ID!, $first: Int, $after: String) { workspace(id: $id) { channels(first: $first, after: $after) { edges { node { id name } } } members(first: $first, after: $after) { edges { node { id } } } } }',
      variables: v,
    })),
    fc.record({ id }).map((v) => ({ query: 'query($id: ID!) { node(id: $id) { id } }', variables: v })),
  );
  return operation;
}

describe(`fuzzing the API with hostile input (${backendName})`, () => {
  it('answers every request with data or a client error code, never a server error, and changes nothing in another tenant', async () => {
    const before = await snapshot();
    await fc.assert(
      fc.asyncProperty(requests(), async ({ query, variables }) => {
        const response = await post(server, query, variables as Record<string, unknown>, { token: ann.token });
        const errors = response.body.errors ?? [];
        for (const error of errors) {
          expect(CLIENT_CODES.has(String(error.extensions?.code)), JSON.stringify(error).slice(0, 300)).toBe(true);
          expect(error.message.length, 'messages quote little input').toBeLessThan(400);
        }
        if (errors.length === 0) expect(response.status).toBe(200);
      }),
      { numRuns: 150, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31), endOnFailure: true },
    );
    expect(await snapshot()).toEqual(before);
    // And the server is still well.
    await sendText(server, ann.token, ours.channelId, 'still here');
  }, 120_000);
});
