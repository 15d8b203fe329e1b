import { builder } from '../../builder.ts';
import type { Context } from '../../context.ts';
import { messagePage } from './history.ts';
import {
  addReaction,
  deleteMessage,
  editMessage,
  getMessage,
  removeReaction,
  sendMessage,
  streamMessages,
} from '../../services/message.ts';
import type { ChannelEventPayload } from '../../pubsub.ts';
import { parseId, parseIds } from '../ids.ts';

/**
 * Reactions of messages, oldest first: one query for a page of messages, or,
 * in a subscription, for every subscriber of one event.
 */
const reactionsOf = (ctx: Context) =>
  ctx.batch.loader<string, { emoji: string; userId: string }[]>('reactions', async (messageIds) => {
    const rows = await ctx.rt.prisma.reaction.findMany({
      where: { messageId: { in: [...messageIds] } },
      select: { messageId: true, emoji: true, userId: true },
      orderBy: { createdAt: 'asc' },
    });
    const byMessage = new Map<string, { emoji: string; userId: string }[]>();
    for (const row of rows) byMessage.set(row.messageId, [...(byMessage.get(row.messageId) ?? []), row]);
    return messageIds.map((id) => byMessage.get(id) ?? []);
  });

interface ReactionGroup {
  emoji: string;
  count: number;
  reactedByMe: boolean;
}

const ReactionGroupRef = builder.objectRef<ReactionGroup>('ReactionGroup').implement({
  fields: (t) => ({
    emoji: t.exposeString('emoji'),
    count: t.exposeInt('count'),
    reactedByMe: t.exposeBoolean('reactedByMe'),
  }),
});

