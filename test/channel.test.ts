import { beforeAll, describe, expect, it } from 'vitest';
import {
  AddChannelMembersDocument,
  ChannelDocument,
  CreateChannelDocument,
  JoinChannelDocument,
  LeaveChannelDocument,
  OpenDirectMessageDocument,
  UpdateMembershipDocument,
} from '../client/generated/graphql.ts';
import { ok, refused } from './support/client.ts';
import { backendName, type TestServer } from './support/server.ts';
import { channelWith, signUpUser, startTeam, workspaceWith, type TestUser } from './support/world.ts';

let server: TestServer;
let ann: TestUser;
let bob: TestUser;
let cat: TestUser;
let outsider: TestUser;
let workspaceId: string;
let otherWorkspaceId: string;

beforeAll(async () => {
  ({ server, ann, bob, cat, outsider, workspaceId, otherWorkspaceId } = await startTeam());
});

const memberIds = (channel: { members: { edges: { node: { user: { id: string } } }[] } }) =>
  channel.members.edges.map((e) => e.node.user.id).sort();

describe(`channels (${backendName})`, () => {
  it('creates a public channel with the creator and the named members', async () => {
    const { createChannel } = await ok(
      server,
      CreateChannelDocument,
      { input: { workspaceId, name: 'general', memberIds: [bob.id] } },
      ann.token,
    );
    expect(createChannel).toMatchObject({ name: 'general', kind: 'CHANNEL', private: false, workspace: { id: workspaceId } });
    const { channel } = await ok(server, ChannelDocument, { id: createChannel.id }, bob.token);
    expect(memberIds(channel!)).toEqual([ann.id, bob.id].sort());
    expect(channel!.myMembership).toMatchObject({ muted: false, notify: 'ALL', unreadCount: 0 });
  });

  it('refuses a duplicate name (CONFLICT), a blank name and a foreign member (NOT_FOUND)', async () => {
    await channelWith(server, workspaceId, ann, [], { name: 'dup-name' });
    await refused(server, 'CONFLICT', CreateChannelDocument, { input: { workspaceId, name: 'dup-name' } }, bob.token);
    await refused(server, 'BAD_USER_INPUT', CreateChannelDocument, { input: { workspaceId, name: '   ' } }, bob.token);
    await refused(server, 'NOT_FOUND', CreateChannelDocument, { input: { workspaceId, name: 'with-outsider', memberIds: [outsider.id] } }, ann.token);
    await refused(server, 'NOT_FOUND', CreateChannelDocument, { input: { workspaceId, name: 'not-mine' } }, outsider.token);
  });

  it('lets workspace members join and leave public channels', async () => {
    const id = await channelWith(server, workspaceId, ann);
    const before = await ok(server, ChannelDocument, { id }, cat.token);
    expect(before.channel!.myMembership).toBeNull();
    await ok(server, JoinChannelDocument, { channelId: id }, cat.token);
    await ok(server, JoinChannelDocument, { channelId: id }, cat.token);
    const joined = await ok(server, ChannelDocument, { id }, cat.token);
    expect(memberIds(joined.channel!)).toEqual([ann.id, cat.id].sort());
    expect((await ok(server, LeaveChannelDocument, { channelId: id }, cat.token)).leaveChannel).toBe(true);
    expect((await ok(server, LeaveChannelDocument, { channelId: id }, cat.token)).leaveChannel).toBe(false);
    const left = await ok(server, ChannelDocument, { id }, cat.token);
    expect(memberIds(left.channel!)).toEqual([ann.id]);
  });

  it('hides private channels from non-members (NOT_FOUND) and refuses joining them', async () => {
    const id = await channelWith(server, workspaceId, ann, [bob], { private: true });
    await ok(server, ChannelDocument, { id }, bob.token);
    await refused(server, 'NOT_FOUND', ChannelDocument, { id }, cat.token);
    await refused(server, 'NOT_FOUND', JoinChannelDocument, { channelId: id }, cat.token);
    await refused(server, 'NOT_FOUND', ChannelDocument, { id }, outsider.token);
  });

  it('lets members add workspace members to a private channel', async () => {
    const id = await channelWith(server, workspaceId, ann, [bob], { private: true });
    const { addChannelMembers } = await ok(server, AddChannelMembersDocument, { channelId: id, userIds: [cat.id, cat.id] }, bob.token);
    expect(memberIds(addChannelMembers)).toEqual([ann.id, bob.id, cat.id].sort());
    await refused(server, 'NOT_FOUND', AddChannelMembersDocument, { channelId: id, userIds: [outsider.id] }, ann.token);
  });

  it('keeps channels of one workspace invisible from another (NOT_FOUND)', async () => {
    const id = await channelWith(server, workspaceId, ann);
    await refused(server, 'NOT_FOUND', ChannelDocument, { id }, outsider.token);
    await refused(server, 'NOT_FOUND', JoinChannelDocument, { channelId: id }, outsider.token);
    await refused(server, 'NOT_FOUND', CreateChannelDocument, { input: { workspaceId: otherWorkspaceId, name: 'x' } }, ann.token);
  });

  it('updates the caller’s own membership settings', async () => {
    const id = await channelWith(server, workspaceId, ann, [bob]);
    const { updateMembership } = await ok(server, UpdateMembershipDocument, { input: { channelId: id, muted: true, notify: 'MENTIONS' } }, bob.token);
    expect(updateMembership).toMatchObject({ muted: true, notify: 'MENTIONS' });
    await refused(server, 'NOT_FOUND', UpdateMembershipDocument, { input: { channelId: id, muted: true } }, cat.token);
  });
});

