import { formatPrismaCursor, queryFromInfo } from '@pothos/plugin-prisma';
import type { GraphQLResolveInfo } from 'graphql';
import { builder } from '../../builder.ts';
import type { Context } from '../../context.ts';
import { badInput } from '../../errors.ts';
import type { Comment, Message, Post } from '../../generated/prisma/client.ts';
import { DEFAULT_PAGE_SIZE } from '../../pagination.ts';
import { decodeCursor } from '../../security/cursors.ts';
import { quote } from '../../security/input.ts';
import {
  HIGHLIGHT_END,
  HIGHLIGHT_START,
  search,
  searchChannels,
  searchUsers,
  type SearchHitKind,
  type SearchPosition,
} from '../../services/search.ts';
import { ChannelRef } from '../channel/index.ts';
import { parseId } from '../ids.ts';
import { MessageRef } from '../message/index.ts';
import { CommentRef, PostRef } from '../post/index.ts';
import { UserRef } from '../user/index.ts';

type HitNode = Message | Post | Comment;

/** Which type each loaded hit is: rows carry no type name of their own. */
const hitKinds = new WeakMap<object, SearchHitKind>();

const SearchHitRef = builder.unionType('SearchHit', {
  description: 'A search result: a message or thread reply, a post, or a comment.',
  types: [MessageRef, PostRef, CommentRef],
  resolveType: (node) => hitKinds.get(node as object) ?? 'Message',
});

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The snippet as HTML-escaped text with the matches in `<mark>…</mark>`. */
const markSnippet = (snippet: string) =>
  escapeHtml(snippet).replaceAll(HIGHLIGHT_START, '<mark>').replaceAll(HIGHLIGHT_END, '</mark>');

interface SearchEdge {
  cursor: string;
  snippet: string;
  node: HitNode;
}

const SearchConnectionRef = builder.connectionObject(
  { type: SearchHitRef, name: 'SearchConnection' },
  {
    name: 'SearchEdge',
    fields: (t) => ({
      snippet: t.string({
        description:
          'The text around the matches, HTML-escaped, each match wrapped in <mark>…</mark> (safe to insert as HTML). A text of up to 300 characters is shown whole, a longer one as fragments around the matches; without search words, the first 300 characters.',
        resolve: (edge) => (edge as unknown as SearchEdge).snippet,
      }),
    }),
  },
);

const UserConnectionRef = builder.connectionObject({ type: UserRef, name: 'UserConnection' });
const ChannelConnectionRef = builder.connectionObject({ type: ChannelRef, name: 'ChannelConnection' });

/** A search cursor holds the hit's (rank, id). */
const searchCursor = (at: SearchPosition) => formatPrismaCursor({ rank: at.rankKey, id: at.id }, ['rank', 'id']);

function searchPosition(cursor: string): SearchPosition {
  const [rankKey, id, ...rest] = decodeCursor(cursor) ?? [];
  if (typeof rankKey !== 'number' || typeof id !== 'string' || rest.length) {
    throw badInput(`${quote(cursor)} is not a cursor of this list.`, 'after');
  }
  return { rankKey, id };
}

/** An id cursor (the picker lists page by their row's id). */
function idAfter(cursor: string | null | undefined): string | null {
  if (cursor == null) return null;
  const values = decodeCursor(cursor);
  if (values?.length !== 1 || typeof values[0] !== 'string') throw badInput(`${quote(cursor)} is not a cursor of this list.`, 'after');
  return values[0];
}

/**
 * Loads the hits' rows, one query per type present, with the relations the
 * query selects under `edges.node` (so a page of hits with authors is a few
 * queries, not one per hit).
 */
async function loadHits(ctx: Context, info: GraphQLResolveInfo, hits: { kind: SearchHitKind; id: string }[]) {
  const idsOf = (kind: SearchHitKind) => hits.filter((hit) => hit.kind === kind).map((hit) => hit.id);
  const query = (typeName: SearchHitKind) => queryFromInfo({ context: ctx, info, typeName, path: ['edges', 'node'] });
  const [messages, posts, comments] = await Promise.all([
    idsOf('Message').length ? ctx.rt.prisma.message.findMany({ ...query('Message'), where: { id: { in: idsOf('Message') } } }) : [],
    idsOf('Post').length ? ctx.rt.prisma.post.findMany({ ...query('Post'), where: { id: { in: idsOf('Post') } } }) : [],
    idsOf('Comment').length ? ctx.rt.prisma.comment.findMany({ ...query('Comment'), where: { id: { in: idsOf('Comment') } } }) : [],
  ]);
  const rows = new Map<string, HitNode>();
  for (const [kind, list] of [['Message', messages], ['Post', posts], ['Comment', comments]] as const) {
    for (const row of list as HitNode[]) {
      hitKinds.set(row, kind);
      rows.set(row.id, row);
    }
  }
  return rows;
}

