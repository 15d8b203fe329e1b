import { builder } from '../../builder.ts';
import type { PresencePayload } from '../../pubsub.ts';
import { streamPresence, type PresenceStatus } from '../../services/presence.ts';
import { parseId } from '../ids.ts';
import { loadOncePerEvent } from '../../services/eventRows.ts';
import { UserRef } from '../user/index.ts';

const PresenceStatusRef = builder.enumType('PresenceStatus', {
  values: {
    ONLINE: { description: 'At least one of the user’s devices is connected (or was, less than a few seconds ago).' },
    OFFLINE: { description: 'None of the user’s devices is connected.' },
  } as const,
});

const PresenceRef = builder.objectRef<{ status: PresenceStatus; lastActiveAt: Date | null }>('Presence').implement({
  description: 'Whether a user is connected, and when they last were.',
  fields: (t) => ({
    status: t.field({ type: PresenceStatusRef, resolve: (presence) => presence.status }),
    lastActiveAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When the user last went offline or came online; null if they never connected.',
      resolve: (presence) => presence.lastActiveAt,
    }),
  }),
});

builder.prismaObjectField(UserRef, 'presence', (t) =>
  t.field({
    type: PresenceRef,
    description: 'ONLINE while any of the user’s devices has a subscription socket open.',
    resolve: async (user, _args, ctx) => ({ status: await ctx.rt.presence.status(user.id), lastActiveAt: user.lastActiveAt }),
  }),
);

const PresenceEventRef = builder.objectRef<PresencePayload>('PresenceEvent').implement({
  description: 'A member of the workspace came online or went offline.',
  fields: (t) => ({
    // Prisma batches the findUnique calls of all subscribers receiving one event into one query.
    user: t.field({
      type: UserRef,
      resolve: (event, _args, ctx) => loadOncePerEvent(event, 'user', () => ctx.rt.prisma.user.findUniqueOrThrow({ where: { id: event.userId } })),
    }),
    status: t.field({ type: PresenceStatusRef, resolve: (event) => event.status }),
    lastActiveAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'For OFFLINE, when the user was last connected; for ONLINE, now.',
      resolve: (event) => (event.lastActiveAt ? new Date(event.lastActiveAt) : null),
    }),
  }),
});

builder.subscriptionField('presenceChanged', (t) =>
  t.withAuth({ loggedIn: true }).field({
    type: PresenceEventRef,
    description:
      'Members of the workspace coming online and going offline (only real changes: a second device does not announce again). NOT_FOUND unless you are a member.',
    args: { workspaceId: t.arg.id({ required: true }) },
    subscribe: (_root, { workspaceId }, ctx) => streamPresence(ctx.rt, ctx.viewer, parseId('Workspace', workspaceId)),
    resolve: (event: PresencePayload) => event,
  }),
);
