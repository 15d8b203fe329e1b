import crypto from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AddReactionDocument,
  ChannelMessagesDocument,
  CreateChannelDocument,
  CreateWorkspaceDocument,
  LogInDocument,
  MeDocument,
  MessageReactionsDocument,
  SendMessageDocument,
  SignUpDocument,
} from '../client/generated/graphql.ts';
import { ok, refused, request } from './support/client.ts';
import { expectRefusal, post } from './support/raw.ts';
import { backendName, startServer, type TestServer } from './support/server.ts';
import { channelWith, sendText, signUpUser, workspaceWith, type TestUser } from './support/world.ts';

let server: TestServer;
let ann: TestUser;
let bob: TestUser;
let workspaceId: string;
let channelId: string;
beforeAll(async () => {
  server = await startServer();
  ann = await signUpUser(server, 'ann');
  bob = await signUpUser(server, 'bob');
  workspaceId = await workspaceWith(server, ann, [bob]);
  channelId = await channelWith(server, workspaceId, ann, [bob]);
});

const messageCount = async () => {
  const { channel } = await ok(server, ChannelMessagesDocument, { id: channelId, last: 100 }, ann.token);
  return channel!.messages.edges.length;
};

async function stillServes() {
  const { me } = await ok(server, MeDocument, {}, ann.token);
  expect(me.id).toBe(ann.id);
}

describe(`hostile strings (${backendName})`, () => {
  it('refuses a 160 KB emoji at once, before segmenting it, and adds nothing', async () => {
    const message = await sendText(server, ann.token, channelId, 'react to me');
    const started = Date.now();
    const error = await refused(server, 'BAD_USER_INPUT', AddReactionDocument, { messageId: message.id, emoji: '😀'.repeat(40_000) }, ann.token);
    expect(Date.now() - started, 'did not stall').toBeLessThan(5_000);
    expect(error.message).toMatch(/emoji.*at most 64 bytes/);
    expect(error.message.length).toBeLessThan(300);
    await refused(server, 'BAD_USER_INPUT', AddReactionDocument, { messageId: message.id, emoji: '😀😀' }, ann.token);
    const { message: after } = await ok(server, MessageReactionsDocument, { id: message.id }, ann.token);
    expect(after!.reactions).toEqual([]);
    // A real ZWJ sequence still fits.
    await ok(server, AddReactionDocument, { messageId: message.id, emoji: '👩‍👩‍👧‍👦' }, ann.token);
    await stillServes();
  });

  it.each([
    ['a NUL byte', 'hello\u0000world'],
    ['a lone high surrogate', 'broken \uD83D text'],
    ['a lone low surrogate', '\uDE00 text'],
    ['a bell character', 'ring \u0007'],
    ['an escape sequence', '\u001b[31mred'],
  ])('refuses message text with %s (BAD_USER_INPUT) and stores nothing', async (_what, text) => {
    const before = await messageCount();
    const error = await refused(server, 'BAD_USER_INPUT', SendMessageDocument, { input: { channelId, text } }, ann.token);
    expect(error.message).toMatch(/control character|surrogate/);
    expect(await messageCount()).toBe(before);
  });

  it('keeps tabs and line breaks in message text', async () => {
    const message = await sendText(server, ann.token, channelId, 'line one\n\tline two\r\n');
    expect(message.text).toBe('line one\n\tline two\r\n');
  });

  it('refuses NUL in the anonymous logIn and signUp, without a server error', async () => {
    const error = await refused(server, 'BAD_USER_INPUT', LogInDocument, { input: { email: 'a\u0000@example.com', password: 'whatever-pw' } });
    expect(error.message).toMatch(/U\+0000/);
    await refused(server, 'BAD_USER_INPUT', SignUpDocument, {
      input: { email: 'nul@example.com', password: 'long enough pw', name: 'N\u0000', handle: 'nul-user' },
    });
    // Also as a literal in the document, not only as a variable.
    const literal = await post(server, 'mutation { logIn(input: { email: "x\\u0000@example.com", password: "whatever-pw" }) { token } }');
    expectRefusal(literal, 'BAD_USER_INPUT', /control character/);
    await refused(server, 'UNAUTHENTICATED', LogInDocument, { input: { email: 'nul@example.com', password: 'long enough pw' } });
  });

  it('refuses any string argument over 400,000 UTF-16 units before a resolver runs', async () => {
    const response = await post(server, 'mutation($e: String!) { logIn(input: { email: $e, password: "x" }) { token } }', {
      e: 'a'.repeat(400_001),
    });
    expectRefusal(response, 'BAD_USER_INPUT', /too long/);
    await stillServes();
  });

  it('quotes at most about 100 characters of a bad ID or cursor back', async () => {
    const id = 'x'.repeat(5_000);
    const error = await refused(server, 'BAD_USER_INPUT', MessageReactionsDocument, { id }, ann.token);
    expect(error.message.length).toBeLessThan(200);
    const cursorError = await post(
      server,
      'subscription($c: ID!, $a: String) { channelEvents(channelId: $c, after: $a) { seq } }',
      { c: channelId, a: 'y'.repeat(5_000) },
      { token: ann.token },
    );
    // Over HTTP a subscription is served as a stream or refused; either way nothing long comes back.
    expect(JSON.stringify(cursorError.body).length).toBeLessThan(1_000);
  });
});