const pageInfo = (edges: { cursor: string }[], hasNextPage: boolean, after: unknown) => ({
  startCursor: edges[0]?.cursor ?? null,
  endCursor: edges.at(-1)?.cursor ?? null,
  hasNextPage,
  hasPreviousPage: after != null,
});

builder.queryFields((t) => ({
  search: t.withAuth({ loggedIn: true }).field({
    type: SearchConnectionRef,
    description:
      'Full-text search over the messages and thread replies of your conversations in the workspace, and its posts and comments; best match first. The query takes words (stemmed, accents ignored), "phrases", `or`, `-word`, and the filters from:@handle, in:#channel, has:attachment, before:YYYY-MM-DD, after:YYYY-MM-DD (UTC days, the day named excluded). At most 500 characters.',
    args: {
      workspaceId: t.arg.id({ required: true }),
      query: t.arg.string({ required: true }),
      first: t.arg.int(),
      after: t.arg.string(),
    },
    extensions: { ownCursors: true },
    resolve: async (_root, args, ctx, info) => {
      await ctx.rt.limits.consume('search', ctx.viewer.userId);
      const first = args.first ?? DEFAULT_PAGE_SIZE;
      const { hits, hasMore } = await search(ctx.rt, ctx.viewer, {
        workspaceId: parseId('Workspace', args.workspaceId),
        query: args.query,
        first,
        after: args.after != null ? searchPosition(args.after) : null,
      });
      const rows = await loadHits(ctx, info, hits);
      // A hit deleted between the search and the load is left out.
      const edges = hits.flatMap((hit) => {
        const node = rows.get(hit.id);
        return node ? [{ cursor: searchCursor(hit), snippet: markSnippet(hit.snippet), node }] : [];
      });
      return { edges, pageInfo: pageInfo(edges, hasMore, args.after) };
    },
  }),
  searchUsers: t.withAuth({ loggedIn: true }).field({
    type: UserConnectionRef,
    description:
      'Members of the workspace whose handle or name starts with the prefix (case-insensitive; a leading @ is ignored), by handle: for mention pickers.',
    args: {
      workspaceId: t.arg.id({ required: true }),
      prefix: t.arg.string({ required: true }),
      first: t.arg.int(),
      after: t.arg.string(),
    },
    resolve: async (_root, args, ctx) => {
      const { users, hasMore } = await searchUsers(ctx.rt, ctx.viewer, {
        workspaceId: parseId('Workspace', args.workspaceId),
        prefix: args.prefix,
        first: args.first ?? DEFAULT_PAGE_SIZE,
        afterId: idAfter(args.after),
      });
      const edges = users.map((user) => ({ cursor: formatPrismaCursor(user, ['id']), node: user }));
      return { edges, pageInfo: pageInfo(edges, hasMore, args.after) };
    },
  }),
  searchChannels: t.withAuth({ loggedIn: true }).field({
    type: ChannelConnectionRef,
    description:
      'Named channels of the workspace you can see or join (public ones, and private ones you are in) whose name starts with the prefix (case-insensitive; a leading # is ignored), by name.',
    args: {
      workspaceId: t.arg.id({ required: true }),
      prefix: t.arg.string({ required: true }),
      first: t.arg.int(),
      after: t.arg.string(),
    },
    resolve: async (_root, args, ctx) => {
      const { channels, hasMore } = await searchChannels(ctx.rt, ctx.viewer, {
        workspaceId: parseId('Workspace', args.workspaceId),
        prefix: args.prefix,
        first: args.first ?? DEFAULT_PAGE_SIZE,
        afterId: idAfter(args.after),
      });
      const edges = channels.map((channel) => ({ cursor: formatPrismaCursor(channel, ['id']), node: channel }));
      return { edges, pageInfo: pageInfo(edges, hasMore, args.after) };
    },
  }),
}));
