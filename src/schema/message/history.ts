import { formatPrismaCursor, queryFromInfo } from '@pothos/plugin-prisma';
import type { GraphQLResolveInfo } from 'graphql';
import type { Context } from '../../context.ts';
import type { Message, Prisma } from '../../generated/prisma/client.ts';
import { DEFAULT_PAGE_SIZE } from '../../pagination.ts';
import { decodeCursor } from '../../security/cursors.ts';

export interface PageArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

/** The sequence number a message edge cursor (channelId, seq) points at; the page plugin has checked its shape and owner. */
const seqOf = (cursor: string) => Number(decodeCursor(cursor)![1]);

/**
 * A page of messages in `seq` order (oldest first within the page), read by
 * keyset on the `(channelId, seq)` index with a LIMIT: `first`/`after` reads
 * forward, `last`/`before` backward, so any depth costs the same. (Prisma's
 * own cursor pagination with a negative `take` reads every older row and
 * slices in memory.) Cursors are the ones Pothos's prisma connections write,
 * so they stay valid for `channelEvents(after:)` too. The relations the
 * query selects under `edges.node` (the author, say) are loaded with the page,
 * not by Pothos's per-row fallback.
 */
export async function messagePage(ctx: Context, info: GraphQLResolveInfo, where: Prisma.MessageWhereInput, args: PageArgs) {
  const backward = args.before != null || args.last != null;
  const size = (backward ? args.last : args.first) ?? DEFAULT_PAGE_SIZE;
  const seq = args.after != null ? { gt: seqOf(args.after) } : args.before != null ? { lt: seqOf(args.before) } : undefined;
  const query = queryFromInfo({ context: ctx, info, typeName: 'Message', path: ['edges', 'node'] });
  const rows = await ctx.rt.prisma.message.findMany({
    ...query,
    where: seq ? { ...where, seq } : where,
    orderBy: { seq: backward ? 'desc' : 'asc' },
    take: size + 1,
  });
  const full = rows.length > size;
  const nodes: Message[] = full ? rows.slice(0, size) : rows;
  if (backward) nodes.reverse();
  const edges = nodes.map((node) => ({ cursor: formatPrismaCursor(node, ['channelId', 'seq']), node }));
  return {
    edges,
    pageInfo: {
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
      // As Pothos's prisma connections answer: a cursor on the other side means there is more there.
      hasNextPage: args.before != null ? true : backward ? false : full,
      hasPreviousPage: args.after != null ? true : backward ? full : false,
    },
  };
}
