import { beforeAll, describe, expect, it } from 'vitest';
import {
  CommentOnPostDocument,
  CreatePostDocument,
  DeleteCommentDocument,
  DeletePostDocument,
  EditCommentDocument,
  EditPostDocument,
  FeedDocument,
  PostCommentsDocument,
  PostOrCommentNodeDocument,
} from '../client/generated/graphql.ts';
import { decodeId } from '../src/schema/ids.ts';
import { ok, refused } from './support/client.ts';
import { backendName, startServer, type TestServer } from './support/server.ts';
import { signUpUsers, workspaceWith, type TestUser } from './support/world.ts';

let server: TestServer;
let ann: TestUser;
let bob: TestUser;
let cat: TestUser;
let outsider: TestUser;
let workspaceId: string;
let otherWorkspaceId: string;
beforeAll(async () => {
  server = await startServer();
  [ann, bob, cat, outsider] = await signUpUsers(server, 'ann', 'bob', 'cat', 'outsider');
  workspaceId = await workspaceWith(server, ann, [bob, cat]);
  otherWorkspaceId = await workspaceWith(server, outsider);
});

const raw = (id: string) => decodeId(id).id;
const post = async (user: TestUser, text: string, ws = workspaceId) =>
  (await ok(server, CreatePostDocument, { input: { workspaceId: ws, text } }, user.token)).createPost;
const comment = async (user: TestUser, postId: string, text: string) =>
  (await ok(server, CommentOnPostDocument, { input: { postId, text } }, user.token)).commentOnPost;
const postRow = (id: string) => server.app.runtime.prisma.post.findUniqueOrThrow({ where: { id: raw(id) } });
const commentRow = (id: string) => server.app.runtime.prisma.comment.findUniqueOrThrow({ where: { id: raw(id) } });

/** Texts that are no post or comment: each is BAD_USER_INPUT and stores nothing. */
const badTexts: [string, string][] = [
  ['empty', ''],
  ['only white space', ' \n\t '],
  ['only zero-width characters', '\u200b\u200b'],
  ['a control character', 'hi\u0007'],
  ['over 100,000 characters', 'x'.repeat(100_001)],
];

