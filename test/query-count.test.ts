import { beforeAll, describe, expect, it } from 'vitest';
import { ChannelEventsDocument, ChannelMessagesDocument, SendMessageDocument, WorkspaceDocument } from '../client/generated/graphql.ts';
import { connect, ok, subscribe } from './support/client.ts';
import { backendName, startServer, waitForSubscribers, type TestServer } from './support/server.ts';
import { channelWith, signUpUsers, workspaceWith, type TestUser } from './support/world.ts';

let server: TestServer;
let users: TestUser[];
let workspaceId: string;
let channelId: string;

/** Runs `action` and returns how many SQL statements Prisma ran meanwhile. */
async function countQueries(action: () => Promise<unknown>): Promise<{ count: number; statements: string[] }> {
  const statements: string[] = [];
  const stop = server.app.db.onQuery((sql) => statements.push(sql));
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
  for (let i = 0; i < 100; i++) {
    const author = users[i % users.length]!;
    await ok(server, SendMessageDocument, { input: { channelId, text: `message ${i}` } }, author.token);
  }
});

describe(`query counts on hot paths (${backendName})`, () => {
  it('loads a page of 100 messages with authors, channels and thread roots in a bounded number of queries', async () => {
    const small = await countQueries(() => ok(server, ChannelMessagesDocument, { id: channelId, last: 5 }, users[1]!.token));
    const large = await countQueries(() => ok(server, ChannelMessagesDocument, { id: channelId, last: 100 }, users[1]!.token));
    // No N+1: a page 20 times larger runs the same number of statements.
    expect(large.count, large.statements.join('\n')).toBe(small.count);
    expect(large.count, large.statements.join('\n')).toBeLessThanOrEqual(8);
  });

  it('lists a workspace’s channels and members without a query per row', async () => {
    for (let i = 0; i < 10; i++) await channelWith(server, workspaceId, users[0]!);
    const { count, statements } = await countQueries(() => ok(server, WorkspaceDocument, { id: workspaceId, first: 100 }, users[0]!.token));
    expect(count, statements.join('\n')).toBeLessThanOrEqual(8);
  });
});

describe(`fan-out cost (${backendName})`, () => {
  it('delivers one message to many subscribers with a number of queries that does not grow with them', async () => {
    const costOf = async (subscribers: number) => {
      const channel = await channelWith(server, workspaceId, users[0]!, users.slice(1));
      const subs = Array.from({ length: subscribers }, (_, i) =>
        subscribe(connect(server, users[i % users.length]!.token), ChannelEventsDocument, { channelId: channel }),
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
    const few = await costOf(2);
    const many = await costOf(30);
    expect(many.count, many.statements.join('\n')).toBe(few.count);
  });
});
