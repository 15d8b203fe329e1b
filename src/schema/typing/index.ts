import { builder } from '../../builder.ts';
import type { TypingPayload } from '../../pubsub.ts';
import { setTyping, streamTyping, TYPING_EXPIRES_MS, TYPING_THROTTLE_MS } from '../../services/typing.ts';
import { ChannelRef } from '../channel/index.ts';
import { loadOncePerEvent } from '../../services/eventRows.ts';
import { parseId } from '../ids.ts';
import { UserRef } from '../user/index.ts';

const TypingEventRef = builder.objectRef<TypingPayload>('TypingEvent').implement({
  description: 'Someone is typing in a channel. Not stored; show it until `expiresAt` or until their message arrives.',
  fields: (t) => ({
    // Loaded once per event on this instance, whatever the number of subscribers.
    user: t.field({
      type: UserRef,
      resolve: (event, _args, ctx) => loadOncePerEvent(event, 'user', () => ctx.rt.prisma.user.findUniqueOrThrow({ where: { id: event.userId } })),
    }),
    channel: t.field({
      type: ChannelRef,
      resolve: (event, _args, ctx) =>
        loadOncePerEvent(event, 'channel', () => ctx.rt.prisma.channel.findUniqueOrThrow({ where: { id: event.channelId } })),
    }),
    expiresAt: t.field({
      type: 'DateTime',
      description: `Stop showing the indicator after this (${TYPING_EXPIRES_MS / 1000} seconds after the event) unless a newer event renews it.`,
      resolve: (event) => new Date(event.expiresAt),
    }),
  }),
});

builder.mutationField('setTyping', (t) =>
  t.withAuth({ loggedIn: true }).boolean({
    description: `Tells the channel's other members that you are typing. Channel members only. Call it while typing; calls within ${TYPING_THROTTLE_MS / 1000} seconds of the last announced one return true without announcing again.`,
    args: { channelId: t.arg.id({ required: true }) },
    resolve: async (_root, { channelId }, ctx) => {
      await ctx.rt.limits.consume('setTyping', ctx.viewer.userId);
      return setTyping(ctx.rt, ctx.viewer, parseId('Channel', channelId));
    },
  }),
);

builder.subscriptionField('typing', (t) =>
  t.withAuth({ loggedIn: true }).field({
    type: TypingEventRef,
    description:
      'Who else is typing in the channel (your own typing is not echoed). NOT_FOUND unless you may read the channel; ends when you no longer may.',
    args: { channelId: t.arg.id({ required: true }) },
    subscribe: (_root, { channelId }, ctx) => streamTyping(ctx.rt, ctx.viewer, parseId('Channel', channelId)),
    resolve: (event: TypingPayload) => event,
  }),
);