describe(`posts (${backendName})`, () => {
  it('lets a member post, as written, and tells everyone in the workspace', async () => {
    const created = await post(bob, '  Hello, *team*  ');
    expect(created).toMatchObject({
      text: '  Hello, *team*  ',
      editedAt: null,
      deletedAt: null,
      commentCount: 0,
      author: { id: bob.id },
      workspace: { id: workspaceId },
    });
    const { node } = await ok(server, PostOrCommentNodeDocument, { id: created.id }, cat.token);
    expect(node).toMatchObject({ __typename: 'Post', id: created.id, text: '  Hello, *team*  ' });
    expect((await post(ann, 'x'.repeat(100_000))).text).toHaveLength(100_000);
  });

  it.each(badTexts)('refuses a post whose text is %s (BAD_USER_INPUT) and stores nothing', async (_what, text) => {
    const before = await server.app.runtime.prisma.post.count();
    const error = await refused(server, 'BAD_USER_INPUT', CreatePostDocument, { input: { workspaceId, text } }, ann.token);
    expect(error.message).toMatch(/text/);
    expect(await server.app.runtime.prisma.post.count()).toBe(before);
  });

  it('answers NOT_FOUND to posting in a workspace the caller is not in, and UNAUTHENTICATED without a token', async () => {
    const before = await server.app.runtime.prisma.post.count();
    await refused(server, 'NOT_FOUND', CreatePostDocument, { input: { workspaceId, text: 'hi' } }, outsider.token);
    await refused(server, 'NOT_FOUND', CreatePostDocument, { input: { workspaceId: otherWorkspaceId, text: 'hi' } }, ann.token);
    await refused(server, 'BAD_USER_INPUT', CreatePostDocument, { input: { workspaceId: 'nope', text: 'hi' } }, ann.token);
    await refused(server, 'UNAUTHENTICATED', CreatePostDocument, { input: { workspaceId, text: 'hi' } });
    expect(await server.app.runtime.prisma.post.count()).toBe(before);
  });

  it('lets only the author edit (FORBIDDEN for others, NOT_FOUND outside), and sets editedAt', async () => {
    const { id } = await post(ann, 'draft');
    await refused(server, 'FORBIDDEN', EditPostDocument, { input: { postId: id, text: 'mine now' } }, bob.token);
    await refused(server, 'NOT_FOUND', EditPostDocument, { input: { postId: id, text: 'mine now' } }, outsider.token);
    await refused(server, 'BAD_USER_INPUT', EditPostDocument, { input: { postId: id, text: '   ' } }, ann.token);
    expect(await postRow(id)).toMatchObject({ text: 'draft', editedAt: null });

    const { editPost } = await ok(server, EditPostDocument, { input: { postId: id, text: 'final' } }, ann.token);
    expect(editPost.text).toBe('final');
    expect(editPost.editedAt).not.toBeNull();
  });

  it('soft-deletes for the author only, once; a deleted post cannot be edited or commented on (CONFLICT)', async () => {
    const { id } = await post(ann, 'short-lived');
    await refused(server, 'FORBIDDEN', DeletePostDocument, { postId: id }, bob.token);
    await refused(server, 'NOT_FOUND', DeletePostDocument, { postId: id }, outsider.token);
    expect((await postRow(id)).deletedAt).toBeNull();

    const { deletePost } = await ok(server, DeletePostDocument, { postId: id }, ann.token);
    expect(deletePost).toMatchObject({ text: '' });
    expect(deletePost.deletedAt).not.toBeNull();
    expect((await postRow(id)).text).toBe('');
    const again = await ok(server, DeletePostDocument, { postId: id }, ann.token);
    expect(again.deletePost.deletedAt).toBe(deletePost.deletedAt);
    // Still FORBIDDEN to others once deleted: the rule does not depend on the state.
    await refused(server, 'FORBIDDEN', DeletePostDocument, { postId: id }, bob.token);

    await refused(server, 'CONFLICT', EditPostDocument, { input: { postId: id, text: 'back' } }, ann.token);
    await refused(server, 'CONFLICT', CommentOnPostDocument, { input: { postId: id, text: 'hello?' } }, bob.token);
    expect(await server.app.runtime.prisma.comment.count({ where: { postId: raw(id) } })).toBe(0);
    const { node } = await ok(server, PostOrCommentNodeDocument, { id }, bob.token);
    expect(node).toMatchObject({ __typename: 'Post', text: '', deletedAt: deletePost.deletedAt });
  });
});

