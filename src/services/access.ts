import { DomainError, forbidden, notFound } from '../errors.ts';
import type { Channel, WorkspaceMember } from '../generated/prisma/client.ts';
import type { WorkspaceRole } from '../generated/prisma/enums.ts';
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

/** Roles that administer a workspace. */
export const isAdminRole = (role: WorkspaceRole) => role === 'OWNER' || role === 'ADMIN';

/**
 * The viewer's membership of a workspace if they are an owner or admin;
 * FORBIDDEN for other members (`action` says what was refused), NOT_FOUND for
 * everyone else.
 */
export async function requireWorkspaceAdmin(rt: Runtime, viewer: Viewer, workspaceId: string, action: string): Promise<WorkspaceMember> {
  const member = await requireWorkspaceMember(rt, viewer, workspaceId);
  if (!isAdminRole(member.role)) throw forbidden(`Only workspace owners and admins can ${action}.`);
  return member;
}

export interface ChannelAccess {
  channel: Channel;
  /** Whether the viewer is a member of the channel itself. */
  isMember: boolean;
  /** The viewer's role in the channel's workspace. */
  role: WorkspaceRole;
}

/**
 * Loads a channel the viewer may read: members always; for public channels,
 * every member of the workspace except guests. Anything else is NOT_FOUND.
 * Every path that shows a channel (queries, node(id), streams, the inbox)
 * goes through this check or {@link readableChannelsWhere}.
 */
export async function requireReadableChannel(rt: Runtime, viewer: Viewer, channelId: string): Promise<ChannelAccess> {
  // One statement: the channel, the viewer's role in its workspace, and whether they are a member.
  const [found] = await rt.prisma.$queryRaw<ChannelAccessRow[]>`
    SELECT c.*, EXISTS (
      SELECT 1 FROM "Membership" m WHERE m."channelId" = c.id AND m."userId" = ${viewer.userId}::uuid
    ) AS "isMember", w.role::text AS role
    FROM "Channel" c
    JOIN "WorkspaceMember" w ON w."workspaceId" = c."workspaceId" AND w."userId" = ${viewer.userId}::uuid
    WHERE c.id = ${channelId}::uuid`;
  return readableAccess(found);
}

/** A channel row with the viewer's membership and workspace role, as the access checks select it. */
export type ChannelAccessRow = Channel & { isMember: boolean; role: WorkspaceRole };

/** {@link requireReadableChannel}'s rule on a row it selected (undefined: no channel, or not in its workspace). */
export function readableAccess(found: ChannelAccessRow | undefined): ChannelAccess {
  if (!found) throw notFound('Channel');
  const { isMember, role, ...channel } = found;
  if (!isMember && (channel.private || channel.kind !== 'CHANNEL' || role === 'GUEST')) throw notFound('Channel');
  return { channel, isMember, role };
}

/** Whether the viewer may read the channel (the same rule, as a filter for lists). */
export function readableChannelsWhere(viewer: Viewer) {
  return {
    workspace: { members: { some: { userId: viewer.userId } } },
    OR: [
      { memberships: { some: { userId: viewer.userId } } },
      {
        kind: 'CHANNEL' as const,
        private: false,
        workspace: { members: { some: { userId: viewer.userId, role: { not: 'GUEST' as const } } } },
      },
    ],
  };
}

/** The refusal of a write to an archived channel. */
export const archivedChannel = () =>
  new DomainError('FORBIDDEN', 'This channel is archived: it is read-only until an admin or its creator unarchives it.', {
    reason: 'CHANNEL_ARCHIVED',
  });

/** Refuses writes (messages, edits, reactions, typing) to an archived channel. */
export function assertNotArchived(channel: Pick<Channel, 'archivedAt'>): void {
  if (channel.archivedAt) throw archivedChannel();
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
