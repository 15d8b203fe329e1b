import { builder } from '../../builder.ts';
import { streamInbox, type InboxEntry } from '../../services/inbox.ts';
import { ChannelRef } from '../channel/index.ts';
import { MessageRef } from '../message/index.ts';

const InboxEventTypeRef = builder.enumType('InboxEventType', {
  values: {
    INITIAL: {
      description:
        'Sent when the subscription starts, once per channel and once per followed thread with unread replies: the sidebar’s starting state.',
    },
    UNREAD_CHANGED: { description: 'The channel’s unread or mention count changed.' },
    CHANNEL_ADDED: { description: 'You joined or were added to a channel, or someone opened a conversation with you.' },
    CHANNEL_REMOVED: { description: 'You left the channel, or were removed from it or from its workspace.' },
    CHANNEL_UPDATED: { description: 'The channel’s name, topic, purpose, privacy or archived state changed: read `channel` again.' },
    THREAD_FOLLOWED: {
      description: 'You now follow a thread: you replied in it, started it and got a reply, or were mentioned in it.',
    },
    NOTIFICATIONS_CHANGED: {
      description:
        'Your unread notification count (`unreadNotificationCount`) changed; sent once when the subscription starts, too. No channel.',
    },
  } as const,
});

const InboxEventRef = builder.objectRef<InboxEntry>('InboxEvent').implement({
  description: 'One sidebar line: a channel, or a thread you follow (`thread` set), with its badge counts.',
  fields: (t) => ({
    type: t.field({ type: InboxEventTypeRef, resolve: (entry) => entry.type }),
    channel: t.field({
      type: ChannelRef,
      nullable: true,
      description: 'The channel the counts are of; null for NOTIFICATIONS_CHANGED.',
      resolve: (entry, _args, ctx) => (entry.channelId ? ctx.rt.prisma.channel.findUniqueOrThrow({ where: { id: entry.channelId } }) : null),
    }),
    thread: t.field({
      type: MessageRef,
      nullable: true,
      description: 'The thread’s root message when the counts are those of a thread.',
      resolve: (entry, _args, ctx) => (entry.threadRootId ? ctx.rt.prisma.message.findUnique({ where: { id: entry.threadRootId } }) : null),
    }),
    unreadCount: t.exposeInt('unreadCount', {
      description: 'Messages after your read position: top-level ones for a channel, replies for a thread.',
    }),
    mentionCount: t.exposeInt('mentionCount', { description: 'Of those, the ones that @-mention you.' }),
    unreadNotificationCount: t.int({
      nullable: true,
      description: 'For NOTIFICATIONS_CHANGED: your unread notifications (as unreadNotificationCount answers).',
      resolve: (entry) => entry.unreadNotificationCount ?? null,
    }),
  }),
});

builder.subscriptionField('inbox', (t) =>
  t.withAuth({ loggedIn: true }).field({
    type: InboxEventRef,
    description:
      'Everything a sidebar needs, in one stream: the starting counts of every channel you are in, then unread and mention counts as they change, and channels you are added to or leave. No polling.',
    subscribe: (_root, _args, ctx) => streamInbox(ctx.rt, ctx.viewer),
    resolve: (entry: InboxEntry) => entry,
  }),
);