describe(`comments (${backendName})`, () => {
  it('lets members comment and counts comments on the post; outsiders get NOT_FOUND', async () => {
    const { id: postId } = await post(ann, 'discuss');
    const first = await comment(bob, postId, 'first!');
    expect(first).toMatchObject({ text: 'first!', author: { id: bob.id }, post: { id: postId }, editedAt: null, deletedAt: null });
    await comment(cat, postId, 'second');
    await refused(server, 'NOT_FOUND', CommentOnPostDocument, { input: { postId, text: 'let me in' } }, outsider.token);
    await refused(server, 'BAD_USER_INPUT', CommentOnPostDocument, { input: { postId, text: '' } }, bob.token);
    await refused(server, 'BAD_USER_INPUT', CommentOnPostDocument, { input: { postId, text: 'y'.repeat(100_001) } }, bob.token);
    expect((await postRow(postId)).commentCount).toBe(2);
  });

  it('lets only the author edit a comment; the comment or post author may delete it, once', async () => {
    const { id: postId } = await post(ann, 'moderated');
    const { id } = await comment(bob, postId, 'hot take');
    await refused(server, 'FORBIDDEN', EditCommentDocument, { input: { commentId: id, text: 'edited' } }, ann.token);
    await refused(server, 'NOT_FOUND', EditCommentDocument, { input: { commentId: id, text: 'edited' } }, outsider.token);
    await refused(server, 'BAD_USER_INPUT', EditCommentDocument, { input: { commentId: id, text: '\u200b' } }, bob.token);
    const { editComment } = await ok(server, EditCommentDocument, { input: { commentId: id, text: 'warm take' } }, bob.token);
    expect(editComment.text).toBe('warm take');
    expect(editComment.editedAt).not.toBeNull();

    // cat wrote neither the comment nor the post.
    await refused(server, 'FORBIDDEN', DeleteCommentDocument, { commentId: id }, cat.token);
    await refused(server, 'NOT_FOUND', DeleteCommentDocument, { commentId: id }, outsider.token);
    expect((await commentRow(id)).deletedAt).toBeNull();

    const { deleteComment } = await ok(server, DeleteCommentDocument, { commentId: id }, ann.token);
    expect(deleteComment).toMatchObject({ text: '' });
    expect(deleteComment.deletedAt).not.toBeNull();
    await ok(server, DeleteCommentDocument, { commentId: id }, bob.token);
    expect((await postRow(postId)).commentCount).toBe(0);
    await refused(server, 'CONFLICT', EditCommentDocument, { input: { commentId: id, text: 'undo' } }, bob.token);
  });

  it('lists comments oldest first, in keyset pages, leaving deleted ones out', async () => {
    const { id: postId } = await post(ann, 'thread');
    const ids: string[] = [];
    for (const text of ['c1', 'c2', 'c3', 'c4', 'c5']) ids.push((await comment(bob, postId, text)).id);
    await ok(server, DeleteCommentDocument, { commentId: ids[2]! }, bob.token);
    const seen: string[] = [];
    let after: string | null | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const { node } = await ok(server, PostCommentsDocument, { id: postId, first: 2, after }, cat.token);
      if (node?.__typename !== 'Post') throw new Error('not a post');
      expect(node.commentCount).toBe(4);
      seen.push(...node.comments.edges.map((e) => e.node.text));
      if (!node.comments.pageInfo.hasNextPage) break;
      after = node.comments.pageInfo.endCursor;
    }
    expect(seen).toEqual(['c1', 'c2', 'c4', 'c5']);
    await refused(server, 'BAD_USER_INPUT', PostCommentsDocument, { id: postId, first: 101 }, cat.token);
  });
});

describe(`the workspace feed (${backendName})`, () => {
  it('lists posts newest first in keyset pages, leaving deleted ones out, ties broken by id', async () => {
    const ws = await workspaceWith(server, cat, [bob]);
    const ids: string[] = [];
    for (let i = 1; i <= 7; i++) ids.push((await post(i % 2 ? cat : bob, `p${i}`, ws)).id);
    await ok(server, DeletePostDocument, { postId: ids[3]! }, bob.token);
    // Two posts in the same millisecond: the id decides between them.
    const instant = await postRow(ids[5]!);
    await server.app.runtime.prisma.post.update({ where: { id: raw(ids[4]!) }, data: { createdAt: instant.createdAt } });

    const readAll = async (first: number) => {
      const seen: string[] = [];
      let after: string | null | undefined;
      for (let pages = 0; pages < 20; pages++) {
        const { workspace } = await ok(server, FeedDocument, { id: ws, first, after }, bob.token);
        seen.push(...workspace!.feed.edges.map((e) => e.node.text));
        expect(workspace!.feed.pageInfo.hasPreviousPage).toBe(after != null);
        if (!workspace!.feed.pageInfo.hasNextPage) break;
        after = workspace!.feed.pageInfo.endCursor;
      }
      return seen;
    };
    const tie = raw(ids[4]!) > raw(ids[5]!) ? ['p5', 'p6'] : ['p6', 'p5'];
    const expected = ['p7', ...tie, 'p3', 'p2', 'p1'];
    expect(await readAll(2)).toEqual(expected);
    expect(await readAll(3)).toEqual(expected);
    expect(await readAll(100)).toEqual(expected);
  });

  it('refuses pages over 100, cursors of another workspace, and outsiders', async () => {
    await post(ann, 'for the cursor');
    await post(outsider, 'elsewhere', otherWorkspaceId);
    const { workspace } = await ok(server, FeedDocument, { id: otherWorkspaceId, first: 1 }, outsider.token);
    const foreign = workspace!.feed.edges[0]!.cursor;
    await refused(server, 'BAD_USER_INPUT', FeedDocument, { id: workspaceId, first: 101 }, ann.token);
    await refused(server, 'BAD_USER_INPUT', FeedDocument, { id: workspaceId, first: 5, after: 'nonsense' }, ann.token);
    const error = await refused(server, 'BAD_USER_INPUT', FeedDocument, { id: workspaceId, first: 5, after: foreign }, ann.token);
    expect(error.message).toMatch(/another list/);
    await refused(server, 'NOT_FOUND', FeedDocument, { id: workspaceId }, outsider.token);
  });
});

