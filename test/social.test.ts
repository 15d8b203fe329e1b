import { beforeAll, describe, expect, it } from 'vitest';
import {
  CommentOnPostDocument,
  CreatePostDocument,
  FollowDocument,
  FollowersDocument,
  FollowingDocument,
  MyFollowsDocument,
  UnfollowDocument,
} from '../client/generated/graphql.ts';
import type { NotificationType } from '../src/generated/prisma/enums.ts';
import { decodeId, encodeGlobalID } from '../src/schema/ids.ts';
import { ok, refused } from './support/client.ts';
import { backendName, startServer, type TestServer } from './support/server.ts';
import { channelWith, signUpUsers, workspaceWith, type TestUser } from './support/world.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});

const raw = (id: string) => decodeId(id).id;
const toUserId = (uuid: string) => encodeGlobalID('User', uuid);

/** Fresh people in a fresh workspace the first one owns, so counts start at zero. */
async function crew<const N extends readonly string[]>(...names: N) {
  const users = await signUpUsers(server, ...names);
  const workspaceId = await workspaceWith(server, users[0]!, users.slice(1));
  return { users, workspaceId };
}

const follows = (follower: TestUser, followee: TestUser) =>
  server.app.runtime.prisma.follow.count({ where: { followerId: raw(follower.id), followeeId: raw(followee.id) } });

/** The notifications `user` has of `type`, once every notify() started so far has finished. */
async function notificationsOf(user: TestUser, type: NotificationType) {
  await server.app.runtime.background.drained();
  return server.app.runtime.prisma.notification.findMany({ where: { userId: raw(user.id), type }, orderBy: { createdAt: 'asc' } });
}

describe(`follow and unfollow (${backendName})`, () => {
  it('follows someone in a shared workspace, once however often asked, and unfollows harmlessly', async () => {
    const { users: [ann, bob] } = await crew('ann', 'bob');
    const { follow } = await ok(server, FollowDocument, { userId: ann.id }, bob.token);
    expect(follow).toMatchObject({ id: ann.id, followerCount: 1, followedByMe: true });
    const again = await ok(server, FollowDocument, { userId: ann.id }, bob.token);
    expect(again.follow).toMatchObject({ followerCount: 1, followedByMe: true });
    expect(await follows(bob, ann)).toBe(1);

    const { unfollow } = await ok(server, UnfollowDocument, { userId: ann.id }, bob.token);
    expect(unfollow).toMatchObject({ id: ann.id, followerCount: 0, followedByMe: false });
    const twice = await ok(server, UnfollowDocument, { userId: ann.id }, bob.token);
    expect(twice.unfollow).toMatchObject({ followerCount: 0 });
    // Unfollowing someone never followed is just as harmless.
    await ok(server, UnfollowDocument, { userId: bob.id }, ann.token);
    expect(await follows(bob, ann)).toBe(0);
  });

  it('refuses following or unfollowing yourself (BAD_USER_INPUT)', async () => {
    const { users: [ann] } = await crew('ann');
    const error = await refused(server, 'BAD_USER_INPUT', FollowDocument, { userId: ann.id }, ann.token);
    expect(error.message).toMatch(/yourself/);
    await refused(server, 'BAD_USER_INPUT', UnfollowDocument, { userId: ann.id }, ann.token);
    expect(await follows(ann, ann)).toBe(0);
  });

  it('answers NOT_FOUND for people in no shared workspace, exactly as for ids that do not exist', async () => {
    const { users: [ann] } = await crew('ann');
    const { users: [stranger] } = await crew('stranger');
    const across = await refused(server, 'NOT_FOUND', FollowDocument, { userId: stranger.id }, ann.token);
    const nobody = await refused(server, 'NOT_FOUND', FollowDocument, { userId: toUserId('0197a1b2-0000-7000-8000-000000000000') }, ann.token);
    expect(across.message).toBe(nobody.message);
    await refused(server, 'NOT_FOUND', FollowDocument, { userId: ann.id }, stranger.token);
    await refused(server, 'NOT_FOUND', UnfollowDocument, { userId: stranger.id }, ann.token);
    expect(await follows(ann, stranger)).toBe(0);
    expect(await follows(stranger, ann)).toBe(0);
  });

  it('refuses ids that are no user (NOT_FOUND for another type, BAD_USER_INPUT for garbage) and callers without a token', async () => {
    const { users: [ann], workspaceId } = await crew('ann');
    const channelId = await channelWith(server, workspaceId, ann);
    await refused(server, 'NOT_FOUND', FollowDocument, { userId: workspaceId }, ann.token);
    await refused(server, 'NOT_FOUND', FollowDocument, { userId: channelId }, ann.token);
    await refused(server, 'BAD_USER_INPUT', FollowDocument, { userId: 'not-an-id' }, ann.token);
    await refused(server, 'UNAUTHENTICATED', FollowDocument, { userId: ann.id });
  });

  it('lets someone who left every shared workspace still be unfollowed', async () => {
    const { users: [ann, bob], workspaceId } = await crew('ann', 'bob');
    await ok(server, FollowDocument, { userId: bob.id }, ann.token);
    await server.app.runtime.prisma.workspaceMember.delete({
      where: { workspaceId_userId: { workspaceId: raw(workspaceId), userId: raw(bob.id) } },
    });
    await refused(server, 'NOT_FOUND', FollowDocument, { userId: bob.id }, ann.token);
    await ok(server, UnfollowDocument, { userId: bob.id }, ann.token);
    expect(await follows(ann, bob)).toBe(0);
  });
});

