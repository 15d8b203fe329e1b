import { builder } from '../../builder.ts';
import type { ChannelEventPayload } from '../../pubsub.ts';
import { streamChannelEvents } from '../../services/channelStream.ts';
import { eventCursor, parseEventCursor } from './cursor.ts';
import { ChannelRef } from '../channel/index.ts';
import { loadOncePerEvent } from '../../services/eventRows.ts';
import { parseId } from '../ids.ts';
import { MessageRef } from '../message/index.ts';
import { UserRef } from '../user/index.ts';

const ChannelEventTypeRef = builder.enumType('ChannelEventType', {
  values: {
    MESSAGE_ADDED: { description: 'A message or thread reply was posted (`message`, `user` = author).' },
    MESSAGE_EDITED: { description: 'A message’s text changed (`message`).' },
    MESSAGE_DELETED: { description: 'A message was deleted (`message`, `user` = who deleted it).' },
    REACTION_ADDED: { description: '`user` reacted to `message` with `emoji`.' },
    REACTION_REMOVED: { description: '`user` removed their `emoji` reaction from `message`.' },
    MEMBER_JOINED: { description: '`user` joined or was added.' },
    MEMBER_LEFT: { description: '`user` left.' },
    READ: { description: '`user` has read up to `message` (for "seen by").' },
    CHANNEL_UPDATED: { description: 'The channel’s settings changed.' },
  } as const,
});

const ChannelEventRef = builder.objectRef<ChannelEventPayload>('ChannelEvent').implement({
  description: 'One change to a channel. Events of a channel are totally ordered by `cursor`.',
  fields: (t) => ({
    cursor: t.string({
      description: 'Opaque and strictly increasing within the channel: pass it as `channelEvents(after:)` to resume.',
      resolve: (event) => eventCursor(event.channelId, event.seq),
    }),
    seq: t.exposeInt('seq', { description: 'The event’s position in the channel: 1, 2, 3, … with no gaps.' }),
    type: t.field({ type: ChannelEventTypeRef, resolve: (event) => event.type }),
    createdAt: t.field({ type: 'DateTime', resolve: (event) => new Date(event.createdAt) }),
    // Loaded once per event on this instance, whatever the number of subscribers.
    channel: t.field({
      type: ChannelRef,
      resolve: (event, _args, ctx) =>
        loadOncePerEvent(event, 'channel', () => ctx.rt.prisma.channel.findUniqueOrThrow({ where: { id: event.channelId } })),
    }),
    message: t.field({
      type: MessageRef,
      nullable: true,
      resolve: (event, _args, ctx) =>
        event.messageId
          ? loadOncePerEvent(event, 'message', () => ctx.rt.prisma.message.findUnique({ where: { id: event.messageId! } }))
          : null,
    }),
    user: t.field({
      type: UserRef,
      nullable: true,
      resolve: (event, _args, ctx) =>
        event.userId ? loadOncePerEvent(event, 'user', () => ctx.rt.prisma.user.findUnique({ where: { id: event.userId! } })) : null,
    }),
    emoji: t.string({
      nullable: true,
      description: 'The reaction, for REACTION_ADDED and REACTION_REMOVED.',
      resolve: (event) => event.emoji,
    }),
  }),
});

builder.subscriptionField('channelEvents', (t) =>
  t.withAuth({ loggedIn: true }).field({
    type: ChannelEventRef,
    description:
      'Every change to the channel, in order. With `after` (a ChannelEvent.cursor or a message edge cursor) it first replays what came after it, then goes live, with no gap and no duplicate. Ends with an error when you leave the channel or your session is revoked.',
    args: { channelId: t.arg.id({ required: true }), after: t.arg.string() },
    subscribe: (_root, { channelId, after }, ctx) => {
      const id = parseId('Channel', channelId);
      return streamChannelEvents(ctx.rt, ctx.viewer, id, { afterSeq: after == null ? null : parseEventCursor(after, id) });
    },
    resolve: (event: ChannelEventPayload) => event,
  }),
);
