import crypto from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ChannelEventsDocument,
  JoinChannelDocument,
  LeaveChannelDocument,
  MarkReadDocument,
  MessageReadCountsDocument,
  OpenDirectMessageDocument,
  ReadReceiptsDocument,
} from '../client/generated/graphql.ts';
import { decodeId, encodeGlobalID } from '../src/schema/ids.ts';
import { connect, ok, refused, subscribe } from './support/client.ts';
import { backendName, waitForSubscribers } from './support/server.ts';
import { channelWith, seedMessages, sendText, startTeam, type Team } from './support/world.ts';

let team: Team;

beforeAll(async () => {
  team = await startTeam();
}, 60_000);

const openConversation = async (token: string, userIds: string[]) =>
  (await ok(team.server, OpenDirectMessageDocument, { input: { workspaceId: team.workspaceId, userIds } }, token)).openDirectMessage.id;

/** The newest `last` messages of a channel with their receipts, as `token` sees them, keyed by text. */
async function receipts(channelId: string, token: string, last = 20, first?: number) {
  const { channel } = await ok(team.server, ReadReceiptsDocument, { id: channelId, last, first }, token);
  return {
    members: new Map(channel!.members.edges.map((e) => [e.node.user.id, e.node.lastReadAt])),
    messages: new Map(
      channel!.messages.edges.map((e) => [
        e.node.text,
        {
          id: e.node.id,
          readCount: e.node.readCount,
          readBy: e.node.readBy.edges.map((r) => ({ user: r.node.user.id, readAt: r.node.readAt })),
          pageInfo: e.node.readBy.pageInfo,
        },
      ]),
    ),
  };
}

const markRead = (channelId: string, messageId: string, token: string) =>
  ok(team.server, MarkReadDocument, { channelId, messageId }, token);

describe(`read receipts in a direct message (${backendName})`, () => {
  it('lists who read each message and when; the author is never a reader of their own message', async () => {
    const { ann, bob } = team;
    const dm = await openConversation(ann.token, [bob.id]);
    const first = await sendText(team.server, ann.token, dm, 'first');
    await sendText(team.server, ann.token, dm, 'second');

    let seen = await receipts(dm, bob.token);
    expect(seen.messages.get('first')).toMatchObject({ readCount: 0, readBy: [] });
    expect(seen.members.get(bob.id)).toBeNull();

    const before = Date.now();
    await markRead(dm, first.id, bob.token);
    seen = await receipts(dm, ann.token);
    expect(seen.messages.get('first')).toMatchObject({ readCount: 1, readBy: [{ user: bob.id }] });
    expect(seen.messages.get('second')).toMatchObject({ readCount: 0, readBy: [] });
    const firstReadAt = Date.parse(seen.messages.get('first')!.readBy[0]!.readAt);
    expect(firstReadAt).toBeGreaterThanOrEqual(before - 1_000);
    expect(firstReadAt).toBeLessThanOrEqual(Date.now() + 1_000);
    expect(seen.members.get(bob.id)).toBe(seen.messages.get('first')!.readBy[0]!.readAt);

    // Replying reads everything before the reply, at the time of the reply; ann posted hers, so she has read them.
    const reply = await sendText(team.server, bob.token, dm, 'reply');
    seen = await receipts(dm, ann.token);
    expect(seen.messages.get('second')).toMatchObject({ readCount: 1, readBy: [{ user: bob.id }] });
    expect(Date.parse(seen.messages.get('second')!.readBy[0]!.readAt)).toBeGreaterThanOrEqual(firstReadAt);
    expect(seen.messages.get('first')!.readBy[0]!.readAt).toBe(new Date(firstReadAt).toISOString());
    expect(seen.messages.get('reply')).toMatchObject({ readCount: 0, readBy: [] });

    await markRead(dm, reply.id, ann.token);
    seen = await receipts(dm, bob.token);
    expect(seen.messages.get('reply')).toMatchObject({ readCount: 1, readBy: [{ user: ann.id }] });
    expect(seen.members.get(ann.id)).toBe(seen.messages.get('reply')!.readBy[0]!.readAt);
  });

  it('streams READ on channelEvents, so a client can show "seen" live and reload the receipt', async () => {
    const { ann, cat } = team;
    const dm = await openConversation(ann.token, [cat.id]);
    const message = await sendText(team.server, ann.token, dm, 'are you there?');
    const events = subscribe(connect(team.server, ann.token), ChannelEventsDocument, { channelId: dm });
    await waitForSubscribers(team.server, dm);
    await markRead(dm, message.id, cat.token);
    const read = await events.waitFor((e) => e.channelEvents.type === 'READ', 'the READ event', 10_000);
    expect(read.channelEvents).toMatchObject({ user: { id: cat.id }, message: { id: message.id } });
    expect((await receipts(dm, ann.token)).messages.get('are you there?')).toMatchObject({ readCount: 1, readBy: [{ user: cat.id }] });
  });
});

