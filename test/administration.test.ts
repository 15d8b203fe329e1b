import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AddReactionDocument,
  ArchiveChannelDocument,
  ChannelDocument,
  ChannelEventsDocument,
  ChannelMessagesDocument,
  ChannelSettingsOfDocument,
  CreateChannelDocument,
  CreateWorkspaceInviteDocument,
  EditMessageDocument,
  InboxDocument,
  JoinChannelDocument,
  JoinWorkspaceDocument,
  LeaveWorkspaceDocument,
  MessageAddedDocument,
  OpenDirectMessageDocument,
  PresenceChangedDocument,
  RemoveChannelMembersDocument,
  RemoveWorkspaceMemberDocument,
  RevokeWorkspaceInviteDocument,
  SendMessageDocument,
  SetTypingDocument,
  TypingDocument,
  UnarchiveChannelDocument,
  UpdateChannelDocument,
  UpdateMemberRoleDocument,
  UpdateWorkspaceDocument,
  WorkspaceChannelsDocument,
  WorkspaceDocument,
  type WorkspaceRole,
} from '../client/generated/graphql.ts';
import { topics } from '../src/pubsub.ts';
import { decodeId } from '../src/schema/ids.ts';
import { connect, ok, refused, subscribe } from './support/client.ts';
import { startInstance, subscriptionsOpened, type Instance } from './support/instances.ts';
import {
  backendName,
  channelTopic,
  sharedServices,
  skipWithoutSharedServices,
  startServer,
  testConfig,
  until,
  waitForSubscribers,
  waitForTopic,
  type TestServer,
} from './support/server.ts';
import { channelWith, sendText, signUpUsers, workspaceWith, type TestUser } from './support/world.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
});

/**
 * A workspace with one person per role: owner, admin, member and guest, plus
 * an outsider with a workspace of their own.
 */
async function roles() {
  const [owner, admin, member, guest, outsider] = await signUpUsers(server, 'owner', 'admin', 'member', 'guest', 'outsider');
  const workspaceId = await workspaceWith(server, owner, [admin, member, guest]);
  await workspaceWith(server, outsider);
  await setRole(workspaceId, owner, admin, 'ADMIN');
  await setRole(workspaceId, owner, guest, 'GUEST');
  return { owner, admin, member, guest, outsider, workspaceId };
}

const setRole = (workspaceId: string, by: TestUser, user: TestUser, role: WorkspaceRole) =>
  ok(server, UpdateMemberRoleDocument, { workspaceId, userId: user.id, role }, by.token);

const channelIdsOf = async (workspaceId: string, user: TestUser) => {
  const { workspace } = await ok(server, WorkspaceChannelsDocument, { id: workspaceId }, user.token);
  return workspace!.channels.edges.map((e) => e.node.id);
};

