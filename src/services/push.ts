import fs from 'node:fs';
import path from 'node:path';
import webpush from 'web-push';
import { z } from 'zod';
import type { Config } from '../config.ts';
import { notFound, parseInput } from '../errors.ts';
import type { PushSubscription } from '../generated/prisma/client.ts';
import type { Runtime } from '../runtime.ts';
import type { Viewer } from './auth.ts';

/*
 * Web Push: browsers register a PushSubscription (endpoint and keys); Parley
 * sends each away notification to every subscription of its recipient,
 * encrypted (aes128gcm) and signed with the deployment's VAPID key.
 */

export interface VapidKeys {
  publicKey: string;
  privateKey: string;
  subject: string;
}

/**
 * VAPID_PUBLIC_KEY / VAPID_PRIVATE_KEY, or a pair generated once and kept in
 * DATA_DIR (fine for one instance; several instances must share the pair,
 * since browsers subscribed with its public key).
 */
export function vapidKeys(config: Config): VapidKeys {
  const { vapidPublicKey, vapidPrivateKey, vapidSubject } = config.notifications;
  if (vapidPublicKey && vapidPrivateKey) return { publicKey: vapidPublicKey, privateKey: vapidPrivateKey, subject: vapidSubject };
  const file = path.join(config.dataDir, 'vapid-keys.json');
  fs.mkdirSync(config.dataDir, { recursive: true });
  try {
    fs.writeFileSync(file, JSON.stringify(webpush.generateVAPIDKeys()), { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as { publicKey: string; privateKey: string };
  return { ...stored, subject: vapidSubject };
}

const base64url = z.string().min(1).max(200).regex(/^[A-Za-z0-9_-]+=*$/, 'must be URL-safe base64');
const subscriptionSchema = z.object({
  endpoint: z
    .string()
    .max(2000)
    .url('must be a URL')
    .refine((url) => url.startsWith('https://'), 'must be an https:// URL'),
  keys: z.object({ p256dh: base64url, auth: base64url }),
});

export type PushSubscriptionInput = z.input<typeof subscriptionSchema>;

/**
 * Registers the browser's subscription for the viewer. The same endpoint
 * again (new keys, or another user on the same browser) updates the one row.
 */
export async function registerPushSubscription(rt: Runtime, viewer: Viewer, input: PushSubscriptionInput): Promise<PushSubscription> {
  const { endpoint, keys } = parseInput(subscriptionSchema, input);
  const data = { userId: viewer.userId, p256dh: keys.p256dh, auth: keys.auth };
  return rt.prisma.pushSubscription.upsert({ where: { endpoint }, create: { endpoint, ...data }, update: data });
}

/** Removes one of the viewer's subscriptions; another person's is NOT_FOUND. */
export async function unregisterPushSubscription(rt: Runtime, viewer: Viewer, id: string): Promise<boolean> {
  const { count } = await rt.prisma.pushSubscription.deleteMany({ where: { id, userId: viewer.userId } });
  if (count === 0) throw notFound('Push subscription');
  return true;
}

/** What a service worker receives (JSON) for one notification. */
export interface PushPayload {
  notificationId: string;
  type: string;
  title: string;
  body: string;
  url: string;
  count: number;
}

/** How one push to all of a person's subscriptions went. */
export interface PushOutcome {
  /** Subscriptions that accepted it. */
  sent: number;
  /** Subscriptions the push service no longer knows (404/410): deleted. */
  gone: number;
  /** Failures worth retrying, with the last one's message. */
  failed: number;
  lastError?: string;
}

/** Sends `payload` to every subscription of `userId`; deletes those the push service reports gone. */
export async function pushToUser(rt: Runtime, userId: string, payload: PushPayload, urgent: boolean): Promise<PushOutcome> {
  const subscriptions = await rt.prisma.pushSubscription.findMany({ where: { userId } });
  const outcome: PushOutcome = { sent: 0, gone: 0, failed: 0 };
  const keys = rt.delivery.vapid;
  await Promise.all(
    subscriptions.map(async (subscription) => {
      try {
        await webpush.sendNotification(
          { endpoint: subscription.endpoint, keys: { p256dh: subscription.p256dh, auth: subscription.auth } },
          JSON.stringify(payload),
          {
            vapidDetails: keys,
            TTL: 24 * 3600,
            urgency: urgent ? 'high' : 'normal',
            contentEncoding: 'aes128gcm',
            timeout: 10_000,
          },
        );
        outcome.sent++;
      } catch (error) {
        const status = (error as { statusCode?: number }).statusCode;
        if (status === 404 || status === 410) {
          outcome.gone++;
          await rt.prisma.pushSubscription.deleteMany({ where: { id: subscription.id } });
          rt.log('info', `push subscription ${subscription.id} is gone (${status}); deleted`);
        } else {
          outcome.failed++;
          outcome.lastError = status ? `push service answered ${status}` : (error as Error).message;
        }
      }
    }),
  );
  return outcome;
}
