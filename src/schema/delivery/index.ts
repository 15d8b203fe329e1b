import { builder } from '../../builder.ts';
import { notFound } from '../../errors.ts';
import type { Webhook } from '../../generated/prisma/client.ts';
import { registerPushSubscription, unregisterPushSubscription } from '../../services/push.ts';
import { createWebhook, deleteWebhook, listWebhooks, WEBHOOK_EVENTS } from '../../services/webhooks.ts';
import { decodeId, encodeGlobalID, parseId } from '../ids.ts';
import { WorkspaceRef } from '../workspace/index.ts';

/*
 * How notifications leave Parley: Web Push subscriptions and outgoing
 * webhooks (services/delivery.ts and services/webhooks.ts send them).
 * Notification.deliveries lives with the Notification type.
 */

/** The database id behind a global ID of a type that is not a Node (no node(id) lookup). */
function parseOwnId(typename: 'PushSubscription' | 'Webhook', id: string): string {
  const decoded = decodeId(id);
  if (decoded.typename !== typename) throw notFound(typename === 'Webhook' ? 'Webhook' : 'Push subscription');
  return decoded.id;
}

const PushSubscriptionRef = builder.prismaObject('PushSubscription', {
  fields: (t) => ({
    id: t.id({ resolve: (subscription) => encodeGlobalID('PushSubscription', subscription.id) }),
    endpoint: t.exposeString('endpoint'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const WebhookRef = builder.prismaObject('Webhook', {
  fields: (t) => ({
    id: t.id({ resolve: (webhook) => encodeGlobalID('Webhook', webhook.id) }),
    url: t.exposeString('url'),
    events: t.exposeStringList('events'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const CreatedWebhookRef = builder
  .objectRef<{ webhook: Webhook; secret: string }>('CreatedWebhook')
  .implement({
    fields: (t) => ({
      webhook: t.field({ type: WebhookRef, resolve: (created) => created.webhook }),
      secret: t.exposeString('secret', {
        description: 'Signs every delivery (X-Parley-Signature); shown only here, keep it.',
      }),
    }),
  });

const PushSubscriptionKeysInput = builder.inputType('PushSubscriptionKeysInput', {
  fields: (t) => ({ p256dh: t.string({ required: true }), auth: t.string({ required: true }) }),
});
const PushSubscriptionInput = builder.inputType('PushSubscriptionInput', {
  description: "The browser's PushSubscription.toJSON().",
  fields: (t) => ({
    endpoint: t.string({ required: true, description: 'An https:// URL.' }),
    keys: t.field({ type: PushSubscriptionKeysInput, required: true }),
  }),
});
const CreateWebhookInput = builder.inputType('CreateWebhookInput', {
  fields: (t) => ({
    workspaceId: t.id({ required: true }),
    url: t.string({ required: true, description: 'An http:// or https:// URL that receives signed POSTs.' }),
    events: t.stringList({ required: true, description: `Event names: ${WEBHOOK_EVENTS.join(', ')}.` }),
  }),
});

builder.queryFields((t) => ({
  vapidPublicKey: t.string({
    description: "The server's VAPID public key: pass it as applicationServerKey to pushManager.subscribe().",
    resolve: (_root, _args, ctx) => ctx.rt.delivery.vapid.publicKey,
  }),
}));

builder.mutationFields((t) => ({
  registerPushSubscription: t.withAuth({ loggedIn: true }).field({
    type: PushSubscriptionRef,
    description: 'Registers this browser for Web Push; the same endpoint again updates it.',
    args: { input: t.arg({ type: PushSubscriptionInput, required: true }) },
    resolve: (_root, { input }, ctx) => registerPushSubscription(ctx.rt, ctx.viewer, input),
  }),
  unregisterPushSubscription: t.withAuth({ loggedIn: true }).boolean({
    description: "Removes one of the caller's push subscriptions.",
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => unregisterPushSubscription(ctx.rt, ctx.viewer, parseOwnId('PushSubscription', id)),
  }),
  createWebhook: t.withAuth({ loggedIn: true }).field({
    type: CreatedWebhookRef,
    description: 'Workspace owners and admins only.',
    args: { input: t.arg({ type: CreateWebhookInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      createWebhook(ctx.rt, ctx.viewer, { ...input, workspaceId: parseId('Workspace', input.workspaceId) }),
  }),
  deleteWebhook: t.withAuth({ loggedIn: true }).boolean({
    description: 'Workspace owners and admins only.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => deleteWebhook(ctx.rt, ctx.viewer, parseOwnId('Webhook', id)),
  }),
}));

builder.objectField(WorkspaceRef, 'webhooks', (t) =>
  t.withAuth({ loggedIn: true }).field({
    type: [WebhookRef],
    description: "The workspace's outgoing webhooks (owners and admins; FORBIDDEN for other members).",
    resolve: (workspace, _args, ctx) => listWebhooks(ctx.rt, ctx.viewer, workspace.id),
  }),
);