describe(`workspace roles (${backendName})`, () => {
  it('lets owners manage admins and admins manage members and guests, nobody else', async () => {
    const { owner, admin, member, guest, outsider, workspaceId } = await roles();
    const { updateMemberRole } = await setRole(workspaceId, admin, member, 'GUEST');
    expect(updateMemberRole).toEqual({ role: 'GUEST', user: { id: member.id } });
    await setRole(workspaceId, admin, member, 'MEMBER');
    const vars = (user: TestUser, role: WorkspaceRole) => ({ workspaceId, userId: user.id, role });
    await refused(server, 'FORBIDDEN', UpdateMemberRoleDocument, vars(member, 'ADMIN'), admin.token);
    await refused(server, 'FORBIDDEN', UpdateMemberRoleDocument, vars(owner, 'MEMBER'), admin.token);
    await refused(server, 'FORBIDDEN', UpdateMemberRoleDocument, vars(guest, 'MEMBER'), member.token);
    await refused(server, 'FORBIDDEN', UpdateMemberRoleDocument, vars(member, 'GUEST'), guest.token);
    await refused(server, 'NOT_FOUND', UpdateMemberRoleDocument, vars(member, 'GUEST'), outsider.token);
    await refused(server, 'NOT_FOUND', UpdateMemberRoleDocument, vars(outsider, 'GUEST'), owner.token);
    const { workspace } = await ok(server, WorkspaceChannelsDocument, { id: workspaceId }, member.token);
    expect(workspace!.viewerRole).toBe('MEMBER');
  });

  it('keeps the last owner: they cannot be demoted, removed or leave until another owner exists', async () => {
    const { owner, admin, workspaceId } = await roles();
    await refused(server, 'CONFLICT', UpdateMemberRoleDocument, { workspaceId, userId: owner.id, role: 'ADMIN' }, owner.token);
    await refused(server, 'CONFLICT', LeaveWorkspaceDocument, { workspaceId }, owner.token);
    await setRole(workspaceId, owner, admin, 'OWNER');
    // Now either may go; the second is then the last.
    expect((await ok(server, LeaveWorkspaceDocument, { workspaceId }, owner.token)).leaveWorkspace).toBe(true);
    await refused(server, 'NOT_FOUND', WorkspaceDocument, { id: workspaceId }, owner.token);
    await refused(server, 'CONFLICT', LeaveWorkspaceDocument, { workspaceId }, admin.token);
  });

  it('renames a workspace for owners and admins only', async () => {
    const { owner, admin, member, guest, outsider, workspaceId } = await roles();
    const { updateWorkspace } = await ok(server, UpdateWorkspaceDocument, { input: { workspaceId, name: '  Acme HQ ' } }, admin.token);
    expect(updateWorkspace.name).toBe('Acme HQ');
    await refused(server, 'BAD_USER_INPUT', UpdateWorkspaceDocument, { input: { workspaceId, name: ' ' } }, owner.token);
    await refused(server, 'FORBIDDEN', UpdateWorkspaceDocument, { input: { workspaceId, name: 'Mine' } }, member.token);
    await refused(server, 'FORBIDDEN', UpdateWorkspaceDocument, { input: { workspaceId, name: 'Mine' } }, guest.token);
    await refused(server, 'NOT_FOUND', UpdateWorkspaceDocument, { input: { workspaceId, name: 'Mine' } }, outsider.token);
    const { workspace } = await ok(server, WorkspaceDocument, { id: workspaceId }, member.token);
    expect(workspace!.name).toBe('Acme HQ');
  });

  it('removes people: owners anyone, admins members and guests; their access ends', async () => {
    const { owner, admin, member, guest, outsider, workspaceId } = await roles();
    const channelId = await channelWith(server, workspaceId, owner, [member, guest], { private: true });
    const vars = (user: TestUser) => ({ workspaceId, userId: user.id });
    await refused(server, 'FORBIDDEN', RemoveWorkspaceMemberDocument, vars(owner), admin.token);
    await refused(server, 'FORBIDDEN', RemoveWorkspaceMemberDocument, vars(guest), member.token);
    await refused(server, 'NOT_FOUND', RemoveWorkspaceMemberDocument, vars(guest), outsider.token);
    await refused(server, 'BAD_USER_INPUT', RemoveWorkspaceMemberDocument, vars(admin), admin.token);
    expect((await ok(server, RemoveWorkspaceMemberDocument, vars(member), admin.token)).removeWorkspaceMember).toBe(true);
    await refused(server, 'NOT_FOUND', RemoveWorkspaceMemberDocument, vars(member), admin.token);
    await refused(server, 'NOT_FOUND', WorkspaceDocument, { id: workspaceId }, member.token);
    await refused(server, 'NOT_FOUND', ChannelDocument, { id: channelId }, member.token);
    const { channel } = await ok(server, ChannelDocument, { id: channelId }, owner.token);
    expect(channel!.members.edges.map((e) => e.node.user.id).sort()).toEqual([owner.id, guest.id].sort());
    await ok(server, RemoveWorkspaceMemberDocument, vars(admin), owner.token);
    await refused(server, 'NOT_FOUND', WorkspaceDocument, { id: workspaceId }, admin.token);
  });

  it('lets owners and admins revoke invites; guests cannot invite', async () => {
    const { owner, admin, member, guest, outsider, workspaceId } = await roles();
    const { createWorkspaceInvite } = await ok(server, CreateWorkspaceInviteDocument, { workspaceId }, member.token);
    const { code } = createWorkspaceInvite;
    await refused(server, 'FORBIDDEN', CreateWorkspaceInviteDocument, { workspaceId }, guest.token);
    await refused(server, 'FORBIDDEN', RevokeWorkspaceInviteDocument, { code }, member.token);
    await refused(server, 'NOT_FOUND', RevokeWorkspaceInviteDocument, { code }, outsider.token);
    expect((await ok(server, RevokeWorkspaceInviteDocument, { code }, admin.token)).revokeWorkspaceInvite).toBe(true);
    await refused(server, 'NOT_FOUND', JoinWorkspaceDocument, { code }, outsider.token);
    // Revoking twice is a no-op.
    expect((await ok(server, RevokeWorkspaceInviteDocument, { code }, owner.token)).revokeWorkspaceInvite).toBe(true);
  });
});

