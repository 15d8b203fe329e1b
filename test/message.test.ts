import { beforeAll, describe, expect, it } from 'vitest';
import {
  ChannelMessagesDocument,
  MessageRepliesDocument,
  SendMessageDocument,
} from '../client/generated/graphql.ts';
import { ok, refused } from './support/client.ts';
import { backendName, type TestServer } from './support/server.ts';
import { channelWith, seedMessages, sendText, startTeam, type TestUser } from './support/world.ts';

let server: TestServer;
let ann: TestUser;
let bob: TestUser;
let cat: TestUser;
let outsider: TestUser;
let workspaceId: string;

beforeAll(async () => {
  ({ server, ann, bob, cat, outsider, workspaceId } = await startTeam());
});

const send = (token: string, channelId: string, text: string, extra: { clientMessageId?: string; threadRootId?: string } = {}) =>
  sendText(server, token, channelId, text, extra);

describe(`sending messages (${backendName})`, () => {
  it('persists a message with its author and channel', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const message = await send(bob.token, channelId, 'hello, world');
    expect(message).toMatchObject({ text: 'hello, world', author: { id: bob.id }, channel: { id: channelId }, editedAt: null, deletedAt: null, threadRoot: null });
    const { channel } = await ok(server, ChannelMessagesDocument, { id: channelId, last: 10 }, ann.token);
    expect(channel!.messages.edges.map((e) => e.node.id)).toEqual([message.id]);
  });

  it('accepts exactly 100,000 characters (emoji count once) and refuses 100,001', async () => {
    const channelId = await channelWith(server, workspaceId, ann);
    const longest = await send(ann.token, channelId, 'a'.repeat(99_999) + '😀');
    expect([...longest.text]).toHaveLength(100_000);
    const error = await refused(server, 'BAD_USER_INPUT', SendMessageDocument, { input: { channelId, text: 'a'.repeat(100_001) } }, ann.token);
    expect(error.message).toMatch(/100,000/);
  });

  it.each([['empty', ''], ['blank', ' \n\t ']])('refuses %s text (BAD_USER_INPUT) and stores nothing', async (_what, text) => {
    const channelId = await channelWith(server, workspaceId, ann);
    await refused(server, 'BAD_USER_INPUT', SendMessageDocument, { input: { channelId, text } }, ann.token);
    const { channel } = await ok(server, ChannelMessagesDocument, { id: channelId, first: 10 }, ann.token);
    expect(channel!.messages.edges).toHaveLength(0);
  });

  it('returns the first message for a repeated clientMessageId, never a duplicate', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const first = await send(ann.token, channelId, 'once', { clientMessageId: 'c-1' });
    const retry = await send(ann.token, channelId, 'once', { clientMessageId: 'c-1' });
    expect(retry.id).toBe(first.id);
    expect(first.clientMessageId).toBe('c-1');
    // Concurrent retries, as a flaky network produces them.
    const burst = await Promise.all(Array.from({ length: 8 }, () => send(ann.token, channelId, 'burst', { clientMessageId: 'c-2' })));
    expect(new Set(burst.map((m) => m.id)).size).toBe(1);
    // The same key from another user is their own message.
    const bobs = await send(bob.token, channelId, 'mine', { clientMessageId: 'c-1' });
    expect(bobs.id).not.toBe(first.id);
    const { channel } = await ok(server, ChannelMessagesDocument, { id: channelId, first: 100 }, ann.token);
    expect(channel!.messages.edges.map((e) => e.node.text)).toEqual(['once', 'burst', 'mine']);
  });

  it('refuses posting where the caller may not: non-member of public (FORBIDDEN), private or foreign (NOT_FOUND)', async () => {
    const open = await channelWith(server, workspaceId, ann);
    const secret = await channelWith(server, workspaceId, ann, [], { private: true });
    await refused(server, 'FORBIDDEN', SendMessageDocument, { input: { channelId: open, text: 'hi' } }, cat.token);
    await refused(server, 'NOT_FOUND', SendMessageDocument, { input: { channelId: secret, text: 'hi' } }, cat.token);
    await refused(server, 'NOT_FOUND', SendMessageDocument, { input: { channelId: open, text: 'hi' } }, outsider.token);
    await refused(server, 'NOT_FOUND', ChannelMessagesDocument, { id: secret, last: 5 }, cat.token);
    await refused(server, 'UNAUTHENTICATED', SendMessageDocument, { input: { channelId: open, text: 'hi' } });
  });

  it('keeps thread replies out of the channel history and attaches replies to replies to the root', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const root = await send(ann.token, channelId, 'root');
    const reply = await send(bob.token, channelId, 'reply 1', { threadRootId: root.id });
    const nested = await send(ann.token, channelId, 'reply 2', { threadRootId: reply.id });
    expect(reply.threadRoot?.id).toBe(root.id);
    expect(nested.threadRoot?.id).toBe(root.id);
    const { channel } = await ok(server, ChannelMessagesDocument, { id: channelId, last: 10 }, ann.token);
    expect(channel!.messages.edges.map((e) => e.node.text)).toEqual(['root']);
    expect(channel!.messages.edges[0]!.node.replyCount).toBe(2);
    const { message } = await ok(server, MessageRepliesDocument, { id: root.id, first: 10 }, bob.token);
    expect(message!.replies.edges.map((e) => e.node.text)).toEqual(['reply 1', 'reply 2']);
    const other = await channelWith(server, workspaceId, ann);
    await refused(server, 'NOT_FOUND', SendMessageDocument, { input: { channelId: other, text: 'x', threadRootId: root.id } }, ann.token);
  });
});