describe(`read receipts in a group (${backendName})`, () => {
  it('orders readers by when they read, counts them, and pages without gaps', async () => {
    const { ann, bob, cat } = team;
    const group = await openConversation(ann.token, [bob.id, cat.id]);
    const message = await sendText(team.server, ann.token, group, 'hello group');
    await markRead(group, message.id, cat.token);
    await markRead(group, message.id, bob.token);
    // Marking again, or back, changes nothing.
    await markRead(group, message.id, cat.token);

    const seen = await receipts(group, ann.token);
    const receipt = seen.messages.get('hello group')!;
    expect(receipt.readCount).toBe(2);
    expect(receipt.readBy.map((r) => r.user)).toEqual([cat.id, bob.id]);
    expect(Date.parse(receipt.readBy[0]!.readAt)).toBeLessThanOrEqual(Date.parse(receipt.readBy[1]!.readAt));

    const page1 = await receipts(group, ann.token, 1, 1);
    const first = page1.messages.get('hello group')!;
    expect(first.readBy.map((r) => r.user)).toEqual([cat.id]);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const { channel } = await ok(team.server, ReadReceiptsDocument, { id: group, last: 1, first: 1, after: first.pageInfo.endCursor }, ann.token);
    const second = channel!.messages.edges[0]!.node.readBy;
    expect(second.edges.map((e) => e.node.user.id)).toEqual([bob.id]);
    expect(second.pageInfo.hasNextPage).toBe(false);
  });

  it('refuses bad paging with BAD_USER_INPUT and hides the conversation from others (NOT_FOUND)', async () => {
    const { ann, bob, outsider } = team;
    const dm = await openConversation(ann.token, [bob.id]);
    await sendText(team.server, ann.token, dm, 'private words');
    await refused(team.server, 'BAD_USER_INPUT', ReadReceiptsDocument, { id: dm, last: 1, first: 101 }, ann.token);
    await refused(team.server, 'BAD_USER_INPUT', ReadReceiptsDocument, { id: dm, last: 1, after: 'nonsense' }, ann.token);
    // A readBy cursor of another conversation.
    const group = await openConversation(ann.token, [bob.id, team.cat.id]);
    const elsewhere = await sendText(team.server, ann.token, group, 'elsewhere');
    await markRead(group, elsewhere.id, bob.token);
    const foreign = (await receipts(group, ann.token, 1)).messages.get('elsewhere')!.readBy;
    expect(foreign).toHaveLength(1);
    const { channel } = await ok(team.server, ReadReceiptsDocument, { id: group, last: 1 }, ann.token);
    await refused(team.server, 'BAD_USER_INPUT', ReadReceiptsDocument, { id: dm, last: 1, after: channel!.messages.edges[0]!.node.readBy.edges[0]!.cursor }, ann.token);
    await refused(team.server, 'NOT_FOUND', ReadReceiptsDocument, { id: encodeGlobalID('Channel', crypto.randomUUID()), last: 1 }, ann.token);
    await refused(team.server, 'NOT_FOUND', ReadReceiptsDocument, { id: dm, last: 1 }, team.cat.token);
    await refused(team.server, 'NOT_FOUND', ReadReceiptsDocument, { id: dm, last: 1 }, outsider.token);
  });
});

