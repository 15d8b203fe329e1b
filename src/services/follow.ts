import { badInput, notFound } from '../errors.ts';
import type { Prisma, User } from '../generated/prisma/client.ts';
import type { Runtime } from '../runtime.ts';
import type { Viewer } from './auth.ts';
import { notify } from './notifications.ts';

/**
 * The users a viewer may see: themself and everyone they share a workspace
 * with. Follower lists and counts are filtered by it, so following someone in
 * another tenant never shows there.
 */
export function visibleUsersWhere(viewer: Viewer): Prisma.UserWhereInput {
  return {
    OR: [{ id: viewer.userId }, { workspaces: { some: { workspace: { members: { some: { userId: viewer.userId } } } } } }],
  };
}

/** The user if the viewer may see them (see {@link visibleUsersWhere}); null otherwise. */
async function findVisibleUser(rt: Runtime, viewer: Viewer, userId: string): Promise<User | null> {
  return rt.prisma.user.findFirst({ where: { id: userId, ...visibleUsersWhere(viewer) } });
}

/**
 * Follows a user the viewer shares a workspace with (anyone else is
 * NOT_FOUND; themself is BAD_USER_INPUT). Following twice is a no-op; a new
 * follow notifies the followee (NEW_FOLLOWER, collapsed with other unread
 * follows) after it committed.
 */
export async function follow(rt: Runtime, viewer: Viewer, userId: string): Promise<User> {
  if (userId === viewer.userId) throw badInput('You cannot follow yourself.', 'userId');
  const user = await findVisibleUser(rt, viewer, userId);
  if (!user) throw notFound('User');
  const { count } = await rt.prisma.follow.createMany({
    data: [{ followerId: viewer.userId, followeeId: userId }],
    skipDuplicates: true,
  });
  if (count > 0) {
    rt.background.run('notify new follower', () =>
      notify(rt, [{ userId, type: 'NEW_FOLLOWER', groupKey: 'followers', workspaceId: null, actorId: viewer.userId }]),
    );
  }
  return user;
}

/**
 * Stops following a user; unfollowing someone not followed is a no-op. Anyone
 * the viewer neither shares a workspace with nor follows is NOT_FOUND (someone
 * who left every shared workspace can still be unfollowed).
 */
export async function unfollow(rt: Runtime, viewer: Viewer, userId: string): Promise<User> {
  if (userId === viewer.userId) throw badInput('You cannot unfollow yourself.', 'userId');
  const user = await rt.prisma.user.findFirst({
    where: {
      id: userId,
      OR: [visibleUsersWhere(viewer), { followers: { some: { followerId: viewer.userId } } }],
    },
  });
  if (!user) throw notFound('User');
  await rt.prisma.follow.deleteMany({ where: { followerId: viewer.userId, followeeId: userId } });
  return user;
}

/** How many of each user's followers (or followees) the viewer may see, in one query. */
export async function followCounts(
  rt: Runtime,
  viewer: Viewer,
  side: 'followers' | 'following',
  userIds: readonly string[],
): Promise<number[]> {
  const visible = visibleUsersWhere(viewer);
  const ids = [...new Set(userIds)];
  const rows =
    side === 'followers'
      ? await rt.prisma.follow.groupBy({ by: ['followeeId'], where: { followeeId: { in: ids }, follower: visible }, _count: { _all: true } })
      : await rt.prisma.follow.groupBy({ by: ['followerId'], where: { followerId: { in: ids }, followee: visible }, _count: { _all: true } });
  const counts = new Map<string, number>();
  for (const row of rows) {
    const id = 'followeeId' in row ? row.followeeId : (row as { followerId: string }).followerId;
    counts.set(id, row._count._all);
  }
  return userIds.map((id) => counts.get(id) ?? 0);
}
