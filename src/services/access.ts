import { prisma } from '../db.ts';
import { notFound } from '../errors.ts';
import type { Channel, WorkspaceMember } from '../generated/prisma/client.ts';
import type { Viewer } from './auth.ts';

/**
 * The viewer's membership of a workspace, or NOT_FOUND: a workspace you are
 * not in is indistinguishable from one that does not exist.
 */
export async function requireWorkspaceMember(viewer: Viewer, workspaceId: string): Promise<WorkspaceMember> {
  const member = await prisma.workspaceMember.findUnique({
    where: { workspaceId_userId: { workspaceId, userId: viewer.userId } },
  });
  if (!member) throw notFound('Workspace');
  return member;
}

export interface ChannelAccess {
  channel: Channel;
  /** Whether the viewer is a member of the channel itself. */
  isMember: boolean;
}

/**
 * Loads a channel the viewer may read: members always; for public channels,
 * every member of the workspace. Anything else is NOT_FOUND.
 */
export async function requireReadableChannel(viewer: Viewer, channelId: string): Promise<ChannelAccess> {
  // Two statements: the channel filtered by workspace membership, and the viewer's membership.
  const found = await prisma.channel.findFirst({
    where: { id: channelId, workspace: { members: { some: { userId: viewer.userId } } } },
    include: { memberships: { where: { userId: viewer.userId }, select: { userId: true } } },
  });
  if (!found) throw notFound('Channel');
  const { memberships, ...channel } = found;
  const isMember = memberships.length > 0;
  if (!isMember && (channel.private || channel.kind !== 'CHANNEL')) throw notFound('Channel');
  return { channel, isMember };
}

/** Whether the viewer may read the channel (the same rule, as a filter for lists). */
export function readableChannelsWhere(viewer: Viewer) {
  return {
    workspace: { members: { some: { userId: viewer.userId } } },
    OR: [
      { memberships: { some: { userId: viewer.userId } } },
      { kind: 'CHANNEL' as const, private: false },
    ],
  };
}

/**
 * Checks that every id names a member of the workspace; anyone else is
 * NOT_FOUND, so user ids cannot be probed across workspaces.
 */
export async function requireWorkspaceUsers(workspaceId: string, userIds: string[]): Promise<void> {
  const unique = [...new Set(userIds)];
  if (unique.length === 0) return;
  const found = await prisma.workspaceMember.count({ where: { workspaceId, userId: { in: unique } } });
  if (found !== unique.length) throw notFound('User');
}
