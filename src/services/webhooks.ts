import crypto from 'node:crypto';
import { z } from 'zod';
import { forbidden, notFound, parseInput } from '../errors.ts';
import type { Webhook } from '../generated/prisma/client.ts';
import { ChannelEventType, NotificationType } from '../generated/prisma/enums.ts';
import type { JobQueue } from '../jobs.ts';
import type { ChannelEventPayload } from '../pubsub.ts';
import type { Runtime } from '../runtime.ts';
import { requireWorkspaceMember } from './access.ts';
import type { Viewer } from './auth.ts';
import type { Recorded } from './notifications.ts';

/*
 * Outgoing webhooks: a workspace's admins name the events they want (channel
 * event types of its public channels, and notification types); each event is
 * POSTed once per webhook, signed with the webhook's secret, by the instance
 * that committed it, through the job queue (retried with backoff).
 */

/** Every event name a webhook may subscribe to: the channel event types and the notification types. */
export const WEBHOOK_EVENTS: readonly string[] = [...Object.values(ChannelEventType), ...Object.values(NotificationType)];

const createSchema = z.object({
  workspaceId: z.string(),
  url: z
    .string()
    .max(2000)
    .url('must be a URL')
    .refine((url) => /^https?:\/\//.test(url), 'must be an http:// or https:// URL'),
  events: z
    .array(z.string())
    .min(1, 'name at least one event')
    .max(WEBHOOK_EVENTS.length)
    .refine((events) => events.every((event) => WEBHOOK_EVENTS.includes(event)), {
      message: `must be event names: ${WEBHOOK_EVENTS.join(', ')}`,
    }),
});

export type CreateWebhookInput = z.input<typeof createSchema>;

/** NOT_FOUND for people outside the workspace, FORBIDDEN for members who are not OWNER or ADMIN. */
async function requireAdmin(rt: Runtime, viewer: Viewer, workspaceId: string): Promise<void> {
  const member = await requireWorkspaceMember(rt, viewer, workspaceId);
  if (member.role !== 'OWNER' && member.role !== 'ADMIN') throw forbidden('Only workspace owners and admins manage webhooks.');
}

/** Creates a webhook; its secret is returned here only. */
export async function createWebhook(rt: Runtime, viewer: Viewer, input: CreateWebhookInput): Promise<{ webhook: Webhook; secret: string }> {
  const { workspaceId, url, events } = parseInput(createSchema, input);
  await requireAdmin(rt, viewer, workspaceId);
  const secret = `whsec_${crypto.randomBytes(32).toString('base64url')}`;
  const webhook = await rt.prisma.webhook.create({
    data: { workspaceId, url, events: [...new Set(events)], secret, createdById: viewer.userId },
  });
  rt.delivery.webhooks.forget(workspaceId);
  return { webhook, secret };
}

/** Deletes a webhook (workspace admins); other workspaces' webhooks are NOT_FOUND. */
export async function deleteWebhook(rt: Runtime, viewer: Viewer, id: string): Promise<boolean> {
  const webhook = await rt.prisma.webhook.findUnique({ where: { id }, select: { workspaceId: true } });
  if (!webhook) throw notFound('Webhook');
  await requireAdmin(rt, viewer, webhook.workspaceId);
  await rt.prisma.webhook.deleteMany({ where: { id } });
  rt.delivery.webhooks.forget(webhook.workspaceId);
  return true;
}

/** The workspace's webhooks, for its admins. */
export async function listWebhooks(rt: Runtime, viewer: Viewer, workspaceId: string): Promise<Webhook[]> {
  await requireAdmin(rt, viewer, workspaceId);
  return rt.prisma.webhook.findMany({ where: { workspaceId }, orderBy: { createdAt: 'asc' } });
}

type Target = Pick<Webhook, 'id' | 'events'>;
interface ChannelTargets {
  workspaceId: string;
  name: string | null;
  /** Only public channels' events go to webhooks. */
  public: boolean;
  webhooks: Target[];
}

/** How long a webhook lookup is reused: a new or deleted webhook takes effect on other instances within this. */
export const WEBHOOK_CACHE_MS = 5_000;

/** Short-lived caches of who listens, so the send path does not pay a query per event. */
export class WebhookTargets {
  private readonly channels = new Map<string, { at: number; value: Promise<ChannelTargets | null> }>();
  private readonly workspaces = new Map<string, { at: number; value: Promise<Target[]> }>();

  channel(rt: Runtime, channelId: string): Promise<ChannelTargets | null> {
    return cached(this.channels, channelId, async () => {
      const channel = await rt.prisma.channel.findUnique({
        where: { id: channelId },
        select: { workspaceId: true, kind: true, private: true, name: true, workspace: { select: { webhooks: { select: { id: true, events: true } } } } },
      });
      if (!channel) return null;
      return {
        workspaceId: channel.workspaceId,
        name: channel.name,
        public: channel.kind === 'CHANNEL' && !channel.private,
        webhooks: channel.workspace.webhooks,
      };
    });
  }

  workspace(rt: Runtime, workspaceId: string): Promise<Target[]> {
    return cached(this.workspaces, workspaceId, () => rt.prisma.webhook.findMany({ where: { workspaceId }, select: { id: true, events: true } }));
  }

  /** Drops what this instance cached about a workspace (its webhooks changed here). */
  forget(workspaceId: string): void {
    this.workspaces.delete(workspaceId);
    this.channels.clear();
  }
}

function cached<T>(map: Map<string, { at: number; value: Promise<T> }>, key: string, load: () => Promise<T>): Promise<T> {
  const hit = map.get(key);
  if (hit && Date.now() - hit.at < WEBHOOK_CACHE_MS) return hit.value;
  const value = load();
  map.set(key, { at: Date.now(), value });
  value.catch(() => map.delete(key));
  if (map.size > 10_000) map.delete(map.keys().next().value!);
  return value;
}

/** The JSON body every webhook delivery carries. */
export interface WebhookBody {
  /** Stable per event: a receiver can drop repeats by it. */
  id: string;
  type: string;
  createdAt: string;
  workspaceId: string;
  data: Record<string, unknown>;
}

async function enqueue(rt: Runtime, targets: Target[], body: WebhookBody): Promise<void> {
  for (const webhook of targets) {
    if (webhook.events.includes(body.type)) await rt.jobs.send(WEBHOOK_QUEUE, { webhookId: webhook.id, body: JSON.stringify(body) });
  }
}

/**
 * Queues webhook deliveries for committed channel events (public channels
 * only). Called after publish, off the request's path.
 */
export async function channelEventWebhooks(rt: Runtime, payloads: ChannelEventPayload[]): Promise<void> {
  for (const channelId of new Set(payloads.map((p) => p.channelId))) {
    const targets = await rt.delivery.webhooks.channel(rt, channelId);
    if (!targets?.public) continue;
    const events = payloads.filter((p) => p.channelId === channelId && targets.webhooks.some((w) => w.events.includes(p.type)));
    if (events.length === 0) continue;
    const messageIds = [...new Set(events.map((e) => e.messageId).filter((id): id is string => !!id))];
    const messages = new Map(
      (
        await rt.prisma.message.findMany({
          where: { id: { in: messageIds } },
          select: { id: true, text: true, authorId: true, createdAt: true, editedAt: true, deletedAt: true, threadRootId: true },
        })
      ).map((m) => [m.id, m]),
    );
    for (const event of events) {
      const message = event.messageId ? messages.get(event.messageId) : undefined;
      await enqueue(rt, targets.webhooks, {
        id: `${channelId}:${event.seq}`,
        type: event.type,
        createdAt: event.createdAt,
        workspaceId: targets.workspaceId,
        data: {
          channel: { id: channelId, name: targets.name },
          seq: event.seq,
          userId: event.userId,
          emoji: event.emoji,
          threadRootId: event.threadRootId,
          message: message
            ? {
                id: message.id,
                authorId: message.authorId,
                text: message.deletedAt ? '' : message.text,
                createdAt: message.createdAt.toISOString(),
                editedAt: message.editedAt?.toISOString() ?? null,
                deletedAt: message.deletedAt?.toISOString() ?? null,
                threadRootId: message.threadRootId,
              }
            : null,
        },
      });
    }
  }
}

/** Queues webhook deliveries for notifications just created in a workspace (not for those that collapsed into one). */
export async function notificationWebhooks(rt: Runtime, recorded: Recorded[]): Promise<void> {
  for (const { notification: n, collapsed } of recorded) {
    if (collapsed || !n.workspaceId) continue;
    const targets = await rt.delivery.webhooks.workspace(rt, n.workspaceId);
    await enqueue(rt, targets, {
      id: `notification:${n.id}`,
      type: n.type,
      createdAt: n.createdAt.toISOString(),
      workspaceId: n.workspaceId,
      data: {
        notificationId: n.id,
        recipientId: n.userId,
        actorId: n.actorId,
        channelId: n.channelId,
        messageId: n.messageId,
        postId: n.postId,
        commentId: n.commentId,
      },
    });
  }
}

/** `sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">`, as receivers recompute it. */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return `sha256=${crypto.createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

const WEBHOOK_QUEUE = 'webhook-delivery';
const WEBHOOK_TIMEOUT_MS = 10_000;

/** One POST of one event to one webhook; a non-2xx answer or no answer is retried with backoff. */
export const webhookQueue: JobQueue<{ webhookId: string; body: string }> = {
  name: WEBHOOK_QUEUE,
  policy: 'standard',
  retryLimit: 8,
  retryDelaySeconds: 10,
  expireInSeconds: 60,
  async run(rt, { webhookId, body }) {
    const webhook = await rt.prisma.webhook.findUnique({ where: { id: webhookId } });
    if (!webhook) return; // deleted since: nothing to deliver
    const timestamp = Math.floor(Date.now() / 1000);
    const response = await fetch(webhook.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Parley-Webhooks/1',
        'x-parley-timestamp': String(timestamp),
        'x-parley-signature': webhookSignature(webhook.secret, timestamp, body),
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
    });
    await response.body?.cancel();
    if (!response.ok) throw new Error(`webhook ${webhookId} answered ${response.status}`);
  },
};
