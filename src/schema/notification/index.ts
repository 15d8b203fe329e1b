import { builder } from '../../builder.ts';
import { badInput } from '../../errors.ts';
import type { UserPayload } from '../../pubsub.ts';
import {
  markNotificationsRead,
  NOTIFICATION_TYPES,
  preferencesOf,
  streamNotifications,
  unreadNotificationCount,
  updateNotificationPreferences,
} from '../../services/notifications.ts';
import { parseIds } from '../ids.ts';

export const NotificationTypeRef = builder.enumType('NotificationType', {
  values: {
    MENTION: { description: 'Someone @-mentioned you (or @channel / @here) in a channel you can read.' },
    DIRECT_MESSAGE: { description: 'A message in a direct or group conversation you are in.' },
    THREAD_REPLY: { description: 'A reply in a thread you follow.' },
    NEW_FOLLOWER: { description: 'Someone followed you.' },
    NEW_POST: { description: 'Someone you follow posted.' },
    POST_COMMENT: { description: 'A comment on your post, or on a post you commented on.' },
  } as const,
});

const DeliveryChannelRef = builder.enumType('DeliveryChannel', { values: ['IN_APP', 'EMAIL', 'PUSH'] as const });
const DeliveryStatusRef = builder.enumType('DeliveryStatus', { values: ['PENDING', 'SENT', 'FAILED', 'CANCELLED'] as const });

builder.prismaObject('NotificationDelivery', {
  name: 'Delivery',
  fields: (t) => ({
    channel: t.expose('channel', { type: DeliveryChannelRef }),
    status: t.expose('status', { type: DeliveryStatusRef }),
    attempts: t.exposeInt('attempts'),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

export const NotificationRef = builder.prismaNode('Notification', {
  id: { field: 'id' },
  fields: (t) => ({
    type: t.expose('type', { type: NotificationTypeRef }),
    read: t.boolean({ select: { readAt: true }, resolve: (n) => n.readAt !== null }),
    readAt: t.expose('readAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', {
      type: 'DateTime',
      description: 'When the newest event this notification stands for happened (it grows as a burst collapses into it).',
    }),
    count: t.exposeInt('count', { description: 'How many events collapsed into this notification (ten DMs in a row: 10).' }),
    actor: t.relation('actor', { nullable: true, description: 'Who caused it (the newest one, for a collapsed notification).' }),
    workspace: t.relation('workspace', { nullable: true }),
    channel: t.relation('channel', { nullable: true }),
    message: t.relation('message', { nullable: true, description: 'The newest message it stands for.' }),
    deliveries: t.relation('deliveries', { description: 'How it reached (or is to reach) its recipient: in the app, by email, by push.' }),
  }),
});

interface NotificationPreferenceShape {
  type: (typeof NOTIFICATION_TYPES)[number];
  inApp: boolean;
  email: boolean;
  push: boolean;
}

const NotificationPreferenceRef = builder.objectRef<NotificationPreferenceShape>('NotificationPreference').implement({
  description: 'How you want one type of notification: in the app, by email and by Web Push when you are away.',
  fields: (t) => ({
    type: t.field({ type: NotificationTypeRef, resolve: (p) => p.type }),
    inApp: t.exposeBoolean('inApp'),
    email: t.exposeBoolean('email'),
    push: t.exposeBoolean('push'),
  }),
});

const NotificationPreferenceInput = builder.inputType('NotificationPreferenceInput', {
  fields: (t) => ({
    type: t.field({ type: NotificationTypeRef, required: true }),
    inApp: t.boolean({ description: 'Unset: unchanged.' }),
    email: t.boolean({ description: 'Unset: unchanged.' }),
    push: t.boolean({ description: 'Unset: unchanged.' }),
  }),
});

builder.queryFields((t) => ({
  notifications: t.withAuth({ loggedIn: true }).prismaConnection({
    type: 'Notification',
    cursor: 'id',
    description: 'Your notifications shown in the app, newest first (by when each started; a collapsed one keeps its place).',
    args: { unreadOnly: t.arg.boolean({ description: 'Only those not read yet.' }) },
    resolve: (query, _root, { unreadOnly }, ctx) =>
      ctx.rt.prisma.notification.findMany({
        ...query,
        where: { userId: ctx.viewer.userId, inApp: true, ...(unreadOnly ? { readAt: null } : {}) },
        orderBy: { id: 'desc' },
      }),
  }),
  unreadNotificationCount: t.withAuth({ loggedIn: true }).int({
    description: 'Notifications shown in the app that you have not read.',
    resolve: (_root, _args, ctx) => unreadNotificationCount(ctx.rt, ctx.viewer.userId),
  }),
  notificationPreferences: t.withAuth({ loggedIn: true }).field({
    type: [NotificationPreferenceRef],
    description: 'Your choice for every notification type (defaults where you have not chosen).',
    resolve: async (_root, _args, ctx) => {
      const mine = (await preferencesOf(ctx.rt, [ctx.viewer.userId])).get(ctx.viewer.userId)!;
      return NOTIFICATION_TYPES.map((type) => ({ type, ...mine[type] }));
    },
  }),
}));

builder.mutationFields((t) => ({
  markNotificationsRead: t.withAuth({ loggedIn: true }).int({
    description: 'Marks your notifications read: those of `ids`, or all with `all: true`. Returns how many changed; ids of notifications that are not yours change nothing.',
    args: { ids: t.arg.idList(), all: t.arg.boolean() },
    resolve: (_root, { ids, all }, ctx) => {
      if (!all && (!ids || ids.length === 0)) throw badInput('Pass the ids to mark read, or all: true.', 'ids');
      if (all && ids?.length) throw badInput('Pass ids or all: true, not both.', 'all');
      if (ids && ids.length > 1000) throw badInput('At most 1,000 ids at once; use all: true for everything.', 'ids');
      return markNotificationsRead(ctx.rt, ctx.viewer.userId, { ids: ids ? parseIds('Notification', ids) : null, all });
    },
  }),
  updateNotificationPreferences: t.withAuth({ loggedIn: true }).field({
    type: [NotificationPreferenceRef],
    description: 'Changes how you get some notification types; returns every type’s preference.',
    args: { input: t.arg({ type: [NotificationPreferenceInput], required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const mine = await updateNotificationPreferences(ctx.rt, ctx.viewer.userId, input);
      return NOTIFICATION_TYPES.map((type) => ({ type, ...mine[type] }));
    },
  }),
}));

builder.subscriptionField('notificationAdded', (t) =>
  t.withAuth({ loggedIn: true }).prismaField({
    type: 'Notification',
    description:
      'Your notifications as they are stored, in the app: a new one, or one a burst collapsed into (same id, higher count).',
    subscribe: (_root, _args, ctx) => streamNotifications(ctx.rt, ctx.viewer),
    resolve: (query, payload, _args, ctx) =>
      ctx.rt.prisma.notification.findUniqueOrThrow({
        ...query,
        where: { id: (payload as Extract<UserPayload, { type: 'NOTIFICATION' }>).notificationId },
      }),
  }),
);