describe(`guests (${backendName})`, () => {
  it('see only the channels they are added to, on every path, and cannot create or join channels', async () => {
    const { owner, guest, workspaceId } = await roles();
    const open = await channelWith(server, workspaceId, owner);
    const theirs = await channelWith(server, workspaceId, owner, [guest]);
    expect(await channelIdsOf(workspaceId, guest)).toEqual([theirs]);
    expect(await channelIdsOf(workspaceId, owner)).toEqual(expect.arrayContaining([open, theirs]));
    await refused(server, 'NOT_FOUND', ChannelDocument, { id: open }, guest.token);
    await refused(server, 'NOT_FOUND', JoinChannelDocument, { channelId: open }, guest.token);
    await refused(server, 'FORBIDDEN', CreateChannelDocument, { input: { workspaceId, name: 'guest-made' } }, guest.token);
    const sub = subscribe(connect(server, guest.token), ChannelEventsDocument, { channelId: open });
    expect(JSON.stringify(await sub.waitForError())).toContain('NOT_FOUND');
    await ok(server, ChannelDocument, { id: theirs }, guest.token);
    await sendText(server, guest.token, theirs, 'hello from a guest');
  });

  it('lose the public channels they had not joined, and open streams of them end, when made guests', async () => {
    const { owner, member, workspaceId } = await roles();
    const open = await channelWith(server, workspaceId, owner);
    const sub = subscribe(connect(server, member.token), ChannelEventsDocument, { channelId: open });
    await waitForSubscribers(server, open);
    await setRole(workspaceId, owner, member, 'GUEST');
    expect(JSON.stringify(await sub.waitForError())).toContain('FORBIDDEN');
    await refused(server, 'NOT_FOUND', ChannelDocument, { id: open }, member.token);
  });
});

