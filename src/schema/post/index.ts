import { queryFromInfo } from '@pothos/plugin-prisma';
import { builder } from '../../builder.ts';
import {
  commentOnPost,
  createPost,
  deleteComment,
  deletePost,
  editComment,
  editPost,
  getPost,
} from '../../services/post.ts';
import { parseId } from '../ids.ts';
import { keysetPage, seekPast } from '../keyset.ts';
import { WorkspaceRef } from '../workspace/index.ts';

const TEXT = '1 to 100,000 characters, not only white space.';

export const PostRef = builder.prismaNode('Post', {
  id: { field: 'id' },
  description: "A post in a workspace's feed; members of the workspace see it.",
  fields: (t) => ({
    author: t.relation('author'),
    workspace: t.relation('workspace'),
    text: t.string({ description: 'Empty once the post is deleted.', resolve: (post) => (post.deletedAt ? '' : post.text) }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    editedAt: t.expose('editedAt', { type: 'DateTime', nullable: true }),
    deletedAt: t.expose('deletedAt', { type: 'DateTime', nullable: true }),
    commentCount: t.exposeInt('commentCount', { description: 'Comments that are not deleted.' }),
  }),
});

export const CommentRef = builder.prismaNode('Comment', {
  id: { field: 'id' },
  description: 'A comment on a post.',
  fields: (t) => ({
    author: t.relation('author'),
    post: t.relation('post'),
    text: t.string({ description: 'Empty once the comment is deleted.', resolve: (c) => (c.deletedAt ? '' : c.text) }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    editedAt: t.expose('editedAt', { type: 'DateTime', nullable: true }),
    deletedAt: t.expose('deletedAt', { type: 'DateTime', nullable: true }),
  }),
});

builder.prismaObjectField(PostRef, 'comments', (t) =>
  t.connection(
    {
      type: CommentRef,
      description: 'Comments that are not deleted, oldest first.',
      resolve: (post, args, ctx, info) => {
        const query = queryFromInfo({ context: ctx, info, typeName: 'Comment', path: ['edges', 'node'] });
        return keysetPage(
          post.id,
          args,
          'oldest',
          ({ seek, sort, take }) =>
            ctx.rt.prisma.comment.findMany({
              ...query,
              where: {
                postId: post.id,
                deletedAt: null,
                ...seekPast(seek, 'id'),
              },
              orderBy: [{ createdAt: sort }, { id: sort }],
              take,
            }),
          (comment) => comment,
        );
      },
    },
    { name: 'CommentConnection' },
    { name: 'CommentEdge' },
  ),
);

builder.prismaObjectField(WorkspaceRef, 'feed', (t) =>
  t.connection(
    {
      type: PostRef,
      description: "The workspace's posts, newest first; deleted posts are left out.",
      resolve: (workspace, args, ctx, info) => {
        const query = queryFromInfo({ context: ctx, info, typeName: 'Post', path: ['edges', 'node'] });
        return keysetPage(
          workspace.id,
          args,
          'newest',
          ({ seek, sort, take }) =>
            ctx.rt.prisma.post.findMany({
              ...query,
              where: {
                workspaceId: workspace.id,
                deletedAt: null,
                ...seekPast(seek, 'id'),
              },
              orderBy: [{ createdAt: sort }, { id: sort }],
              take,
            }),
          (post) => post,
        );
      },
    },
    { name: 'PostConnection' },
    { name: 'PostEdge' },
  ),
);

const CreatePostInput = builder.inputType('CreatePostInput', {
  fields: (t) => ({
    workspaceId: t.id({ required: true }),
    text: t.string({ required: true, description: TEXT }),
  }),
});

const EditPostInput = builder.inputType('EditPostInput', {
  fields: (t) => ({
    postId: t.id({ required: true }),
    text: t.string({ required: true, description: TEXT }),
  }),
});

const CommentOnPostInput = builder.inputType('CommentOnPostInput', {
  fields: (t) => ({
    postId: t.id({ required: true }),
    text: t.string({ required: true, description: TEXT }),
  }),
});

const EditCommentInput = builder.inputType('EditCommentInput', {
  fields: (t) => ({
    commentId: t.id({ required: true }),
    text: t.string({ required: true, description: TEXT }),
  }),
});

builder.queryFields((t) => ({
  post: t.withAuth({ loggedIn: true }).prismaField({
    type: 'Post',
    nullable: true,
    description: 'NOT_FOUND unless the caller is a member of its workspace.',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (query, _root, { id }, ctx) => {
      const post = await getPost(ctx.rt, ctx.viewer, parseId('Post', id));
      return ctx.rt.prisma.post.findUniqueOrThrow({ ...query, where: { id: post.id } });
    },
  }),
}));

builder.mutationFields((t) => ({
  createPost: t.withAuth({ loggedIn: true }).field({
    type: PostRef,
    description:
      "Post to a workspace's feed (members only; NOT_FOUND otherwise). Your followers in the workspace get a NEW_POST notification.",
    args: { input: t.arg({ type: CreatePostInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      createPost(ctx.rt, ctx.viewer, { ...input, workspaceId: parseId('Workspace', input.workspaceId) }),
  }),
  editPost: t.withAuth({ loggedIn: true }).field({
    type: PostRef,
    description: 'The author only (FORBIDDEN otherwise); sets editedAt. A deleted post cannot be edited (CONFLICT).',
    args: { input: t.arg({ type: EditPostInput, required: true }) },
    resolve: (_root, { input }, ctx) => editPost(ctx.rt, ctx.viewer, { ...input, postId: parseId('Post', input.postId) }),
  }),
  deletePost: t.withAuth({ loggedIn: true }).field({
    type: PostRef,
    description: 'The author only (FORBIDDEN otherwise). Soft delete: text becomes "", deletedAt is set, it leaves the feed. Deleting twice is a no-op.',
    args: { postId: t.arg.id({ required: true }) },
    resolve: (_root, { postId }, ctx) => deletePost(ctx.rt, ctx.viewer, parseId('Post', postId)),
  }),
  commentOnPost: t.withAuth({ loggedIn: true }).field({
    type: CommentRef,
    description:
      "Members of the post's workspace (NOT_FOUND otherwise); not on a deleted post (CONFLICT). The post's author and earlier commenters get a POST_COMMENT notification.",
    args: { input: t.arg({ type: CommentOnPostInput, required: true }) },
    resolve: (_root, { input }, ctx) => commentOnPost(ctx.rt, ctx.viewer, { ...input, postId: parseId('Post', input.postId) }),
  }),
  editComment: t.withAuth({ loggedIn: true }).field({
    type: CommentRef,
    description: 'The author only (FORBIDDEN otherwise); sets editedAt. A deleted comment cannot be edited (CONFLICT).',
    args: { input: t.arg({ type: EditCommentInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      editComment(ctx.rt, ctx.viewer, { ...input, commentId: parseId('Comment', input.commentId) }),
  }),
  deleteComment: t.withAuth({ loggedIn: true }).field({
    type: CommentRef,
    description:
      "The comment's author or the post's author (FORBIDDEN otherwise). Soft delete: text becomes \"\", deletedAt is set, it leaves the post's comments and commentCount. Deleting twice is a no-op.",
    args: { commentId: t.arg.id({ required: true }) },
    resolve: (_root, { commentId }, ctx) => deleteComment(ctx.rt, ctx.viewer, parseId('Comment', commentId)),
  }),
}));

