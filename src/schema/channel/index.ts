import { checkCursorArity } from '../../security/cursors.ts';
import { builder } from '../../builder.ts';
import type { Context } from '../../context.ts';
import { messagePage } from '../message/history.ts';
import { MessageRef } from '../message/index.ts';
import {
  addChannelMembers,
  createChannel,
  getChannel,
  joinChannel,
  leaveChannel,
  markRead,
  openDirectMessage,
  updateMembership,
} from '../../services/channel.ts';
import { archiveChannel, removeChannelMembers, unarchiveChannel, updateChannel } from '../../services/channelSettings.ts';
import { parseId, parseIds } from '../ids.ts';

const ChannelKindRef = builder.enumType('ChannelKind', {
  values: {
    CHANNEL: { description: 'A named channel, public or private.' },
    DIRECT: { description: 'A direct conversation between two people (or one, with themself).' },
    GROUP: { description: 'A group conversation among 3 to 100 people.' },
  } as const,
});

const NotifyLevelRef = builder.enumType('NotifyLevel', { values: ['ALL', 'MENTIONS', 'NONE'] as const });

/**
 * Members' read positions (null for a non-member), one query for all the
 * channels and people a request asks about, or, in a subscription, for every
 * subscriber of one event (the batch is the event's).
 */
const readPositions = (ctx: Context) =>
  ctx.batch.loader<string, number | null>('readPositions', async (keys) => {
    const pairs = keys.map((key) => key.split(':') as [string, string]);
    const rows = await ctx.rt.prisma.membership.findMany({
      where: { channelId: { in: [...new Set(pairs.map(([c]) => c))] }, userId: { in: [...new Set(pairs.map(([, u]) => u))] } },
      select: { channelId: true, userId: true, lastReadNumber: true },
    });
    const found = new Map(rows.map((row) => [`${row.channelId}:${row.userId}`, row.lastReadNumber]));
    return keys.map((key) => found.get(key) ?? null);
  });

/**
 * Deleted top-level messages after a read position (`<channelId>:<lastReadNumber>`),
 * which unread counts leave out: one statement per batch, over the index of
 * each channel's deleted messages.
 */
const deletedAfter = (ctx: Context) =>
  ctx.batch.loader<string, number>('deletedAfter', async (keys) => {
    const pairs = keys.map((key) => key.split(':') as [string, string]);
    const rows = await ctx.rt.prisma.$queryRaw<{ key: string; deleted: number }[]>`
      SELECT p.channel_id::text || ':' || p.after AS key, count(m.id)::int AS deleted
        FROM unnest(${pairs.map(([c]) => c)}::uuid[], ${pairs.map(([, n]) => Number(n))}::int[]) AS p(channel_id, after)
        JOIN "Message" m ON m."channelId" = p.channel_id AND m."deletedAt" IS NOT NULL AND m.number > p.after
       GROUP BY p.channel_id, p.after`;
    const found = new Map(rows.map((row) => [row.key, row.deleted]));
    return keys.map((key) => found.get(key) ?? 0);
  });

/**
 * Unread top-level messages: the channel's counter minus the member's read
 * position, less the messages deleted since.
 */
const unread = async (ctx: Context, channelId: string, messageCount: number, lastReadNumber: number) => {
  if (messageCount <= lastReadNumber) return 0;
  const deleted = await deletedAfter(ctx).load(`${channelId}:${lastReadNumber}`);
  return Math.max(0, messageCount - lastReadNumber - deleted);
};

export const MembershipRef = builder.prismaObject('Membership', {
  fields: (t) => ({
    user: t.relation('user'),
    channel: t.relation('channel'),
    muted: t.exposeBoolean('muted'),
    notify: t.expose('notify', { type: NotifyLevelRef }),
    joinedAt: t.expose('joinedAt', { type: 'DateTime' }),
    lastReadAt: t.expose('lastReadAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When this member last moved their read position forward (markRead, posting, joining); null before they have read anything.',
    }),
    unreadCount: t.int({
      select: { lastReadNumber: true, channelId: true, channel: { select: { messageCount: true } } },
      resolve: (m, _args, ctx) => unread(ctx, m.channelId, m.channel.messageCount, m.lastReadNumber),
    }),
    mentionCount: t.int({
      description: 'Unread top-level messages that @-mention this member.',
      select: { lastReadNumber: true, userId: true, channelId: true },
      resolve: (m, _args, ctx) =>
        ctx.rt.prisma.mention.count({
          where: { userId: m.userId, channelId: m.channelId, number: { gt: m.lastReadNumber } },
        }),
    }),
  }),
});

