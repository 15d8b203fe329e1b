import { notFound } from '../errors.ts';
import type { Channel, WorkspaceMember } from '../generated/prisma/client.ts';
import type { Viewer } from './auth.ts';
import type { Runtime } from '../runtime.ts';

/**
 * The viewer's membership of a workspace, or NOT_FOUND: a workspace you are
 * not in is indistinguishable from one that does not exist.
 */
export async function requireWorkspaceMember(rt: Runtime, viewer: Viewer, workspaceId: string): Promise<WorkspaceMember> {
  const member = await rt.prisma.workspaceMember.findUnique({
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
export async function requireReadableChannel(rt: Runtime, viewer: Viewer, channelId: string): Promise<ChannelAccess> {
  // One statement: the channel, if the viewer is in its workspace, and whether they are a member.
  const [found] = await rt.prisma.$queryRaw<(Channel & { isMember: boolean })[]>`
    SELECT c.*, EXISTS (
      SELECT 1 FROM "Membership" m WHERE m."channelId" = c.id AND m."userId" = ${viewer.userId}::uuid
    ) AS "isMember"
    FROM "Channel" c
    WHERE c.id = ${channelId}::uuid
      AND EXISTS (SELECT 1 FROM "WorkspaceMember" w WHERE w."workspaceId" = c."workspaceId" AND w."userId" = ${viewer.userId}::uuid)`;
  if (!found) throw notFound('Channel');
  const { isMember, ...channel } = found;
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
export async function requireWorkspaceUsers(rt: Runtime, workspaceId: string, userIds: string[]): Promise<void> {
  const unique = [...new Set(userIds)];
  if (unique.length === 0) return;
  const found = await rt.prisma.workspaceMember.count({ where: { workspaceId, userId: { in: unique } } });
  if (found !== unique.length) throw notFound('User');
}