describe(`direct and group messages (${backendName})`, () => {
  it('opens a DIRECT channel for one other person and returns the same one again, from either side', async () => {
    const first = await ok(server, OpenDirectMessageDocument, { input: { workspaceId, userIds: [bob.id] } }, ann.token);
    expect(first.openDirectMessage).toMatchObject({ kind: 'DIRECT', private: true, name: null });
    expect(memberIds(first.openDirectMessage)).toEqual([ann.id, bob.id].sort());
    const again = await ok(server, OpenDirectMessageDocument, { input: { workspaceId, userIds: [bob.id, bob.id] } }, ann.token);
    const fromBob = await ok(server, OpenDirectMessageDocument, { input: { workspaceId, userIds: [ann.id] } }, bob.token);
    expect(again.openDirectMessage.id).toBe(first.openDirectMessage.id);
    expect(fromBob.openDirectMessage.id).toBe(first.openDirectMessage.id);
    await refused(server, 'NOT_FOUND', ChannelDocument, { id: first.openDirectMessage.id }, cat.token);
  });

  it('opens a GROUP channel for more people, the same set in any order giving the same channel', async () => {
    const a = await ok(server, OpenDirectMessageDocument, { input: { workspaceId, userIds: [bob.id, cat.id] } }, ann.token);
    const b = await ok(server, OpenDirectMessageDocument, { input: { workspaceId, userIds: [ann.id, bob.id] } }, cat.token);
    expect(a.openDirectMessage.kind).toBe('GROUP');
    expect(b.openDirectMessage.id).toBe(a.openDirectMessage.id);
  });

  it('opens the same channel once when both sides open it at the same moment', async () => {
    const dan = await signUpUser(server, 'dan');
    const eve = await signUpUser(server, 'eve');
    const ws = await workspaceWith(server, dan, [eve]);
    const [x, y] = await Promise.all([
      ok(server, OpenDirectMessageDocument, { input: { workspaceId: ws, userIds: [eve.id] } }, dan.token),
      ok(server, OpenDirectMessageDocument, { input: { workspaceId: ws, userIds: [dan.id] } }, eve.token),
    ]);
    expect(x.openDirectMessage.id).toBe(y.openDirectMessage.id);
  });

  it('refuses a DM to someone outside the workspace (NOT_FOUND) and an empty one', async () => {
    await refused(server, 'NOT_FOUND', OpenDirectMessageDocument, { input: { workspaceId, userIds: [outsider.id] } }, ann.token);
    await refused(server, 'BAD_USER_INPUT', OpenDirectMessageDocument, { input: { workspaceId, userIds: [] } }, ann.token);
  });

  it('refuses a group of more than 100 people, the caller included (BAD_USER_INPUT)', async () => {
    const fake = (i: number) =>
      Buffer.from(`User:00000000-0000-7000-8000-${String(i).padStart(12, '0')}`).toString('base64');
    const tooMany = Array.from({ length: 100 }, (_, i) => fake(i + 1));
    const error = await refused(server, 'BAD_USER_INPUT', OpenDirectMessageDocument, { input: { workspaceId, userIds: tooMany } }, ann.token);
    expect(error.message).toMatch(/100/);
  });

  it('opens a group of exactly 100 people, the caller included', async () => {
    const host = await signUpUser(server, 'host');
    const guests: TestUser[] = [];
    for (let i = 0; i < 99; i += 11) {
      guests.push(...(await Promise.all(Array.from({ length: Math.min(11, 99 - i) }, () => signUpUser(server, 'guest')))));
    }
    const ws = await workspaceWith(server, host, guests);
    const { openDirectMessage } = await ok(
      server,
      OpenDirectMessageDocument,
      { input: { workspaceId: ws, userIds: guests.map((g) => g.id) } },
      host.token,
    );
    expect(openDirectMessage.kind).toBe('GROUP');
    expect(memberIds(openDirectMessage)).toHaveLength(100);
  }, 120_000);

  it('refuses adding people to or leaving a direct conversation', async () => {
    const { openDirectMessage } = await ok(server, OpenDirectMessageDocument, { input: { workspaceId, userIds: [cat.id] } }, ann.token);
    await refused(server, 'BAD_USER_INPUT', AddChannelMembersDocument, { channelId: openDirectMessage.id, userIds: [bob.id] }, ann.token);
    await refused(server, 'BAD_USER_INPUT', LeaveChannelDocument, { channelId: openDirectMessage.id }, ann.token);
  });
});