describe(`node(id) on posts and comments (${backendName})`, () => {
  it('answers members of the workspace and NOT_FOUND to anyone else', async () => {
    const { id: postId } = await post(ann, 'private to the team');
    const { id: commentId } = await comment(bob, postId, 'indeed');
    const asMember = await ok(server, PostOrCommentNodeDocument, { id: commentId }, cat.token);
    expect(asMember.node).toMatchObject({ __typename: 'Comment', id: commentId, text: 'indeed', post: { id: postId } });
    const postError = await refused(server, 'NOT_FOUND', PostOrCommentNodeDocument, { id: postId }, outsider.token);
    const commentError = await refused(server, 'NOT_FOUND', PostOrCommentNodeDocument, { id: commentId }, outsider.token);
    expect(postError.message).toBe('Post not found.');
    expect(commentError.message).toBe('Comment not found.');
    await refused(server, 'NOT_FOUND', EditPostDocument, { input: { postId: commentId, text: 'wrong type' } }, ann.token);
  });
});

describe(`query counts on social pages (${backendName})`, () => {
  /** How many SQL statements Prisma ran during `action`. */
  async function countQueries(action: () => Promise<unknown>): Promise<string[]> {
    const statements: string[] = [];
    const stop = server.app.runtime.db.onQuery((sql) => statements.push(sql));
    try {
      await action();
    } finally {
      stop();
    }
    return statements;
  }

  it('loads a feed page with authors and workspaces, and a page of comments, in the same number of statements at any size', async () => {
    const ws = await workspaceWith(server, ann, [bob, cat]);
    const posts: string[] = [];
    for (let i = 0; i < 12; i++) posts.push((await post([ann, bob, cat][i % 3]!, `q${i}`, ws)).id);
    for (let i = 0; i < 12; i++) await comment([ann, bob, cat][i % 3]!, posts[0]!, `r${i}`);
    // The notifications those writes started must not be counted with the reads.
    await server.app.runtime.background.drained();
    const small = await countQueries(() => ok(server, FeedDocument, { id: ws, first: 2 }, bob.token));
    const large = await countQueries(() => ok(server, FeedDocument, { id: ws, first: 12 }, bob.token));
    expect(large.length, large.join('\n')).toBe(small.length);
    const smallComments = await countQueries(() => ok(server, PostCommentsDocument, { id: posts[0]!, first: 2 }, bob.token));
    const largeComments = await countQueries(() => ok(server, PostCommentsDocument, { id: posts[0]!, first: 12 }, bob.token));
    expect(largeComments.length, largeComments.join('\n')).toBe(smallComments.length);
  });
});
