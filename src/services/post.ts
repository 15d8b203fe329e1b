import { z } from 'zod';
import { conflict, forbidden, notFound, parseInput } from '../errors.ts';
import type { Comment, Post } from '../generated/prisma/client.ts';
import type { Runtime } from '../runtime.ts';
import { bodyText } from '../security/text.ts';
import { requireWorkspaceMember } from './access.ts';
import type { Viewer } from './auth.ts';
import { MAX_MESSAGE_LENGTH } from './message.ts';
import { notify } from './notifications.ts';

/** Posts and comments take the same text as messages: 1 to 100,000 characters, visible. */
const postText = bodyText(MAX_MESSAGE_LENGTH);

const createPostSchema = z.object({ workspaceId: z.string(), text: postText });
const editPostSchema = z.object({ postId: z.string(), text: postText });
const commentSchema = z.object({ postId: z.string(), text: postText });
const editCommentSchema = z.object({ commentId: z.string(), text: postText });

/** A post in a workspace the viewer belongs to (deleted ones included), or NOT_FOUND. */
export async function getPost(rt: Runtime, viewer: Viewer, postId: string): Promise<Post> {
  const post = await rt.prisma.post.findFirst({
    where: { id: postId, workspace: { members: { some: { userId: viewer.userId } } } },
  });
  if (!post) throw notFound('Post');
  return post;
}

/** A comment on a post the viewer may see (deleted ones included), with that post; NOT_FOUND otherwise. */
export async function getComment(rt: Runtime, viewer: Viewer, commentId: string): Promise<Comment & { post: Post }> {
  const comment = await rt.prisma.comment.findFirst({
    where: { id: commentId, post: { workspace: { members: { some: { userId: viewer.userId } } } } },
    include: { post: true },
  });
  if (!comment) throw notFound('Comment');
  return comment;
}

/**
 * Posts to a workspace's feed (members only; NOT_FOUND otherwise). After the
 * commit, the author's followers who are members of the workspace get
 * NEW_POST, collapsed per author and workspace while unread.
 */
export async function createPost(rt: Runtime, viewer: Viewer, input: z.input<typeof createPostSchema>): Promise<Post> {
  const { workspaceId, text } = parseInput(createPostSchema, input);
  await requireWorkspaceMember(rt, viewer, workspaceId);
  const post = await rt.prisma.post.create({ data: { workspaceId, authorId: viewer.userId, text } });
  rt.background.run('notify new post', async () => {
    const followers = await rt.prisma.follow.findMany({
      where: { followeeId: viewer.userId, follower: { workspaces: { some: { workspaceId } } } },
      select: { followerId: true },
    });
    await notify(
      rt,
      followers.map(({ followerId }) => ({
        userId: followerId,
        type: 'NEW_POST' as const,
        groupKey: `posts:${viewer.userId}:${workspaceId}`,
        workspaceId,
        actorId: viewer.userId,
        postId: post.id,
      })),
    );
  });
  return post;
}

/** Changes a post's text: its author only (FORBIDDEN); a deleted post cannot be edited (CONFLICT). */
export async function editPost(rt: Runtime, viewer: Viewer, input: z.input<typeof editPostSchema>): Promise<Post> {
  const { postId, text } = parseInput(editPostSchema, input);
  const post = await getPost(rt, viewer, postId);
  if (post.authorId !== viewer.userId) throw forbidden('Only the author can edit a post.');
  if (post.deletedAt) throw conflict('This post was deleted; it cannot be edited.');
  if (post.text === text) return post;
  // Conditional, so that a delete committed since the read wins.
  const { count } = await rt.prisma.post.updateMany({ where: { id: postId, deletedAt: null }, data: { text, editedAt: new Date() } });
  if (count === 0) throw conflict('This post was deleted; it cannot be edited.');
  return rt.prisma.post.findUniqueOrThrow({ where: { id: postId } });
}

/** Soft-deletes a post (its author only): the text is erased and it leaves the feed. Deleting twice is a no-op. */
export async function deletePost(rt: Runtime, viewer: Viewer, postId: string): Promise<Post> {
  const post = await getPost(rt, viewer, postId);
  if (post.authorId !== viewer.userId) throw forbidden('Only the author can delete a post.');
  if (post.deletedAt) return post;
  await rt.prisma.post.updateMany({ where: { id: postId, deletedAt: null }, data: { text: '', deletedAt: new Date() } });
  return rt.prisma.post.findUniqueOrThrow({ where: { id: postId } });
}

