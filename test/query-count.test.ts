import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ChannelEventsDocument, ChannelEventsForViewerDocument, ChannelMessagesDocument, SendMessageDocument, WorkspaceDocument } from '../client/generated/graphql.ts';
import { connect, ok, subscribe } from './support/client.ts';
import { backendName, startServer, waitForSubscribers, type TestServer } from './support/server.ts';
import { channelWith, seedMessages, signUpUsers, workspaceWith, type TestUser } from './support/world.ts';

let server: TestServer;
let users: TestUser[];
let workspaceId: string;
let channelId: string;

/** Runs `action` and returns how many SQL statements Prisma ran meanwhile (after earlier requests' background work). */
async function countQueries(action: () => Promise<unknown>): Promise<{ count: number; statements: string[] }> {
  await server.app.runtime.background.drained();
  const statements: string[] = [];
  const stop = server.app.runtime.db.onQuery((sql) => statements.push(sql));
  try {
    await action();
  } finally {
    stop();
  }
  return { count: statements.length, statements };
}

beforeAll(async () => {
  server = await startServer();
  users = await signUpUsers(server, 'a', 'b', 'c', 'd', 'e');
  workspaceId = await workspaceWith(server, users[0]!, users.slice(1));
  channelId = await channelWith(server, workspaceId, users[0]!, users.slice(1));
  for (let i = 0; i < 100; i++) await seedMessages(server, users[i % users.length]!, channelId, [`message ${i}`]);
}, 120_000);

describe(`query counts on hot paths (${backendName})`, () => {
  it('loads a page of 100 messages with authors, channels and thread roots in a bounded number of queries', async () => {
    const small = await countQueries(() => ok(server, ChannelMessagesDocument, { id: channelId, last: 5 }, users[1]!.token));
    const large = await countQueries(() => ok(server, ChannelMessagesDocument, { id: channelId, last: 100 }, users[1]!.token));
    // No N+1: a page 20 times larger runs the same number of statements.
    expect(large.count, large.statements.join('\n')).toBe(small.count);
    // The access check, the page, then one statement per selected relation (author, channel, thread root):
    // the page's rows are not read a second time, nor the channel after its access check.
    expect(large.count, large.statements.join('\n')).toBeLessThanOrEqual(5);
  });

  it('reads a history page by keyset with a LIMIT, at any depth (never every older row)', async () => {
    const newest = await ok(server, ChannelMessagesDocument, { id: channelId, last: 10 }, users[1]!.token);
    const before = newest.channel!.messages.pageInfo.startCursor;
    const { statements } = await countQueries(() => ok(server, ChannelMessagesDocument, { id: channelId, last: 5, before }, users[1]!.token));
    const page = statements.filter((sql) => /FROM "?\w*"?\.?"Message"/.test(sql) && /"seq"/.test(sql) && /ORDER BY/.test(sql));
    expect(page, statements.join('\n')).toHaveLength(1);
    expect(page[0]).toMatch(/LIMIT/);
    const older = await ok(server, ChannelMessagesDocument, { id: channelId, last: 5, before }, users[1]!.token);
    expect(older.channel!.messages.edges.map((e) => e.node.text)).toEqual(['message 85', 'message 86', 'message 87', 'message 88', 'message 89']);
    expect(older.channel!.messages.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
  });

  it('replays missed events a page at a time, not with queries per event', async () => {
    const { channel } = await ok(server, ChannelMessagesDocument, { id: channelId, first: 1 }, users[1]!.token);
    const after = channel!.messages.edges[0]!.cursor;
    const { count, statements } = await countQueries(async () => {
      const sub = subscribe(connect(server, users[1]!.token), ChannelEventsDocument, { channelId, after });
      await sub.waitForCount(99, 30_000);
      sub.unsubscribe();
    });
    // 99 events with their messages and authors: the access check, a page of the log, and its rows read ahead.
    expect(count, statements.join('\n')).toBeLessThanOrEqual(10);
  });

  it('lists a workspace’s channels and members without a query per row', async () => {
    for (let i = 0; i < 10; i++) await channelWith(server, workspaceId, users[0]!);
    const { count, statements } = await countQueries(() => ok(server, WorkspaceDocument, { id: workspaceId, first: 100 }, users[0]!.token));
    expect(count, statements.join('\n')).toBeLessThanOrEqual(8);
  });
});

describe(`fan-out cost (${backendName})`, () => {
  const costOf = async <R,>(subscribers: number, document: TypedDocumentNode<R, { channelId: string }>) => {
      const channel = await channelWith(server, workspaceId, users[0]!, users.slice(1));
      const subs = Array.from({ length: subscribers }, (_, i) =>
        subscribe(connect(server, users[i % users.length]!.token), document, { channelId: channel }),
      );
      await waitForSubscribers(server, channel, subscribers);
      // A first message proves every stream is live; the second one is measured.
      await ok(server, SendMessageDocument, { input: { channelId: channel, text: 'warm up' } }, users[0]!.token);
      await Promise.all(subs.map((sub) => sub.waitForCount(1)));
      const { count, statements } = await countQueries(async () => {
        await ok(server, SendMessageDocument, { input: { channelId: channel, text: 'fan me out' } }, users[0]!.token);
        await Promise.all(subs.map((sub) => sub.waitForCount(2)));
      });
      for (const sub of subs) sub.unsubscribe();
      return { count, statements };
  };

  it('delivers one message to many subscribers with a number of queries that does not grow with them', async () => {
    const few = await costOf(2, ChannelEventsDocument);
    const many = await costOf(30, ChannelEventsDocument);
    expect(many.count, many.statements.join('\n')).toBe(few.count);
  });

  it('batches viewer-dependent fields (unreadCount, reactedByMe, email) per event, not per subscriber', async () => {
    const few = await costOf(2, ChannelEventsForViewerDocument);
    const many = await costOf(30, ChannelEventsForViewerDocument);
    expect(many.count, many.statements.join('\n')).toBe(few.count);
  });
});
