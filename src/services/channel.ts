import crypto from 'node:crypto';
import { z } from 'zod';
import { prisma } from '../db.ts';
import { badInput, conflict, forbidden, isUniqueViolation, notFound, parseInput } from '../errors.ts';
import type { Channel, Membership, Prisma } from '../generated/prisma/client.ts';
import { requireReadableChannel, requireWorkspaceMember, requireWorkspaceUsers } from './access.ts';
import type { Viewer } from './auth.ts';
import { appendEvents, publishEvents, publishToUsers } from './channelEvent.ts';

/** API.md: a group direct message has at most 100 members, the caller included. */
export const MAX_GROUP_MEMBERS = 100;

const createSchema = z.object({
  workspaceId: z.string(),
  name: z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(80, 'must be at most 80 characters')
    .regex(/^[^\s#][^\n\r\t]*$/, 'must not start with "#" or contain line breaks'),
  private: z.boolean().nullish(),
  memberIds: z.array(z.string()).max(1000, 'add at most 1000 members at once').nullish(),
});

/**
 * Creates a channel in a workspace the viewer belongs to. The creator and
 * `memberIds` (workspace members only) become its members.
 */
export async function createChannel(viewer: Viewer, input: unknown): Promise<Channel> {
  const { workspaceId, name, private: isPrivate, memberIds } = parseInput(createSchema, input);
  await requireWorkspaceMember(viewer, workspaceId);
  const others = [...new Set(memberIds ?? [])].filter((id) => id !== viewer.userId);
  await requireWorkspaceUsers(workspaceId, others);
  const members = [viewer.userId, ...others];
  try {
    return await createWithMembers(
      { workspaceId, kind: 'CHANNEL', name, private: isPrivate ?? false, createdById: viewer.userId },
      members,
    );
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict(`A channel named "${name}" already exists in this workspace.`, 'name');
    throw error;
  }
}

/**
 * Creates a channel with its first members, each with a MEMBER_JOINED event,
 * in one transaction; then publishes and tells the members' inboxes.
 */
async function createWithMembers(data: Prisma.ChannelUncheckedCreateInput, members: string[]): Promise<Channel> {
  const { channel, payloads } = await prisma.$transaction(async (tx) => {
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
  await publishEvents(payloads);
  await publishToUsers(members, { type: 'CHANNEL_ADDED', channelId: channel.id });
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
export async function openDirectMessage(viewer: Viewer, input: unknown): Promise<Channel> {
  const { workspaceId, userIds } = parseInput(dmSchema, input);
  const people = [...new Set([viewer.userId, ...userIds])].sort();
  if (people.length > MAX_GROUP_MEMBERS) {
    throw badInput(`A group conversation has at most ${MAX_GROUP_MEMBERS} people, you included; this one has ${people.length}.`, 'userIds');
  }
  await requireWorkspaceMember(viewer, workspaceId);
  await requireWorkspaceUsers(workspaceId, people);
  // A digest keeps the unique index small whatever the group size.
  const memberKey = crypto.createHash('sha256').update(people.join(',')).digest('hex');
  const existing = await prisma.channel.findUnique({ where: { workspaceId_memberKey: { workspaceId, memberKey } } });
  if (existing) return existing;
  try {
    return await createWithMembers(
      { workspaceId, kind: people.length <= 2 ? 'DIRECT' : 'GROUP', private: true, memberKey, createdById: viewer.userId },
      people,
    );
  } catch (error) {
    // Opened by someone else at the same moment: theirs is the one.
    if (isUniqueViolation(error)) {
      return prisma.channel.findUniqueOrThrow({ where: { workspaceId_memberKey: { workspaceId, memberKey } } });
    }
    throw error;
  }
}

/** A channel the viewer may read, or NOT_FOUND. */
export async function getChannel(viewer: Viewer, channelId: string): Promise<Channel> {
  return (await requireReadableChannel(viewer, channelId)).channel;
}

/** Joins a public channel; joining twice is a no-op. Private channels are invite-only. */
export async function joinChannel(viewer: Viewer, channelId: string): Promise<Channel> {
  const { channel, isMember } = await requireReadableChannel(viewer, channelId);
  if (isMember) return channel;
  await addMembers(channel.id, [viewer.userId]);
  return channel;
}

/** Leaves a channel; false when the viewer was not a member. DMs cannot be left. */
export async function leaveChannel(viewer: Viewer, channelId: string): Promise<boolean> {
  const { channel, isMember } = await requireReadableChannel(viewer, channelId);
  if (channel.kind !== 'CHANNEL') {
    throw badInput('Direct and group conversations cannot be left; their members are fixed.');
  }
  if (!isMember) return false;
  const payloads = await prisma.$transaction(async (tx) => {
    const { count } = await tx.membership.deleteMany({ where: { channelId, userId: viewer.userId } });
    if (count === 0) return [];
    return appendEvents(tx, channelId, [{ type: 'MEMBER_LEFT', userId: viewer.userId }]);
  });
  await publishEvents(payloads);
  await publishToUsers([viewer.userId], { type: 'CHANNEL_REMOVED', channelId });
  return payloads.length > 0;
}

/** Adds workspace members to a channel the viewer belongs to. Existing members are skipped. */
export async function addChannelMembers(viewer: Viewer, channelId: string, userIds: string[]): Promise<Channel> {
  const { channel, isMember } = await requireReadableChannel(viewer, channelId);
  if (channel.kind !== 'CHANNEL') {
    throw badInput('Direct and group conversations have fixed members; open a new one with everyone instead.');
  }
  if (!isMember) throw forbidden('Join the channel before adding others to it.');
  if (userIds.length === 0) throw badInput('Name at least one person to add.', 'userIds');
  if (userIds.length > 1000) throw badInput('Add at most 1000 people at once.', 'userIds');
  await requireWorkspaceUsers(channel.workspaceId, userIds);
  await addMembers(channel.id, userIds);
  return channel;
}

async function addMembers(channelId: string, userIds: string[]): Promise<void> {
  const payloads = await prisma.$transaction(async (tx) => {
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
  await publishEvents(payloads);
  await publishToUsers(
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
export async function updateMembership(viewer: Viewer, input: unknown): Promise<Membership> {
  const { channelId, muted, notify } = parseInput(membershipSchema, input);
  const { isMember } = await requireReadableChannel(viewer, channelId);
  if (!isMember) throw notFound('Membership');
  return prisma.membership.update({
    where: { channelId_userId: { channelId, userId: viewer.userId } },
    data: { ...(muted != null ? { muted } : {}), ...(notify != null ? { notify } : {}) },
  });
}

/**
 * Moves the viewer's read position forward to `messageId` (never back) and
 * emits READ, so other members can show "seen by". For a thread reply it is
 * the viewer's position in that thread (if they follow it) that moves.
 */
export async function markRead(viewer: Viewer, channelId: string, messageId: string): Promise<Membership> {
  const { isMember } = await requireReadableChannel(viewer, channelId);
  if (!isMember) throw notFound('Membership');
  const message = await prisma.message.findUnique({
    where: { id: messageId },
    select: { channelId: true, seq: true, number: true, threadRootId: true, replyNumber: true },
  });
  if (!message || message.channelId !== channelId) throw notFound('Message in this channel');
  const key = { channelId_userId: { channelId, userId: viewer.userId } };
  const { membership, payloads } = await prisma.$transaction(async (tx) => {
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
  await publishEvents(payloads);
  return membership;
}
