import crypto from 'node:crypto';
import { z } from 'zod';
import { badInput, conflict, forbidden, isUniqueViolation, notFound, parseInput } from '../errors.ts';
import type { Channel, Membership, Prisma } from '../generated/prisma/client.ts';
import { displayName } from '../security/text.ts';
import { assertNotArchived, requireReadableChannel, requireWorkspaceMember, requireWorkspaceUsers } from './access.ts';
import { assertNameFree } from './channelSettings.ts';
import type { Viewer } from './auth.ts';
import { markMessageNotificationsRead } from './notifications.ts';
import { appendEvents, publishEvents, publishToUsers } from './eventLog.ts';
import type { Runtime } from '../runtime.ts';

/** API.md: a group direct message has at most 100 members, the caller included. */
export const MAX_GROUP_MEMBERS = 100;

const createSchema = z.object({
  workspaceId: z.string(),
  name: displayName(80).pipe(z.string().regex(/^[^#]/, 'must not start with "#"')),
  private: z.boolean().nullish(),
  memberIds: z.array(z.string()).max(1000, 'add at most 1000 members at once').nullish(),
});

/**
 * Creates a channel in a workspace the viewer belongs to. The creator and
 * `memberIds` (workspace members only) become its members.
 */
export async function createChannel(rt: Runtime, viewer: Viewer, input: unknown): Promise<Channel> {
  const { workspaceId, name, private: isPrivate, memberIds } = parseInput(createSchema, input);
  const { role } = await requireWorkspaceMember(rt, viewer, workspaceId);
  if (role === 'GUEST') throw forbidden('Guests cannot create channels; ask a member to add you to one.');
  await assertNameFree(rt.prisma, workspaceId, name);
  const others = [...new Set(memberIds ?? [])].filter((id) => id !== viewer.userId);
  await requireWorkspaceUsers(rt, workspaceId, others);
  const members = [viewer.userId, ...others];
  try {
    return await createWithMembers(rt, 
      { workspaceId, kind: 'CHANNEL', name, private: isPrivate ?? false, createdById: viewer.userId },
      members,
    );
  } catch (error) {
    // Names are unique in the workspace, private channels included (as in Slack). The answer is the
    // same whoever holds the name, so it never tells a non-member that a private channel exists or is private.
    if (isUniqueViolation(error)) throw conflict(`The name "${name}" is not available in this workspace; choose another.`, 'name');
    throw error;
  }
}

/**
 * Creates a channel with its first members, each with a MEMBER_JOINED event,
 * in one transaction; then publishes and tells the members' inboxes.
 */
async function createWithMembers(rt: Runtime, data: Prisma.ChannelUncheckedCreateInput, members: string[]): Promise<Channel> {
  const { channel, payloads } = await rt.prisma.$transaction(async (tx) => {
    const channel = await tx.channel.create({
      data: { ...data, memberships: { createMany: { data: members.map((userId) => ({ userId })) } } },
    });
    const payloads = await appendEvents(
      tx,
      channel.id,
      members.map((userId) => ({ type: 'MEMBER_JOINED', userId })),
    );
    return { channel, payloads };
  });
  await publishEvents(rt, payloads);
  await publishToUsers(rt, members, { type: 'CHANNEL_ADDED', channelId: channel.id });
  return channel;
}

const dmSchema = z.object({
  workspaceId: z.string(),
  userIds: z.array(z.string()).min(1, 'name at least one person'),
});

/**
 * Opens the direct (one other person) or group (more) conversation among the
 * viewer and `userIds`. The same set of people always gets the same channel.
 */
export async function openDirectMessage(rt: Runtime, viewer: Viewer, input: unknown): Promise<Channel> {
  const { workspaceId, userIds } = parseInput(dmSchema, input);
  const people = [...new Set([viewer.userId, ...userIds])].sort();
  if (people.length > MAX_GROUP_MEMBERS) {
    throw badInput(`A group conversation has at most ${MAX_GROUP_MEMBERS} people, you included; this one has ${people.length}.`, 'userIds');
  }
  await requireWorkspaceMember(rt, viewer, workspaceId);
  await requireWorkspaceUsers(rt, workspaceId, people);
  // A digest keeps the unique index small whatever the group size.
  const memberKey = crypto.createHash('sha256').update(people.join(',')).digest('hex');
  const existing = await rt.prisma.channel.findUnique({ where: { workspaceId_memberKey: { workspaceId, memberKey } } });
  if (existing) return existing;
  try {
    return await createWithMembers(rt, 
      { workspaceId, kind: people.length <= 2 ? 'DIRECT' : 'GROUP', private: true, memberKey, createdById: viewer.userId },
      people,
    );
  } catch (error) {
    // Opened by someone else at the same moment: theirs is the one.
    if (isUniqueViolation(error)) {
      return rt.prisma.channel.findUniqueOrThrow({ where: { workspaceId_memberKey: { workspaceId, memberKey } } });
    }
    throw error;
  }
}

/** A channel the viewer may read, or NOT_FOUND. */
export async function getChannel(rt: Runtime, viewer: Viewer, channelId: string): Promise<Channel> {
  return (await requireReadableChannel(rt, viewer, channelId)).channel;
}

/** Joins a public channel; joining twice is a no-op. Private channels are invite-only. */
export async function joinChannel(rt: Runtime, viewer: Viewer, channelId: string): Promise<Channel> {
  const { channel, isMember } = await requireReadableChannel(rt, viewer, channelId);
  if (isMember) return channel;
  assertNotArchived(channel);
  await addMembers(rt, channel.id, [viewer.userId]);
  return channel;
}

/** Leaves a channel; false when the viewer was not a member. DMs cannot be left. */
export async function leaveChannel(rt: Runtime, viewer: Viewer, channelId: string): Promise<boolean> {
  const { channel, isMember } = await requireReadableChannel(rt, viewer, channelId);
  if (channel.kind !== 'CHANNEL') {
    throw badInput('Direct and group conversations cannot be left; their members are fixed.');
  }
  if (!isMember) return false;
  const payloads = await rt.prisma.$transaction(async (tx) => {
    const { count } = await tx.membership.deleteMany({ where: { channelId, userId: viewer.userId } });
    if (count === 0) return [];
    return appendEvents(tx, channelId, [{ type: 'MEMBER_LEFT', userId: viewer.userId }]);
  });
  await publishEvents(rt, payloads);
  await publishToUsers(rt, [viewer.userId], { type: 'CHANNEL_REMOVED', channelId });
  return payloads.length > 0;
}

/** Adds workspace members to a channel the viewer belongs to. Existing members are skipped. */
export async function addChannelMembers(rt: Runtime, viewer: Viewer, channelId: string, userIds: string[]): Promise<Channel> {
  const { channel, isMember, role } = await requireReadableChannel(rt, viewer, channelId);
  if (channel.kind !== 'CHANNEL') {
    throw badInput('Direct and group conversations have fixed members; open a new one with everyone instead.');
  }
  if (!isMember) throw forbidden('Join the channel before adding others to it.');
  if (role === 'GUEST') throw forbidden('Guests cannot add people to channels.');
  assertNotArchived(channel);
  if (userIds.length === 0) throw badInput('Name at least one person to add.', 'userIds');
  if (userIds.length > 1000) throw badInput('Add at most 1000 people at once.', 'userIds');
  await requireWorkspaceUsers(rt, channel.workspaceId, userIds);
  await addMembers(rt, channel.id, userIds);
  return channel;
}

async function addMembers(rt: Runtime, channelId: string, userIds: string[]): Promise<void> {
  const payloads = await rt.prisma.$transaction(async (tx) => {
    const existing = await tx.membership.findMany({
      where: { channelId, userId: { in: userIds } },
      select: { userId: true },
    });
    const have = new Set(existing.map((m) => m.userId));
    const added = [...new Set(userIds)].filter((id) => !have.has(id));
    if (added.length === 0) return [];
    // New members start with everything before they joined marked read.
    const { messageCount, lastSeq } = await tx.channel.findUniqueOrThrow({
      where: { id: channelId },
      select: { messageCount: true, lastSeq: true },
    });
    await tx.membership.createMany({
      data: added.map((userId) => ({ channelId, userId, lastReadNumber: messageCount, lastReadSeq: lastSeq })),
      skipDuplicates: true,
    });
    return appendEvents(tx, channelId, added.map((userId) => ({ type: 'MEMBER_JOINED' as const, userId })));
  });
  await publishEvents(rt, payloads);
  await publishToUsers(rt, 
    payloads.map((p) => p.userId!),
    { type: 'CHANNEL_ADDED', channelId },
  );
}

const membershipSchema = z.object({
  channelId: z.string(),
  muted: z.boolean().nullish(),
  notify: z.enum(['ALL', 'MENTIONS', 'NONE']).nullish(),
});

/** Changes the viewer's own settings for a channel they belong to. */
export async function updateMembership(rt: Runtime, viewer: Viewer, input: unknown): Promise<Membership> {
  const { channelId, muted, notify } = parseInput(membershipSchema, input);
  const { isMember } = await requireReadableChannel(rt, viewer, channelId);
  if (!isMember) throw notFound('Membership');
  return rt.prisma.membership.update({
    where: { channelId_userId: { channelId, userId: viewer.userId } },
    data: { ...(muted != null ? { muted } : {}), ...(notify != null ? { notify } : {}) },
  });
}

/**
 * Moves the viewer's read position forward to `messageId` (never back) and
 * emits READ, so other members can show "seen by". For a thread reply it is
 * the viewer's position in that thread (if they follow it) that moves.
 */
export async function markRead(rt: Runtime, viewer: Viewer, channelId: string, messageId: string): Promise<Membership> {
  const { isMember } = await requireReadableChannel(rt, viewer, channelId);
  if (!isMember) throw notFound('Membership');
  const message = await rt.prisma.message.findUnique({
    where: { id: messageId },
    select: { channelId: true, seq: true, number: true, threadRootId: true, replyNumber: true },
  });
  if (!message || message.channelId !== channelId) throw notFound('Message in this channel');
  const key = { channelId_userId: { channelId, userId: viewer.userId } };
  const { membership, payloads } = await rt.prisma.$transaction(async (tx) => {
    // Conditional updates keep the furthest position when marks race.
    const { count } = message.threadRootId
      ? await tx.threadMembership.updateMany({
          where: { rootId: message.threadRootId, userId: viewer.userId, lastReadReplyNumber: { lt: message.replyNumber ?? 0 } },
          data: { lastReadReplyNumber: message.replyNumber ?? 0 },
        })
      : await tx.membership.updateMany({
          where: { channelId, userId: viewer.userId, lastReadNumber: { lt: message.number ?? 0 } },
          data: { lastReadNumber: message.number ?? 0, lastReadSeq: message.seq },
        });
    const payloads =
      count > 0
        ? await appendEvents(tx, channelId, [
            {
              type: 'READ',
              messageId,
              userId: viewer.userId,
              number: message.number,
              threadRootId: message.threadRootId,
              replyNumber: message.replyNumber,
            },
          ])
        : [];
    return { membership: await tx.membership.findUniqueOrThrow({ where: key }), payloads };
  });
  await publishEvents(rt, payloads);
  await markMessageNotificationsRead(rt, viewer.userId, message);
  return membership;
}
