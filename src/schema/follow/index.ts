import { queryFromInfo } from '@pothos/plugin-prisma';
import type { GraphQLResolveInfo } from 'graphql';
import { builder } from '../../builder.ts';
import { requireViewer, type Context } from '../../context.ts';
import type { Prisma, User } from '../../generated/prisma/client.ts';
import { follow, followCounts, unfollow, visibleUsersWhere } from '../../services/follow.ts';
import { parseId } from '../ids.ts';
import { keysetPage, seekPast, type PageArgs } from '../keyset.ts';
import { UserRef } from '../user/index.ts';

/** The user fields a page's `edges.node` selects, as a Prisma include for the other side of a follow. */
function userQuery(ctx: Context, info: GraphQLResolveInfo): true | object {
  const query = queryFromInfo({ context: ctx, info, typeName: 'User', path: ['edges', 'node'] });
  return Object.keys(query).length ? query : true;
}

/**
 * A page of someone's followers (or followees), newest follow first, keyset
 * on (createdAt, the other user's id). Only users the viewer may see appear.
 */
async function followPage(ctx: Context, info: GraphQLResolveInfo, user: User, side: 'followers' | 'following', args: PageArgs) {
  // The user's end of the Follow row, and the other person's: their id and their relation.
  const { own, other, relation } = SIDES[side];
  const visible = visibleUsersWhere(requireViewer(ctx));
  const include = userQuery(ctx, info);
  const page = await keysetPage(
    user.id,
    args,
    'newest',
    ({ seek, sort, take }) =>
      ctx.rt.prisma.follow.findMany({
        where: { [own]: user.id, [relation]: visible, ...seekPast(seek, other) } as Prisma.FollowWhereInput,
        orderBy: [{ createdAt: sort }, { [other]: sort }],
        take,
        include: { follower: relation === 'follower' && include, followee: relation === 'followee' && include },
      }),
    (row) => ({ createdAt: row.createdAt, id: row[other] }),
  );
  return { ...page, edges: page.edges.map(({ cursor, node }) => ({ cursor, node: node[relation] as User })) };
}

const SIDES = {
  followers: { own: 'followeeId', other: 'followerId', relation: 'follower' },
  following: { own: 'followerId', other: 'followeeId', relation: 'followee' },
} as const;

/** Follower (or followee) counts of the users of one request (or event), in one query per side. */
const countsOf = (ctx: Context, side: 'followers' | 'following') => {
  const viewer = requireViewer(ctx);
  return ctx.batch.loader<string, number>(`${side}Count:${viewer.userId}`, (userIds) => followCounts(ctx.rt, viewer, side, userIds));
};

/** Which of the users of one request (or event) the viewer follows, in one query. */
const followedByViewer = (ctx: Context) => {
  const viewer = requireViewer(ctx);
  return ctx.batch.loader<string, boolean>(`followedBy:${viewer.userId}`, async (userIds) => {
    const rows = await ctx.rt.prisma.follow.findMany({
      where: { followerId: viewer.userId, followeeId: { in: [...userIds] } },
      select: { followeeId: true },
    });
    const followed = new Set(rows.map((row) => row.followeeId));
    return userIds.map((id) => followed.has(id));
  });
};

builder.prismaObjectFields(UserRef, (t) => ({
  followers: t.connection({
    type: UserRef,
    description: 'People who follow this user, newest follow first; only people you share a workspace with (and you).',
    resolve: (user, args, ctx, info) => followPage(ctx, info, user, 'followers', args),
  }),
  following: t.connection({
    type: UserRef,
    description: 'People this user follows, newest follow first; only people you share a workspace with (and you).',
    resolve: (user, args, ctx, info) => followPage(ctx, info, user, 'following', args),
  }),
  followerCount: t.int({
    description: 'How many of the people in `followers` there are.',
    resolve: (user, _args, ctx) => countsOf(ctx, 'followers').load(user.id),
  }),
  followingCount: t.int({
    description: 'How many of the people in `following` there are.',
    resolve: (user, _args, ctx) => countsOf(ctx, 'following').load(user.id),
  }),
  followedByMe: t.boolean({
    description: 'Whether you follow this user.',
    resolve: (user, _args, ctx) => followedByViewer(ctx).load(user.id),
  }),
}));

builder.mutationFields((t) => ({
  follow: t.withAuth({ loggedIn: true }).field({
    type: UserRef,
    description:
      'Follow someone you share a workspace with (anyone else: NOT_FOUND; yourself: BAD_USER_INPUT). Following twice is a no-op. They get a NEW_FOLLOWER notification. Returns the followed user.',
    args: { userId: t.arg.id({ required: true }) },
    resolve: (_root, { userId }, ctx) => follow(ctx.rt, ctx.viewer, parseId('User', userId)),
  }),
  unfollow: t.withAuth({ loggedIn: true }).field({
    type: UserRef,
    description: 'Stop following someone; unfollowing someone you do not follow is a no-op. Returns the user.',
    args: { userId: t.arg.id({ required: true }) },
    resolve: (_root, { userId }, ctx) => unfollow(ctx.rt, ctx.viewer, parseId('User', userId)),
  }),
}));