describe(`history (${backendName})`, () => {
  let channelId: string;
  const total = 250;

  beforeAll(async () => {
    channelId = await channelWith(server, workspaceId, ann, [bob]);
    for (let i = 1; i <= total; i++) await seedMessages(server, i % 2 ? ann : bob, channelId, [`m${i}`]);
  });

  it('scrolls back from the newest to the very first message with last/before, each once, in order', async () => {
    const seen: string[] = [];
    let before: string | null | undefined;
    let pages = 0;
    for (;;) {
      const { channel } = await ok(server, ChannelMessagesDocument, { id: channelId, last: 40, before }, bob.token);
      const { edges, pageInfo } = channel!.messages;
      pages++;
      // Oldest first within a page; pages go backwards.
      seen.unshift(...edges.map((e) => e.node.text));
      expect(pageInfo.startCursor).toBe(edges[0]?.cursor ?? null);
      expect(pageInfo.endCursor).toBe(edges.at(-1)?.cursor ?? null);
      if (!pageInfo.hasPreviousPage) break;
      before = pageInfo.startCursor;
      expect(pages).toBeLessThan(20);
    }
    expect(pages).toBe(Math.ceil(total / 40));
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => `m${i + 1}`));
  });

  it('reads forward from the first message with first/after, each once, in order', async () => {
    const seen: string[] = [];
    let after: string | null | undefined;
    for (;;) {
      const { channel } = await ok(server, ChannelMessagesDocument, { id: channelId, first: 100, after }, ann.token);
      const { edges, pageInfo } = channel!.messages;
      seen.push(...edges.map((e) => e.node.text));
      if (after) expect(pageInfo.hasPreviousPage).toBe(true);
      if (!pageInfo.hasNextPage) break;
      after = pageInfo.endCursor;
    }
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => `m${i + 1}`));
  });

  it('gives the newest page with last: N', async () => {
    const { channel } = await ok(server, ChannelMessagesDocument, { id: channelId, last: 3 }, ann.token);
    expect(channel!.messages.edges.map((e) => e.node.text)).toEqual(['m248', 'm249', 'm250']);
    expect(channel!.messages.pageInfo).toMatchObject({ hasPreviousPage: true, hasNextPage: false });
  });

  it.each([
    ['first: 101', { first: 101 }],
    ['last: 101', { last: 101 }],
    ['first: 0', { first: 0 }],
    ['first: -1', { first: -1 }],
  ])('refuses a page size outside 1..100 (%s) with BAD_USER_INPUT', async (_what, args) => {
    const error = await refused(server, 'BAD_USER_INPUT', ChannelMessagesDocument, { id: channelId, ...args }, ann.token);
    expect(error.message).toMatch(/first|last/);
  });

  it('refuses a garbage cursor with BAD_USER_INPUT', async () => {
    await refused(server, 'BAD_USER_INPUT', ChannelMessagesDocument, { id: channelId, first: 10, after: 'garbage' }, ann.token);
    await refused(server, 'BAD_USER_INPUT', ChannelMessagesDocument, { id: channelId, last: 10, before: '!!!' }, ann.token);
  });
});