describe(`channel administration (${backendName})`, () => {
  it('changes topic and purpose for members, name and privacy for admins and the creator, as CHANNEL_UPDATED events', async () => {
    const { owner, admin, member, outsider, workspaceId } = await roles();
    const channelId = await channelWith(server, workspaceId, member, [owner], { name: 'Design' });
    await channelWith(server, workspaceId, owner, [], { name: 'Taken' });
    const events = subscribe(connect(server, owner.token), ChannelEventsDocument, { channelId });
    await waitForSubscribers(server, channelId);
    const update = (input: Record<string, unknown>, user: TestUser) =>
      ok(server, UpdateChannelDocument, { input: { channelId, ...input } }, user.token).then((r) => r.updateChannel);
    expect(await update({ topic: 'Q4 launch', purpose: 'Design reviews' }, owner)).toMatchObject({ topic: 'Q4 launch', purpose: 'Design reviews' });
    await refused(server, 'FORBIDDEN', UpdateChannelDocument, { input: { channelId, topic: 'x' } }, admin.token); // not a member yet
    await ok(server, JoinChannelDocument, { channelId }, admin.token);
    expect(await update({ name: 'design-team' }, admin)).toMatchObject({ name: 'design-team' });
    expect(await update({ name: 'Design' }, member)).toMatchObject({ name: 'Design' }); // the creator
    await refused(server, 'CONFLICT', UpdateChannelDocument, { input: { channelId, name: 'TAKEN' } }, member.token);
    await refused(server, 'CONFLICT', CreateChannelDocument, { input: { workspaceId, name: 'design' } }, owner.token);
    await refused(server, 'BAD_USER_INPUT', UpdateChannelDocument, { input: { channelId, topic: 'x'.repeat(251) } }, member.token);
    await refused(server, 'NOT_FOUND', UpdateChannelDocument, { input: { channelId, topic: 'x' } }, outsider.token);
    expect(await update({ private: true, topic: '' }, member)).toMatchObject({ private: true, topic: null });
    await refused(server, 'BAD_USER_INPUT', UpdateChannelDocument, { input: { channelId, private: false } }, owner.token);
    await events.waitFor(
      () => events.events.filter((e) => e.channelEvents.type === 'CHANNEL_UPDATED').length === 4,
      'four CHANNEL_UPDATED events',
    );
    const seqs = events.events.map((e) => e.channelEvents.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(events.events.filter((e) => e.channelEvents.type === 'CHANNEL_UPDATED').map((e) => e.channelEvents.user?.id)).toEqual([
      owner.id,
      admin.id,
      member.id,
      member.id,
    ]);
  });

  it('refuses renaming and privacy changes by other members', async () => {
    const { owner, member, guest, workspaceId } = await roles();
    const channelId = await channelWith(server, workspaceId, owner, [member, guest]);
    await refused(server, 'FORBIDDEN', UpdateChannelDocument, { input: { channelId, name: 'mine' } }, member.token);
    await refused(server, 'FORBIDDEN', UpdateChannelDocument, { input: { channelId, private: true } }, guest.token);
    await ok(server, UpdateChannelDocument, { input: { channelId, topic: 'guests may set topics' } }, guest.token);
  });

  it('names a group conversation; a direct one has no name', async () => {
    const { owner, member, guest, workspaceId } = await roles();
    const group = await ok(server, OpenDirectMessageDocument, { input: { workspaceId, userIds: [member.id, guest.id] } }, owner.token);
    const direct = await ok(server, OpenDirectMessageDocument, { input: { workspaceId, userIds: [member.id] } }, owner.token);
    const { updateChannel } = await ok(server, UpdateChannelDocument, { input: { channelId: group.openDirectMessage.id, name: 'Launch crew' } }, guest.token);
    expect(updateChannel.name).toBe('Launch crew');
    await refused(server, 'BAD_USER_INPUT', UpdateChannelDocument, { input: { channelId: direct.openDirectMessage.id, name: 'Us' } }, owner.token);
    await refused(server, 'BAD_USER_INPUT', ArchiveChannelDocument, { channelId: group.openDirectMessage.id }, owner.token);
  });

  it('archives a channel read-only: sends, edits, reactions and typing are refused until it is unarchived', async () => {
    const { owner, admin, member, outsider, workspaceId } = await roles();
    const channelId = await channelWith(server, workspaceId, member, [owner]);
    const message = await sendText(server, owner.token, channelId, 'before the archive');
    await refused(server, 'NOT_FOUND', ArchiveChannelDocument, { channelId }, outsider.token);
    const { archiveChannel } = await ok(server, ArchiveChannelDocument, { channelId }, member.token);
    expect(archiveChannel.archivedAt).not.toBeNull();
    const archived = await refused(server, 'FORBIDDEN', SendMessageDocument, { input: { channelId, text: 'after' } }, owner.token);
    expect(archived.extensions?.reason).toBe('CHANNEL_ARCHIVED');
    await refused(server, 'FORBIDDEN', EditMessageDocument, { input: { messageId: message.id, text: 'edited' } }, owner.token);
    await refused(server, 'FORBIDDEN', AddReactionDocument, { messageId: message.id, emoji: '👍' }, owner.token);
    await refused(server, 'FORBIDDEN', SetTypingDocument, { channelId }, owner.token);
    const { channel } = await ok(server, ChannelMessagesDocument, { id: channelId, first: 10 }, owner.token);
    expect(channel!.messages.edges.map((e) => e.node.text)).toEqual(['before the archive']);
    await ok(server, UnarchiveChannelDocument, { channelId }, admin.token);
    await sendText(server, owner.token, channelId, 'after the archive');
    const { channel: settings } = await ok(server, ChannelSettingsOfDocument, { id: channelId }, owner.token);
    expect(settings!.archivedAt).toBeNull();
  });

  it('tells the inbox: CHANNEL_UPDATED on a change, CHANNEL_REMOVED on removal', async () => {
    const { owner, member, workspaceId } = await roles();
    const channelId = await channelWith(server, workspaceId, owner, [member]);
    const inbox = subscribe(connect(server, member.token), InboxDocument, {});
    await inbox.waitFor((e) => e.inbox.type === 'INITIAL' && e.inbox.channel?.id === channelId, 'the channel in the inbox');
    await ok(server, UpdateChannelDocument, { input: { channelId, name: 'renamed-for-inbox' } }, owner.token);
    const updated = await inbox.waitFor((e) => e.inbox.type === 'CHANNEL_UPDATED', 'CHANNEL_UPDATED in the inbox');
    expect(updated.inbox.channel).toMatchObject({ id: channelId, name: 'renamed-for-inbox' });
    await ok(server, RemoveChannelMembersDocument, { channelId, userIds: [member.id] }, owner.token);
    await inbox.waitFor((e) => e.inbox.type === 'CHANNEL_REMOVED' && e.inbox.channel?.id === channelId, 'CHANNEL_REMOVED in the inbox');
  });

  it('lets only workspace owners and admins and the creator archive or remove members', async () => {
    const { owner, member, guest, workspaceId } = await roles();
    const channelId = await channelWith(server, workspaceId, owner, [member, guest]);
    await refused(server, 'FORBIDDEN', ArchiveChannelDocument, { channelId }, member.token);
    await refused(server, 'FORBIDDEN', UnarchiveChannelDocument, { channelId }, guest.token);
    await refused(server, 'FORBIDDEN', RemoveChannelMembersDocument, { channelId, userIds: [guest.id] }, member.token);
    await refused(server, 'BAD_USER_INPUT', RemoveChannelMembersDocument, { channelId, userIds: [] }, owner.token);
  });
});

describe(`losing access ends open streams at once (${backendName})`, () => {
  it('ends a removed member’s channelEvents, messageAdded and typing streams with FORBIDDEN', async () => {
    const { owner, admin, member, workspaceId } = await roles();
    const channelId = await channelWith(server, workspaceId, owner, [member, admin], { private: true });
    const client = connect(server, member.token);
    const events = subscribe(client, ChannelEventsDocument, { channelId });
    const added = subscribe(client, MessageAddedDocument, { channelId });
    const typing = subscribe(client, TypingDocument, { channelId });
    const watcher = subscribe(connect(server, owner.token), ChannelEventsDocument, { channelId });
    await waitForSubscribers(server, channelId, 4);
    await waitForTopic(server, topics.typing(decodeId(channelId).id));
    await ok(server, RemoveChannelMembersDocument, { channelId, userIds: [member.id] }, admin.token);
    for (const sub of [events, added, typing]) expect(JSON.stringify(await sub.waitForError())).toContain('FORBIDDEN');
    const left = await watcher.waitFor((e) => e.channelEvents.type === 'MEMBER_LEFT', 'MEMBER_LEFT');
    expect(left.channelEvents.user?.id).toBe(member.id);
    await refused(server, 'NOT_FOUND', ChannelDocument, { id: channelId }, member.token);
  });

  it('ends the streams of someone removed from the workspace, public channels and presence included', async () => {
    const { owner, member, workspaceId } = await roles();
    const joined = await channelWith(server, workspaceId, owner, [member]);
    const open = await channelWith(server, workspaceId, owner);
    const client = connect(server, member.token);
    const onJoined = subscribe(client, ChannelEventsDocument, { channelId: joined });
    const onOpen = subscribe(client, MessageAddedDocument, { channelId: open });
    const presence = subscribe(client, PresenceChangedDocument, { workspaceId });
    await waitForSubscribers(server, joined);
    await waitForSubscribers(server, open);
    await waitForTopic(server, topics.presence(decodeId(workspaceId).id));
    await ok(server, RemoveWorkspaceMemberDocument, { workspaceId, userId: member.id }, owner.token);
    for (const sub of [onJoined, onOpen, presence]) expect(JSON.stringify(await sub.waitForError())).toContain('FORBIDDEN');
  });

  it('ends non-members’ streams of a public channel made private', async () => {
    const { owner, member, workspaceId } = await roles();
    const channelId = await channelWith(server, workspaceId, owner);
    const sub = subscribe(connect(server, member.token), ChannelEventsDocument, { channelId });
    await waitForSubscribers(server, channelId);
    await ok(server, UpdateChannelDocument, { input: { channelId, private: true } }, owner.token);
    expect(JSON.stringify(await sub.waitForError())).toContain('FORBIDDEN');
  });
});

describe.skipIf(skipWithoutSharedServices)(
  `losing access across instances${skipWithoutSharedServices ? ` (${skipWithoutSharedServices})` : ''}`,
  () => {
    let b: Instance;
    let redis: Redis;

    beforeAll(async () => {
      b = await startInstance('b');
      redis = new Redis(sharedServices.redisUrl!);
    }, 60_000);

    afterAll(() => {
      redis?.disconnect();
    });

    it('ends streams on another instance when a member is removed from a channel or the workspace', async () => {
      const { owner, admin, member, workspaceId } = await roles();
      const channelId = await channelWith(server, workspaceId, owner, [member]);
      const open = await channelWith(server, workspaceId, owner);
      const client = connect(b, member.token);
      const events = subscribe(client, ChannelEventsDocument, { channelId });
      const onOpen = subscribe(client, MessageAddedDocument, { channelId: open });
      const inRedis = (topic: string) => `${testConfig().redisKeyPrefix}${topic}`;
      await until(async () => {
        const [, joined, , opened] = (await redis.pubsub('NUMSUB', inRedis(channelTopic(channelId)), inRedis(channelTopic(open)))) as [
          string,
          number,
          string,
          number,
        ];
        return Number(joined) >= 1 && Number(opened) >= 1;
      }, 'instance b to subscribe in Redis', 20_000);
      // Listening in Redis comes first; then each stream reads where it starts.
      await subscriptionsOpened(b);
      await ok(server, RemoveChannelMembersDocument, { channelId, userIds: [member.id] }, admin.token);
      expect(JSON.stringify(await events.waitForError(15_000))).toContain('FORBIDDEN');
      expect(onOpen.done).toBe(false);
      await ok(server, RemoveWorkspaceMemberDocument, { workspaceId, userId: member.id }, admin.token);
      expect(JSON.stringify(await onOpen.waitForError(15_000))).toContain('FORBIDDEN');
    }, 60_000);
  },
);