describe(`followers and following lists (${backendName})`, () => {
  it('shows only people the viewer shares a workspace with (and the viewer), in lists and counts alike', async () => {
    // dan is in one workspace with ann and in another with eve; ann and eve share none.
    const { users: [ann, dan] } = await crew('ann', 'dan');
    const eve = (await signUpUsers(server, 'eve'))[0];
    await workspaceWith(server, eve, [dan]);
    await ok(server, FollowDocument, { userId: dan.id }, ann.token);
    await ok(server, FollowDocument, { userId: dan.id }, eve.token);
    await ok(server, FollowDocument, { userId: ann.id }, dan.token);
    await ok(server, FollowDocument, { userId: eve.id }, dan.token);

    const ids = (edges: { node: { id: string } }[]) => edges.map((e) => e.node.id);
    const seenByDan = await ok(server, MyFollowsDocument, {}, dan.token);
    expect(seenByDan.me).toMatchObject({ followerCount: 2, followingCount: 2 });
    expect(ids(seenByDan.me.followers.edges).sort()).toEqual([ann.id, eve.id].sort());

    const seenByAnn = await ok(server, FollowersDocument, { id: dan.id }, ann.token);
    expect(seenByAnn.node).toMatchObject({ followerCount: 1, followingCount: 1 });
    expect(seenByAnn.node?.__typename === 'User' && ids(seenByAnn.node.followers.edges)).toEqual([ann.id]);
    const followingSeenByAnn = await ok(server, FollowingDocument, { id: dan.id }, ann.token);
    expect(followingSeenByAnn.node?.__typename === 'User' && ids(followingSeenByAnn.node.following.edges)).toEqual([ann.id]);

    const seenByEve = await ok(server, FollowersDocument, { id: dan.id }, eve.token);
    expect(seenByEve.node?.__typename === 'User' && ids(seenByEve.node.followers.edges)).toEqual([eve.id]);
    expect(seenByEve.node).toMatchObject({ followerCount: 1, followingCount: 1 });
    // Nor can either see the other's lists at all.
    await refused(server, 'NOT_FOUND', FollowersDocument, { id: eve.id }, ann.token);
  });

  it('pages newest follow first by keyset, ties broken by id, with no gap or repeat', async () => {
    const { users: [ann, ...fans] } = await crew('ann', 'f1', 'f2', 'f3', 'f4', 'f5');
    for (const fan of fans) await ok(server, FollowDocument, { userId: ann.id }, fan.token);
    const rows = await server.app.runtime.prisma.follow.findMany({ where: { followeeId: raw(ann.id) } });
    const readAll = async () => {
      const seen: string[] = [];
      let after: string | null | undefined;
      for (let pages = 0; pages < 10; pages++) {
        const { node } = await ok(server, FollowersDocument, { id: ann.id, first: 2, after }, ann.token);
        if (node?.__typename !== 'User') throw new Error('not a user');
        seen.push(...node.followers.edges.map((e) => e.node.id));
        expect(node.followers.pageInfo.hasPreviousPage).toBe(after != null);
        if (!node.followers.pageInfo.hasNextPage) break;
        after = node.followers.pageInfo.endCursor;
      }
      return seen;
    };
    const byTime = [...rows].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.followerId < b.followerId ? 1 : -1));
    expect(await readAll()).toEqual(byTime.map((r) => toUserId(r.followerId)));

    // Followed in the same millisecond: the id decides, and paging still sees each exactly once.
    const instant = new Date('2026-01-01T00:00:00.000Z');
    await server.app.runtime.prisma.follow.updateMany({ where: { followeeId: raw(ann.id) }, data: { createdAt: instant } });
    const byId = rows.map((r) => r.followerId).sort().reverse();
    expect(await readAll()).toEqual(byId.map(toUserId));
  });

  it('refuses pages over 100, malformed cursors and cursors of another list (BAD_USER_INPUT)', async () => {
    const { users: [ann, bob] } = await crew('ann', 'bob');
    await ok(server, FollowDocument, { userId: ann.id }, bob.token);
    await ok(server, FollowDocument, { userId: bob.id }, ann.token);
    await refused(server, 'BAD_USER_INPUT', FollowersDocument, { id: ann.id, first: 101 }, ann.token);
    await refused(server, 'BAD_USER_INPUT', FollowingDocument, { id: ann.id, first: 0 }, ann.token);
    await refused(server, 'BAD_USER_INPUT', FollowersDocument, { id: ann.id, after: 'garbage' }, ann.token);
    const { node } = await ok(server, FollowersDocument, { id: bob.id, first: 1 }, ann.token);
    const bobsCursor = node?.__typename === 'User' ? node.followers.edges[0]!.cursor : '';
    const error = await refused(server, 'BAD_USER_INPUT', FollowersDocument, { id: ann.id, after: bobsCursor }, ann.token);
    expect(error.message).toMatch(/another list/);
    expect((await ok(server, FollowersDocument, { id: ann.id, first: 100 }, ann.token)).node).toBeTruthy();
  });
});

