import { beforeAll, describe, expect, it } from 'vitest';
import { ChannelMessagesDocument, SendMessageDocument, WorkspaceDocument } from '../client/generated/graphql.ts';
import { ok } from './support/client.ts';
import { backendName, startServer, type TestServer } from './support/server.ts';
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
