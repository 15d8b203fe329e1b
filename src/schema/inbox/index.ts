import { builder } from '../../builder.ts';
import { prisma } from '../../db.ts';
import { streamInbox, type InboxEntry } from '../../services/inbox.ts';
import { ChannelRef } from '../channel/index.ts';

const InboxEventTypeRef = builder.enumType('InboxEventType', {
  values: {
    INITIAL: { description: 'Sent once per channel when the subscription starts: the sidebar’s starting state.' },
    UNREAD_CHANGED: { description: 'The channel’s unread or mention count changed.' },
    CHANNEL_ADDED: { description: 'You joined or were added to a channel, or someone opened a conversation with you.' },
    CHANNEL_REMOVED: { description: 'You left the channel.' },
  } as const,
});

const InboxEventRef = builder.objectRef<InboxEntry>('InboxEvent').implement({
  description: 'One sidebar line: a channel with its badge counts.',
  fields: (t) => ({
    type: t.field({ type: InboxEventTypeRef, resolve: (entry) => entry.type }),
    channel: t.field({
      type: ChannelRef,
      resolve: (entry) => prisma.channel.findUniqueOrThrow({ where: { id: entry.channelId } }),
    }),
    unreadCount: t.exposeInt('unreadCount', { description: 'Top-level messages after your read position.' }),
    mentionCount: t.exposeInt('mentionCount', { description: 'Of those, the ones that @-mention you.' }),
  }),
});

builder.subscriptionField('inbox', (t) =>
  t.withAuth({ loggedIn: true }).field({
    type: InboxEventRef,
    description:
      'Everything a sidebar needs, in one stream: the starting counts of every channel you are in, then unread and mention counts as they change, and channels you are added to or leave. No polling.',
    subscribe: (_root, _args, ctx) => streamInbox(ctx.viewer),
    resolve: (entry: InboxEntry) => entry,
  }),
);