describe(`social notifications (${backendName})`, () => {
  it('tells the followee once per burst of follows (NEW_FOLLOWER, collapsed with a count), never the follower', async () => {
    const { users: [ann, bob, cat, dan] } = await crew('ann', 'bob', 'cat', 'dan');
    await Promise.all([bob, cat, dan].map((fan) => ok(server, FollowDocument, { userId: ann.id }, fan.token)));
    // Following again is no new follow and counts for nothing.
    await ok(server, FollowDocument, { userId: ann.id }, bob.token);
    const [notification, ...more] = await notificationsOf(ann, 'NEW_FOLLOWER');
    expect(more).toEqual([]);
    expect(notification).toMatchObject({ groupKey: 'followers', workspaceId: null, count: 3, readAt: null });
    expect([bob, cat, dan].map((u) => raw(u.id))).toContain(notification!.actorId);
    for (const fan of [bob, cat, dan]) expect(await notificationsOf(fan, 'NEW_FOLLOWER')).toEqual([]);
  });

  it('starts a new NEW_FOLLOWER notification once the last one was read', async () => {
    const { users: [ann, bob, cat] } = await crew('ann', 'bob', 'cat');
    await ok(server, FollowDocument, { userId: ann.id }, bob.token);
    await notificationsOf(ann, 'NEW_FOLLOWER');
    await server.app.runtime.prisma.notification.updateMany({ where: { userId: raw(ann.id) }, data: { readAt: new Date() } });
    await ok(server, FollowDocument, { userId: ann.id }, cat.token);
    const notes = await notificationsOf(ann, 'NEW_FOLLOWER');
    expect(notes.map((n) => [n.count, n.actorId])).toEqual([
      [1, raw(bob.id)],
      [1, raw(cat.id)],
    ]);
  });

  it("tells the author's followers in the post's workspace of new posts (NEW_POST), collapsed per author and workspace", async () => {
    const { users: [ann, bob, cat], workspaceId } = await crew('ann', 'bob', 'cat');
    const eve = (await signUpUsers(server, 'eve'))[0];
    await workspaceWith(server, eve, [ann]);
    for (const fan of [bob, eve]) await ok(server, FollowDocument, { userId: ann.id }, fan.token);
    const first = await ok(server, CreatePostDocument, { input: { workspaceId, text: 'one' } }, ann.token);
    const second = await ok(server, CreatePostDocument, { input: { workspaceId, text: 'two' } }, ann.token);

    const [note, ...more] = await notificationsOf(bob, 'NEW_POST');
    expect(more).toEqual([]);
    expect(note).toMatchObject({
      groupKey: `posts:${raw(ann.id)}:${raw(workspaceId)}`,
      workspaceId: raw(workspaceId),
      actorId: raw(ann.id),
      postId: raw(second.createPost.id),
      count: 2,
    });
    expect(raw(first.createPost.id)).not.toBe(note!.postId);
    // eve follows ann but is not in this workspace; cat is in it but does not follow; ann wrote it.
    expect(await notificationsOf(eve, 'NEW_POST')).toEqual([]);
    expect(await notificationsOf(cat, 'NEW_POST')).toEqual([]);
    expect(await notificationsOf(ann, 'NEW_POST')).toEqual([]);
  });

  it("tells the post's author and earlier commenters of comments (POST_COMMENT), never the commenter", async () => {
    const { users: [ann, bob, cat, dan], workspaceId } = await crew('ann', 'bob', 'cat', 'dan');
    const { createPost } = await ok(server, CreatePostDocument, { input: { workspaceId, text: 'post' } }, ann.token);
    const postId = createPost.id;
    const comment = (user: TestUser, text: string) => ok(server, CommentOnPostDocument, { input: { postId, text } }, user.token);

    const byBob = await comment(bob, 'first');
    await server.app.runtime.background.drained();
    const byCat = await comment(cat, 'second');
    await server.app.runtime.background.drained();
    await comment(ann, 'thanks');

    const forAnn = await notificationsOf(ann, 'POST_COMMENT');
    expect(forAnn).toHaveLength(1);
    expect(forAnn[0]).toMatchObject({
      groupKey: `comments:${raw(postId)}`,
      postId: raw(postId),
      commentId: raw(byCat.commentOnPost.id),
      actorId: raw(cat.id),
      count: 2,
    });
    const forBob = await notificationsOf(bob, 'POST_COMMENT');
    expect(forBob.map((n) => [n.count, n.actorId])).toEqual([[2, raw(ann.id)]]);
    const forCat = await notificationsOf(cat, 'POST_COMMENT');
    expect(forCat.map((n) => [n.count, n.actorId])).toEqual([[1, raw(ann.id)]]);
    // dan never commented; nobody hears of their own comment.
    expect(await notificationsOf(dan, 'POST_COMMENT')).toEqual([]);
    expect(raw(byBob.commentOnPost.id)).not.toBe(forAnn[0]!.commentId);
  });
});