/**
 * Comments on a post (members of its workspace; NOT_FOUND otherwise; a
 * deleted post takes no comments: CONFLICT) and counts it on the post. After
 * the commit, the post's author and everyone who commented on it before get
 * POST_COMMENT, collapsed per post while unread, if they are still members of
 * the workspace.
 */
export async function commentOnPost(rt: Runtime, viewer: Viewer, input: z.input<typeof commentSchema>): Promise<Comment> {
  const { postId, text } = parseInput(commentSchema, input);
  const post = await getPost(rt, viewer, postId);
  if (post.deletedAt) throw conflict('This post was deleted; it cannot take comments.');
  const comment = await rt.prisma.$transaction(async (tx) => {
    // Conditional on the post still standing: a delete committed since the read wins.
    const { count } = await tx.post.updateMany({ where: { id: postId, deletedAt: null }, data: { commentCount: { increment: 1 } } });
    if (count === 0) throw conflict('This post was deleted; it cannot take comments.');
    return tx.comment.create({ data: { postId, authorId: viewer.userId, text } });
  });
  rt.background.run('notify post comment', async () => {
    const earlier = await rt.prisma.comment.findMany({
      where: { postId, deletedAt: null, createdAt: { lte: comment.createdAt }, id: { not: comment.id } },
      distinct: ['authorId'],
      select: { authorId: true },
    });
    const recipients = [post.authorId, ...earlier.map((c) => c.authorId)];
    const members = await rt.prisma.workspaceMember.findMany({
      where: { workspaceId: post.workspaceId, userId: { in: recipients } },
      select: { userId: true },
    });
    await notify(
      rt,
      members.map(({ userId }) => ({
        userId,
        type: 'POST_COMMENT' as const,
        groupKey: `comments:${postId}`,
        workspaceId: post.workspaceId,
        actorId: viewer.userId,
        postId,
        commentId: comment.id,
      })),
    );
  });
  return comment;
}

/** Changes a comment's text: its author only (FORBIDDEN); a deleted comment cannot be edited (CONFLICT). */
export async function editComment(rt: Runtime, viewer: Viewer, input: z.input<typeof editCommentSchema>): Promise<Comment> {
  const { commentId, text } = parseInput(editCommentSchema, input);
  const { post: _post, ...comment } = await getComment(rt, viewer, commentId);
  if (comment.authorId !== viewer.userId) throw forbidden('Only the author can edit a comment.');
  if (comment.deletedAt) throw conflict('This comment was deleted; it cannot be edited.');
  if (comment.text === text) return comment;
  const { count } = await rt.prisma.comment.updateMany({
    where: { id: commentId, deletedAt: null },
    data: { text, editedAt: new Date() },
  });
  if (count === 0) throw conflict('This comment was deleted; it cannot be edited.');
  return rt.prisma.comment.findUniqueOrThrow({ where: { id: commentId } });
}

/**
 * Soft-deletes a comment: its author, or the author of the post it is on
 * (FORBIDDEN for anyone else). The text is erased, it leaves the post's
 * comments and commentCount. Deleting twice is a no-op.
 */
export async function deleteComment(rt: Runtime, viewer: Viewer, commentId: string): Promise<Comment> {
  const { post, ...comment } = await getComment(rt, viewer, commentId);
  if (comment.authorId !== viewer.userId && post.authorId !== viewer.userId) {
    throw forbidden('Only the author of the comment or of its post can delete a comment.');
  }
  if (comment.deletedAt) return comment;
  await rt.prisma.$transaction(async (tx) => {
    const { count } = await tx.comment.updateMany({
      where: { id: commentId, deletedAt: null },
      data: { text: '', deletedAt: new Date() },
    });
    // Only the delete that took the comment away uncounts it.
    if (count > 0) await tx.post.update({ where: { id: post.id }, data: { commentCount: { decrement: 1 } } });
  });
  return rt.prisma.comment.findUniqueOrThrow({ where: { id: commentId } });
}