describe(`read receipts in channels (${backendName})`, () => {
  it('counts a joiner whose position starts past the history, and forgets a member who left', async () => {
    const { ann, bob, cat } = team;
    const channel = await channelWith(team.server, team.workspaceId, ann, [bob]);
    const message = await sendText(team.server, ann.token, channel, 'before cat joined');
    await markRead(channel, message.id, bob.token);
    expect((await receipts(channel, ann.token)).messages.get('before cat joined')!.readCount).toBe(1);
    await ok(team.server, JoinChannelDocument, { channelId: channel }, cat.token);
    let seen = await receipts(channel, ann.token);
    expect(seen.messages.get('before cat joined')).toMatchObject({ readCount: 2 });
    expect(seen.messages.get('before cat joined')!.readBy.map((r) => r.user)).toEqual([bob.id, cat.id]);
    await ok(team.server, LeaveChannelDocument, { channelId: channel }, bob.token);
    seen = await receipts(channel, ann.token);
    expect(seen.messages.get('before cat joined')).toMatchObject({ readCount: 1, readBy: [{ user: cat.id }] });
  });

  it(`over 100 members: readBy is refused with FORBIDDEN, readCount still answers`, async () => {
    const { ann } = team;
    const channel = await channelWith(team.server, team.workspaceId, ann);
    const message = await sendText(team.server, ann.token, channel, 'to a crowd');
    // 100 more members, seeded in the database directly (signing up 100 people over HTTP is not the point).
    const prisma = team.server.app.runtime.prisma;
    const workspaceId = decodeId(team.workspaceId).id;
    const channelId = decodeId(channel).id;
    const suffix = crypto.randomBytes(4).toString('hex');
    const people = Array.from({ length: 100 }, (_, i) => ({
      id: crypto.randomUUID(),
      email: `crowd-${suffix}-${i}@example.com`,
      handle: `crowd-${suffix}-${i}`,
      name: `Crowd ${i}`,
      passwordHash: 'x',
    }));
    await prisma.user.createMany({ data: people });
    await prisma.workspaceMember.createMany({ data: people.map((p) => ({ workspaceId, userId: p.id })) });
    // 60 of them have read it, 40 have not.
    await prisma.membership.createMany({
      data: people.map((p, i) => ({ channelId, userId: p.id, lastReadNumber: i < 60 ? 1 : 0 })),
    });
    const counts = await ok(team.server, MessageReadCountsDocument, { id: channel, last: 5 }, ann.token);
    expect(counts.channel!.messages.edges.map((e) => e.node.readCount)).toEqual([60]);
    const error = await refused(team.server, 'FORBIDDEN', ReadReceiptsDocument, { id: channel, last: 5 }, ann.token);
    expect(error.message).toMatch(/100 members/);
    expect(message.id).toBeDefined();
  });

  it('loads receipts for a page of messages in a number of statements that does not grow with the page', async () => {
    const { ann, bob, cat } = team;
    const group = await openConversation(bob.token, [ann.id, cat.id]);
    await seedMessages(team.server, ann, group, Array.from({ length: 60 }, (_, i) => `message ${i}`));
    const { channel } = await ok(team.server, ReadReceiptsDocument, { id: group, last: 1 }, ann.token);
    await markRead(group, channel!.messages.edges[0]!.node.id, bob.token);
    await seedMessages(team.server, cat, group, ['cat was here']);

    const db = team.server.app.runtime.db;
    const countStatements = async (last: number) => {
      await team.server.app.runtime.background.drained();
      const statements: string[] = [];
      const stop = db.onQuery((sql) => statements.push(sql));
      try {
        const seen = await receipts(group, ann.token, last);
        return { statements, seen };
      } finally {
        stop();
      }
    };
    const small = await countStatements(3);
    const large = await countStatements(50);
    expect(large.statements.length, large.statements.join('\n')).toBe(small.statements.length);
    expect(large.seen.messages.get('message 30')).toMatchObject({ readCount: 2 });
    expect(large.seen.messages.get('message 30')!.readBy.map((r) => r.user)).toEqual([bob.id, cat.id]);
    expect(large.seen.messages.get('cat was here')).toMatchObject({ readCount: 0, readBy: [] });
  });
});