export const ChannelRef = builder.prismaNode('Channel', {
  id: { field: 'id' },
  fields: (t) => ({
    name: t.exposeString('name', { nullable: true, description: 'Null for direct and group messages.' }),
    kind: t.expose('kind', { type: ChannelKindRef }),
    private: t.exposeBoolean('private', { description: 'Direct and group messages are always private.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    topic: t.exposeString('topic', { nullable: true }),
    purpose: t.exposeString('purpose', { nullable: true }),
    archivedAt: t.expose('archivedAt', {
      type: 'DateTime',
      nullable: true,
      description: 'Set while the channel is archived: readable, but sends, edits, reactions and typing are refused.',
    }),
    workspace: t.relation('workspace'),
    members: t.relatedConnection('memberships', {
      cursor: 'channelId_userId',
      query: (args) => {
        checkCursorArity(args, 2);
        return { orderBy: { userId: 'asc' } };
      },
    }),
    messages: t.connection({
      type: MessageRef,
      description:
        'Top-level messages (thread replies are under Message.replies), oldest first within a page. `last: N` is the newest N; `before` scrolls back.',
      resolve: (channel, args, ctx, info) => messagePage(ctx, info, { channelId: channel.id, threadRootId: null }, args),
    }),
    unreadCount: t.int({
      description: "Top-level messages after the caller's read position; 0 when not a member.",
      resolve: async (channel, _args, ctx) => {
        const viewer = ctx.viewer;
        if (!viewer) return 0;
        const lastRead = await readPositions(ctx).load(`${channel.id}:${viewer.userId}`);
        return lastRead === null ? 0 : unread(ctx, channel.id, channel.messageCount, lastRead);
      },
    }),
    myMembership: t.field({
      type: MembershipRef,
      nullable: true,
      description: "The caller's membership, or null when they have not joined.",
      select: (_args, ctx, nestedSelection) => ({
        memberships: { ...nestedSelection(true), where: { userId: ctx.viewer?.userId ?? '' } },
      }),
      resolve: (channel) => channel.memberships[0] ?? null,
    }),
  }),
});

const CreateChannelInput = builder.inputType('CreateChannelInput', {
  fields: (t) => ({
    workspaceId: t.id({ required: true }),
    name: t.string({ required: true, description: '1 to 80 characters; unique in the workspace.' }),
    private: t.boolean({ description: 'Private channels are visible to their members only. Default false.' }),
    memberIds: t.idList({ description: 'Workspace members to add besides the creator.' }),
  }),
});

const OpenDirectMessageInput = builder.inputType('OpenDirectMessageInput', {
  fields: (t) => ({
    workspaceId: t.id({ required: true }),
    userIds: t.idList({
      required: true,
      description: 'The other people: one gives a DIRECT channel, more a GROUP (at most 100 people, you included).',
    }),
  }),
});

const UpdateChannelInput = builder.inputType('UpdateChannelInput', {
  fields: (t) => ({
    channelId: t.id({ required: true }),
    name: t.string({ description: 'Channels: owners, admins and the creator; unique case-insensitively. Group conversations: any member.' }),
    topic: t.string({ description: 'Any member; "" clears it. At most 250 characters.' }),
    purpose: t.string({ description: 'Any member; "" clears it. At most 250 characters.' }),
    private: t.boolean({ description: 'true makes a public channel private (owners, admins, the creator); false is refused.' }),
  }),
});

const UpdateMembershipInput = builder.inputType('UpdateMembershipInput', {
  fields: (t) => ({
    channelId: t.id({ required: true }),
    muted: t.boolean(),
    notify: t.field({ type: NotifyLevelRef }),
  }),
});

builder.queryField('channel', (t) =>
  t.withAuth({ loggedIn: true }).prismaField({
    type: 'Channel',
    nullable: true,
    description: 'NOT_FOUND unless the caller may read the channel.',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (query, _root, { id }, ctx) => {
      const channel = await getChannel(ctx.rt, ctx.viewer, parseId('Channel', id));
      // The access check read the whole row: read again only for relations the selection includes.
      const wanted = query as { include?: object; select?: object };
      if (!wanted.select && (!wanted.include || Object.keys(wanted.include).length === 0)) return channel;
      return ctx.rt.prisma.channel.findUniqueOrThrow({ ...query, where: { id: channel.id } });
    },
  }),
);

builder.mutationFields((t) => ({
  createChannel: t.withAuth({ loggedIn: true }).field({
    type: ChannelRef,
    args: { input: t.arg({ type: CreateChannelInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      createChannel(ctx.rt, ctx.viewer, {
        ...input,
        workspaceId: parseId('Workspace', input.workspaceId),
        memberIds: input.memberIds ? parseIds('User', input.memberIds) : null,
      }),
  }),
  openDirectMessage: t.withAuth({ loggedIn: true }).field({
    type: ChannelRef,
    description: 'The same set of people again returns the same channel.',
    args: { input: t.arg({ type: OpenDirectMessageInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      openDirectMessage(ctx.rt, ctx.viewer, {
        workspaceId: parseId('Workspace', input.workspaceId),
        userIds: parseIds('User', input.userIds),
      }),
  }),
  joinChannel: t.withAuth({ loggedIn: true }).field({
    type: ChannelRef,
    description: 'Public channels only; joining twice is a no-op.',
    args: { channelId: t.arg.id({ required: true }) },
    resolve: (_root, { channelId }, ctx) => joinChannel(ctx.rt, ctx.viewer, parseId('Channel', channelId)),
  }),
  leaveChannel: t.withAuth({ loggedIn: true }).boolean({
    description: 'False when the caller was not a member.',
    args: { channelId: t.arg.id({ required: true }) },
    resolve: (_root, { channelId }, ctx) => leaveChannel(ctx.rt, ctx.viewer, parseId('Channel', channelId)),
  }),
  addChannelMembers: t.withAuth({ loggedIn: true }).field({
    type: ChannelRef,
    args: { channelId: t.arg.id({ required: true }), userIds: t.arg.idList({ required: true }) },
    resolve: (_root, { channelId, userIds }, ctx) =>
      addChannelMembers(ctx.rt, ctx.viewer, parseId('Channel', channelId), parseIds('User', userIds)),
  }),
  updateChannel: t.withAuth({ loggedIn: true }).field({
    type: ChannelRef,
    description: 'Each change is a CHANNEL_UPDATED event.',
    args: { input: t.arg({ type: UpdateChannelInput, required: true }) },
    resolve: (_root, { input }, ctx) => updateChannel(ctx.rt, ctx.viewer, { ...input, channelId: parseId('Channel', input.channelId) }),
  }),
  archiveChannel: t.withAuth({ loggedIn: true }).field({
    type: ChannelRef,
    description: 'Owners, admins and the creator. The channel becomes read-only (a CHANNEL_UPDATED event).',
    args: { channelId: t.arg.id({ required: true }) },
    resolve: (_root, { channelId }, ctx) => archiveChannel(ctx.rt, ctx.viewer, parseId('Channel', channelId)),
  }),
  unarchiveChannel: t.withAuth({ loggedIn: true }).field({
    type: ChannelRef,
    description: 'Owners, admins and the creator (a CHANNEL_UPDATED event).',
    args: { channelId: t.arg.id({ required: true }) },
    resolve: (_root, { channelId }, ctx) => unarchiveChannel(ctx.rt, ctx.viewer, parseId('Channel', channelId)),
  }),
  removeChannelMembers: t.withAuth({ loggedIn: true }).field({
    type: ChannelRef,
    description: 'Owners, admins and the creator. A MEMBER_LEFT event each; the removed people’s open streams end with FORBIDDEN.',
    args: { channelId: t.arg.id({ required: true }), userIds: t.arg.idList({ required: true }) },
    resolve: (_root, { channelId, userIds }, ctx) =>
      removeChannelMembers(ctx.rt, ctx.viewer, parseId('Channel', channelId), parseIds('User', userIds)),
  }),
  markRead: t.withAuth({ loggedIn: true }).field({
    type: MembershipRef,
    description: 'Moves your read position forward to this message (never back) and emits READ.',
    args: { channelId: t.arg.id({ required: true }), messageId: t.arg.id({ required: true }) },
    resolve: (_root, { channelId, messageId }, ctx) =>
      markRead(ctx.rt, ctx.viewer, parseId('Channel', channelId), parseId('Message', messageId)),
  }),
  updateMembership: t.withAuth({ loggedIn: true }).field({
    type: MembershipRef,
    args: { input: t.arg({ type: UpdateMembershipInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      updateMembership(ctx.rt, ctx.viewer, { ...input, channelId: parseId('Channel', input.channelId) }),
  }),
}));
