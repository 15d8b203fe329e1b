import { builder } from '../../builder.ts';
import type { Context } from '../../context.ts';
import { badInput, forbidden } from '../../errors.ts';
import type { User } from '../../generated/prisma/client.ts';
import { DEFAULT_PAGE_SIZE } from '../../pagination.ts';
import { decodeCursor } from '../../security/cursors.ts';
import { quote } from '../../security/input.ts';
import {
  countReaders,
  loadPositions,
  loadReceiptPages,
  MAX_RECEIPT_MEMBERS,
  type ChannelPositions,
  type Receipt,
  type ReceiptMessage,
  type ReceiptPageRequest,
} from '../../services/readReceipts.ts';
import { keysetCursor } from '../keyset.ts';
import { UserRef } from '../user/index.ts';
import { MessageRef } from './index.ts';

/**
 * Read positions of the channels (and message authors) a request or an event
 * asks about: one statement for a whole page of messages.
 */
const positionsOf = (ctx: Context) =>
  ctx.batch.loader<ReceiptMessage, { channel: ChannelPositions; author: number | undefined }>('readPositionsByChannel', async (messages) => {
    const { channels, people } = await loadPositions(
      ctx.rt,
      [...new Set(messages.map((m) => m.channelId))],
      messages.map((m) => ({ channelId: m.channelId, userId: m.authorId })),
    );
    return messages.map((m) => ({ channel: channels.get(m.channelId)!, author: people.get(`${m.channelId}:${m.authorId}`) }));
  });

const receiptPages = (ctx: Context) =>
  ctx.batch.loader<ReceiptPageRequest, Receipt[]>('readReceiptPages', (requests) => loadReceiptPages(ctx.rt, requests));

const usersById = (ctx: Context) =>
  ctx.batch.loader<string, User>('receiptUsers', async (ids) => {
    const users = await ctx.rt.prisma.user.findMany({ where: { id: { in: [...ids] } } });
    const byId = new Map(users.map((user) => [user.id, user]));
    return ids.map((id) => byId.get(id)!);
  });

const ReadReceiptRef = builder.objectRef<Receipt>('ReadReceipt').implement({
  description: 'A member who has read a message, and when their read position reached it.',
  fields: (t) => ({
    user: t.field({ type: UserRef, resolve: (receipt, _args, ctx) => usersById(ctx).load(receipt.userId) }),
    readAt: t.expose('readAt', { type: 'DateTime' }),
  }),
});

/** The (readAt, userId) a readBy cursor points at; the page plugin has checked its shape and owner (the channel). */
function receiptPosition(cursor: string): { readAt: Date; userId: string } {
  const [, readAt, userId] = decodeCursor(cursor) ?? [];
  if (!(readAt instanceof Date) || typeof userId !== 'string') throw badInput(`${quote(cursor)} is not a cursor of this list.`, 'after');
  return { readAt, userId };
}

const receiptSelect = { id: true, channelId: true, number: true, authorId: true } as const;

builder.prismaObjectFields(MessageRef, (t) => ({
  readCount: t.int({
    description:
      'How many members other than the author have read the message (their read position reached it). 0 for thread replies. Cheap at any channel size.',
    select: receiptSelect,
    resolve: async (message, _args, ctx) => {
      if (message.number === null) return 0;
      const { channel, author } = await positionsOf(ctx).load(message);
      return countReaders(message, channel, author);
    },
  }),
  readBy: t.connection(
    {
      type: ReadReceiptRef,
      description: `Members other than the author who have read the message, first readers first, with when ("seen by"). Empty for thread replies. Refused (FORBIDDEN) in conversations of more than ${MAX_RECEIPT_MEMBERS} members; readCount works there.`,
      select: receiptSelect,
      resolve: async (message, args, ctx) => {
        if (message.number === null) {
          return { edges: [], pageInfo: { startCursor: null, endCursor: null, hasNextPage: false, hasPreviousPage: args.after != null } };
        }
        if (args.last != null || args.before != null) {
          throw badInput('readBy pages forward only: use first and after.');
        }
        const { channel } = await positionsOf(ctx).load(message);
        if (channel.members > MAX_RECEIPT_MEMBERS) {
          throw forbidden(
            `Read receipts list readers only in conversations of up to ${MAX_RECEIPT_MEMBERS} members; this one has ${channel.members}. Use readCount.`,
          );
        }
        const take = args.first ?? DEFAULT_PAGE_SIZE;
        const after = args.after != null ? receiptPosition(args.after) : null;
        const rows = await receiptPages(ctx).load({ message, after, take: take + 1 });
        const page = rows.slice(0, take);
        const edges = page.map((receipt) => ({
          cursor: keysetCursor(message.channelId, { createdAt: receipt.readAt, id: receipt.userId }),
          node: receipt,
        }));
        return {
          edges,
          pageInfo: {
            startCursor: edges[0]?.cursor ?? null,
            endCursor: edges.at(-1)?.cursor ?? null,
            hasNextPage: rows.length > take,
            hasPreviousPage: args.after != null,
          },
        };
      },
    },
    { name: 'ReadReceiptConnection' },
    { name: 'ReadReceiptEdge' },
  ),
}));