export const MessageRef = builder.prismaNode('Message', {
  id: { field: 'id' },
  fields: (t) => ({
    channel: t.relation('channel'),
    author: t.relation('author'),
    text: t.string({
      description: 'Empty once the message is deleted.',
      resolve: (message) => (message.deletedAt ? '' : message.text),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    editedAt: t.expose('editedAt', { type: 'DateTime', nullable: true }),
    deletedAt: t.expose('deletedAt', { type: 'DateTime', nullable: true }),
    clientMessageId: t.exposeString('clientMessageId', {
      nullable: true,
      description: "The sender's idempotency key: a retry with the same key returns this message.",
    }),
    threadRoot: t.relation('threadRoot', { nullable: true }),
    replyCount: t.exposeInt('replyCount'),
    reactions: t.field({
      type: [ReactionGroupRef],
      description: 'Reactions grouped by emoji, in the order each emoji was first used.',
      resolve: async (message, _args, ctx) => {
        const groups = new Map<string, ReactionGroup>();
        for (const { emoji, userId } of await reactionsOf(ctx).load(message.id)) {
          const group = groups.get(emoji) ?? { emoji, count: 0, reactedByMe: false };
          group.count += 1;
          // Read only when there are reactions: an event with none is the same for every viewer.
          group.reactedByMe ||= userId === ctx.viewer?.userId;
          groups.set(emoji, group);
        }
        return [...groups.values()];
      },
    }),
  }),
});

builder.prismaObjectField(MessageRef, 'replies', (t) =>
  t.connection({
    type: MessageRef,
    description: 'Thread replies, oldest first within a page.',
    resolve: (message, args, ctx, info) => messagePage(ctx, info, { channelId: message.channelId, threadRootId: message.id }, args),
  }),
);

const SendMessageInput = builder.inputType('SendMessageInput', {
  fields: (t) => ({
    channelId: t.id({ required: true }),
    text: t.string({ required: true, description: '1 to 100,000 characters, not only white space.' }),
    clientMessageId: t.string({
      description: 'Your idempotency key (at most 128 characters): resending it returns the first message, never a duplicate.',
    }),
    threadRootId: t.id({ description: 'Reply in the thread of this message (a reply to a reply joins the root thread).' }),
    attachmentIds: t.idList({
      description: 'Up to 10 of your own uploads (uploadFile, or createUpload once its bytes arrived) in the same workspace, each sent once.',
    }),
  }),
});

builder.queryField('message', (t) =>
  t.withAuth({ loggedIn: true }).prismaField({
    type: 'Message',
    nullable: true,
    description: 'NOT_FOUND unless the caller may read its channel.',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (query, _root, { id }, ctx) => {
      const message = await getMessage(ctx.rt, ctx.viewer, parseId('Message', id));
      return ctx.rt.prisma.message.findUniqueOrThrow({ ...query, where: { id: message.id } });
    },
  }),
);

builder.mutationField('sendMessage', (t) =>
  t.withAuth({ loggedIn: true }).field({
    type: MessageRef,
    args: { input: t.arg({ type: SendMessageInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      await ctx.rt.limits.consume('sendMessage', ctx.viewer.userId);
      return sendMessage(ctx.rt, ctx.viewer, {
        ...input,
        channelId: parseId('Channel', input.channelId),
        threadRootId: input.threadRootId ? parseId('Message', input.threadRootId) : null,
        attachmentIds: input.attachmentIds ? parseIds('Attachment', input.attachmentIds) : null,
      });
    },
  }),
);

const EditMessageInput = builder.inputType('EditMessageInput', {
  fields: (t) => ({
    messageId: t.id({ required: true }),
    text: t.string({ required: true, description: '1 to 100,000 characters, not only white space.' }),
  }),
});

builder.mutationFields((t) => ({
  editMessage: t.withAuth({ loggedIn: true }).field({
    type: MessageRef,
    description: 'The author only; sets editedAt and emits MESSAGE_EDITED.',
    args: { input: t.arg({ type: EditMessageInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      editMessage(ctx.rt, ctx.viewer, { ...input, messageId: parseId('Message', input.messageId) }),
  }),
  deleteMessage: t.withAuth({ loggedIn: true }).field({
    type: MessageRef,
    description: 'The author or a workspace owner/admin. Soft delete: text becomes "", deletedAt is set, replies stay.',
    args: { messageId: t.arg.id({ required: true }) },
    resolve: (_root, { messageId }, ctx) => deleteMessage(ctx.rt, ctx.viewer, parseId('Message', messageId)),
  }),
  addReaction: t.withAuth({ loggedIn: true }).field({
    type: MessageRef,
    description: 'A single emoji or a :shortcode:. Reacting twice is a no-op.',
    args: { messageId: t.arg.id({ required: true }), emoji: t.arg.string({ required: true }) },
    resolve: (_root, { messageId, emoji }, ctx) => addReaction(ctx.rt, ctx.viewer, parseId('Message', messageId), emoji),
  }),
  removeReaction: t.withAuth({ loggedIn: true }).field({
    type: MessageRef,
    args: { messageId: t.arg.id({ required: true }), emoji: t.arg.string({ required: true }) },
    resolve: (_root, { messageId, emoji }, ctx) => removeReaction(ctx.rt, ctx.viewer, parseId('Message', messageId), emoji),
  }),
}));

builder.subscriptionField('messageAdded', (t) =>
  t.withAuth({ loggedIn: true }).prismaField({
    type: 'Message',
    description:
      'Every new message in the channel, thread replies included (they have a threadRoot). On a connection under 2 s old it also delivers messages posted in the second before the connection opened, so subscribing and posting at once loses nothing; de-duplicate by id. For exact resumption use channelEvents(after:).',
    args: { channelId: t.arg.id({ required: true }) },
    subscribe: (_root, { channelId }, ctx) => streamMessages(ctx.rt, ctx.viewer, parseId('Channel', channelId), ctx.connectedAt),
    resolve: (query, event, _args, ctx) =>
      ctx.rt.prisma.message.findUniqueOrThrow({ ...query, where: { id: (event as ChannelEventPayload).messageId! } }),
  }),
);