describe('names and texts must show something', () => {
  const invisible = [
    ['zero-width spaces', '\u200B\u200B\u200B'],
    ['a zero-width joiner and a word joiner', '\u200D\u2060'],
    ['a right-to-left override alone', '\u202E'],
    ['combining marks without a base', '\u0301\u0308'],
    ['a Hangul filler', '\u3164\u3164'],
    ['a byte-order mark', '\uFEFF'],
  ] as const;

  it.each(invisible)('refuses a message of only %s', async (_what, text) => {
    const before = await messageCount();
    const error = await refused(server, 'BAD_USER_INPUT', SendMessageDocument, { input: { channelId, text } }, ann.token);
    expect(error.message).toMatch(/visible characters|empty/);
    expect(await messageCount()).toBe(before);
  });

  it.each(invisible)('refuses user, workspace and channel names of only %s', async (_what, name) => {
    const suffix = crypto.randomBytes(3).toString('hex');
    const signUp = await refused(server, 'BAD_USER_INPUT', SignUpDocument, {
      input: { email: `inv-${suffix}@example.com`, password: 'long enough pw', name, handle: `inv-${suffix}` },
    });
    expect(signUp.message).toMatch(/name: must (contain visible characters|not be empty)/);
    const workspace = await refused(server, 'BAD_USER_INPUT', CreateWorkspaceDocument, { input: { name, slug: `inv-${suffix}` } }, ann.token);
    expect(workspace.message).toMatch(/name/);
    const channel = await refused(server, 'BAD_USER_INPUT', CreateChannelDocument, { input: { workspaceId, name, private: false } }, ann.token);
    expect(channel.message).toMatch(/name/);
    // Nothing was created: the handle and slug are still free.
    await ok(server, SignUpDocument, { input: { email: `inv-${suffix}@example.com`, password: 'long enough pw', name: 'Visible', handle: `inv-${suffix}` } });
  });

  it('refuses bidi overrides and isolates in names, even among visible characters', async () => {
    for (const control of ['\u202A', '\u202B', '\u202C', '\u202D', '\u202E', '\u2066', '\u2067', '\u2068', '\u2069']) {
      const error = await refused(server, 'BAD_USER_INPUT', CreateChannelDocument, { input: { workspaceId, name: `gen${control}eral`, private: false } }, ann.token);
      expect(error.message).toMatch(/bidirectional/);
    }
    // In message text they are allowed: people quote right-to-left text.
    await sendText(server, ann.token, channelId, 'quoted \u2067שלום\u2069 here');
  });

  it('accepts names in any script, with emoji and joiners inside visible text', async () => {
    const { createChannel } = await ok(server, CreateChannelDocument, { input: { workspaceId, name: 'كافيه-☕-café', private: false } }, ann.token);
    expect(createChannel.name).toBe('كافيه-☕-café');
  });
});

describe('accounts: password policy', () => {
  it.each([
    ['nine characters', 'abcdefgh9', /at least 10/],
    ['only white space', '            ', /white space/],
    ['one character repeated', 'zzzzzzzzzzzz', /repeated/],
    ['a common password', 'qwertyuiop', /common/],
    ['a common password in other case', 'PassWord123', /common/],
    ['a keyboard walk', '1qaz2wsx3edc', /common/],
  ])('refuses %s and creates no account', async (_what, password, message) => {
    const suffix = crypto.randomBytes(3).toString('hex');
    const input = { email: `pw-${suffix}@example.com`, password, name: 'P', handle: `pw-${suffix}` };
    const error = await refused(server, 'BAD_USER_INPUT', SignUpDocument, { input });
    expect(error.message).toMatch(/^password: /);
    expect(error.message).toMatch(message);
    await ok(server, SignUpDocument, { input: { ...input, password: 'a sound passphrase' } });
  });
});

describe('channel names of private channels', () => {
  it('answer a taken name the same way whether the holder is public or private, revealing neither', async () => {
    const secret = `secret-${crypto.randomBytes(3).toString('hex')}`;
    const open = `open-${crypto.randomBytes(3).toString('hex')}`;
    await channelWith(server, workspaceId, ann, [], { private: true, name: secret });
    await channelWith(server, workspaceId, ann, [], { private: false, name: open });
    const onPrivate = await refused(server, 'CONFLICT', CreateChannelDocument, { input: { workspaceId, name: secret, private: false } }, bob.token);
    const onPublic = await refused(server, 'CONFLICT', CreateChannelDocument, { input: { workspaceId, name: open, private: false } }, bob.token);
    expect(onPrivate.message.replace(secret, 'NAME')).toBe(onPublic.message.replace(open, 'NAME'));
    expect(onPrivate.message).not.toMatch(/private|exists/i);
    const raw = await request(server, CreateChannelDocument, { input: { workspaceId, name: secret, private: true } }, bob.token);
    expect(JSON.stringify(raw.errors?.[0]?.extensions)).not.toMatch(/private/i);
  });
});
