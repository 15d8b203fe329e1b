import { z } from 'zod';
import { badInput, conflict, forbidden, isUniqueViolation, notFound, parseInput } from '../errors.ts';
import type { Channel, Prisma } from '../generated/prisma/client.ts';
import { displayName } from '../security/text.ts';
import { isAdminRole, requireReadableChannel, type ChannelAccess } from './access.ts';
import type { Viewer } from './auth.ts';
import { appendEvents, publishEvents, publishToUsers, type Tx } from './eventLog.ts';
import type { Runtime } from '../runtime.ts';

/*
 * Channel administration: settings, archiving and removing members. Every
 * change is a channel event (CHANNEL_UPDATED, MEMBER_LEFT) in the channel's
 * total order, so streams and the inbox see it like any other change.
 */

const channelName = displayName(80).pipe(z.string().regex(/^[^#]/, 'must not start with "#"'));
/** Topic and purpose: one line each, may be cleared with "". */
const settingText = (max: number) =>
  z.union([z.literal('').transform(() => null), displayName(max)]);

const updateSchema = z.object({
  channelId: z.string(),
  name: channelName.nullish(),
  topic: settingText(250).nullish(),
  purpose: settingText(250).nullish(),
  private: z.boolean().nullish(),
});

/** Workspace owners and admins, and the channel's creator, administer a channel. */
function canAdminister(viewer: Viewer, access: ChannelAccess): boolean {
  return isAdminRole(access.role) || access.channel.createdById === viewer.userId;
}

/**
 * Throws CONFLICT when another channel of the workspace has this name, compared
 * case-insensitively. The answer is the same whoever holds the name, so it
 * does not reveal private channels.
 */
export async function assertNameFree(db: Tx | Runtime['prisma'], workspaceId: string, name: string, exceptId?: string): Promise<void> {
  const taken = await db.channel.findFirst({
    where: { workspaceId, name: { equals: name, mode: 'insensitive' }, ...(exceptId ? { id: { not: exceptId } } : {}) },
    select: { id: true },
  });
  if (taken) throw conflict(`The name "${name}" is not available in this workspace; choose another.`, 'name');
}

/** Applies `data` to the channel and records CHANNEL_UPDATED by the viewer, then publishes. */
async function changeChannel(rt: Runtime, viewer: Viewer, channelId: string, data: Prisma.ChannelUpdateInput): Promise<Channel> {
  const { channel, payloads } = await rt.prisma.$transaction(async (tx) => {
    const channel = await tx.channel.update({ where: { id: channelId }, data });
    const payloads = await appendEvents(tx, channelId, [{ type: 'CHANNEL_UPDATED', userId: viewer.userId }]);
    return { channel, payloads };
  });
  await publishEvents(rt, payloads);
  return channel;
}

/**
 * Changes a channel's settings. Topic and purpose: any member of the channel.
 * Name and privacy: workspace owners and admins and the channel's creator.
 * Names are unique in the workspace, case-insensitively. A public channel may
 * become private (readers who are not members lose it at once); a private one
 * never becomes public. A GROUP conversation's members may name it; a DIRECT
 * one has no name, topic aside.
 */
export async function updateChannel(rt: Runtime, viewer: Viewer, input: z.input<typeof updateSchema>): Promise<Channel> {
  const { channelId, name, topic, purpose, private: makePrivate } = parseInput(updateSchema, input);
  const access = await requireReadableChannel(rt, viewer, channelId);
  const { channel, isMember } = access;
  if (!isMember) throw forbidden('Join the channel before changing it.');
  if (channel.archivedAt) throw forbidden('This channel is archived: unarchive it before changing it.');
  const data: Prisma.ChannelUpdateInput = {};
  if (topic !== undefined) data.topic = topic;
  if (purpose !== undefined) data.purpose = purpose;
  if (name != null && name !== channel.name) {
    if (channel.kind === 'DIRECT') throw badInput('A direct conversation has no name.', 'name');
    if (channel.kind === 'CHANNEL' && !canAdminister(viewer, access)) {
      throw forbidden('Only workspace owners and admins and the channel’s creator can rename a channel.');
    }
    data.name = name;
  }
  if (makePrivate != null && makePrivate !== channel.private) {
    if (channel.kind !== 'CHANNEL') throw badInput('Direct and group conversations are always private.', 'private');
    if (!makePrivate) throw badInput('A private channel cannot be made public: its history was written for its members only.', 'private');
    if (!canAdminister(viewer, access)) {
      throw forbidden('Only workspace owners and admins and the channel’s creator can make a channel private.');
    }
    data.private = true;
  }
  if (Object.keys(data).length === 0) return channel;
  if (typeof data.name === 'string') await assertNameFree(rt.prisma, channel.workspaceId, data.name, channel.id);
  try {
    return await changeChannel(rt, viewer, channel.id, data);
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict(`The name "${name}" is not available in this workspace; choose another.`, 'name');
    throw error;
  }
}

/**
 * Archives a channel: it stays readable, but sends, edits, reactions and
 * typing are refused (FORBIDDEN, `extensions.reason` CHANNEL_ARCHIVED) until
 * it is unarchived. Workspace owners and admins and the creator only;
 * archiving twice is a no-op. Direct and group conversations are not archived.
 */
export async function archiveChannel(rt: Runtime, viewer: Viewer, channelId: string): Promise<Channel> {
  return setArchived(rt, viewer, channelId, true);
}

/** Makes an archived channel writable again (the same people as {@link archiveChannel}). */
export async function unarchiveChannel(rt: Runtime, viewer: Viewer, channelId: string): Promise<Channel> {
  return setArchived(rt, viewer, channelId, false);
}

async function setArchived(rt: Runtime, viewer: Viewer, channelId: string, archive: boolean): Promise<Channel> {
  const access = await requireReadableChannel(rt, viewer, channelId);
  const { channel } = access;
  if (channel.kind !== 'CHANNEL') throw badInput('Direct and group conversations cannot be archived.');
  if (!canAdminister(viewer, access)) {
    throw forbidden(`Only workspace owners and admins and the channel’s creator can ${archive ? 'archive' : 'unarchive'} it.`);
  }
  if (!!channel.archivedAt === archive) return channel;
  // changeChannel's update takes the channel's row lock, as a send does: no send commits after the archive.
  return changeChannel(rt, viewer, channel.id, { archivedAt: archive ? new Date() : null });
}

/**
 * Removes people from a channel (workspace owners and admins, and the
 * channel's creator). Each removal is a MEMBER_LEFT event; the removed
 * people's open streams of the channel end with FORBIDDEN and it leaves
 * their inbox. People who are not members are skipped.
 */
export async function removeChannelMembers(rt: Runtime, viewer: Viewer, channelId: string, userIds: string[]): Promise<Channel> {
  if (userIds.length === 0) throw badInput('Name at least one person to remove.', 'userIds');
  if (userIds.length > 1000) throw badInput('Remove at most 1000 people at once.', 'userIds');
  const access = await requireReadableChannel(rt, viewer, channelId);
  const { channel } = access;
  if (channel.kind !== 'CHANNEL') throw badInput('Direct and group conversations have fixed members.');
  if (!canAdminister(viewer, access)) {
    throw forbidden('Only workspace owners and admins and the channel’s creator can remove people from a channel.');
  }
  const inWorkspace = await rt.prisma.workspaceMember.count({ where: { workspaceId: channel.workspaceId, userId: { in: [...new Set(userIds)] } } });
  if (inWorkspace !== new Set(userIds).size) throw notFound('User');
  await removeMemberships(rt, channel.id, userIds);
  return rt.prisma.channel.findUniqueOrThrow({ where: { id: channel.id } });
}

/**
 * Deletes the memberships of `userIds` in a channel with one MEMBER_LEFT each,
 * publishes them and tells the people's inboxes. Returns who was removed.
 */
export async function removeMemberships(rt: Runtime, channelId: string, userIds: string[]): Promise<string[]> {
  const payloads = await rt.prisma.$transaction(async (tx) => {
    // RETURNING: of two removals at once, each records only the memberships it deleted.
    const rows = await tx.$queryRaw<{ userId: string }[]>`
      DELETE FROM "Membership" WHERE "channelId" = ${channelId}::uuid AND "userId" = ANY (${userIds}::uuid[])
      RETURNING "userId"::text AS "userId"`;
    const removed = rows.map((row) => row.userId).sort();
    if (removed.length === 0) return [];
    return appendEvents(tx, channelId, removed.map((userId) => ({ type: 'MEMBER_LEFT' as const, userId })));
  });
  await publishEvents(rt, payloads);
  const removed = payloads.map((p) => p.userId!);
  for (const userId of removed) await publishToUsers(rt, [userId], { type: 'CHANNEL_REMOVED', channelId });
  return removed;
}
