import type { Config } from '../config.ts';
import type { DeliveryChannel } from '../generated/prisma/enums.ts';
import type { JobQueue } from '../jobs.ts';
import type { Runtime } from '../runtime.ts';
import { composeEmail, createMailer, describe, sendEmail, type Described, type Mailer } from './email.ts';
import { setAwayScheduler, setRecordedObserver } from './notifications.ts';
import { pushToUser, vapidKeys, type VapidKeys } from './push.ts';
import { notificationWebhooks, WebhookTargets, webhookQueue } from './webhooks.ts';

/*
 * Away delivery: notify() leaves EMAIL and PUSH deliveries PENDING for people
 * who are away and calls the scheduler below, which queues one durable job
 * per notification, due NOTIFICATION_DELAY_MS after its newest event. When it
 * is due and still unread, a per-person send job (one running at a time per
 * person, on any instance) sends everything of theirs that is due: one email
 * with all of it, and a push per notification.
 */

/** What an app keeps for delivery: its VAPID keys, SMTP transport and webhook cache. */
export interface DeliveryState {
  vapid: VapidKeys;
  mailer: Mailer | null;
  webhooks: WebhookTargets;
}

export function createDeliveryState(config: Config): DeliveryState {
  return { vapid: vapidKeys(config), mailer: createMailer(config.notifications.smtpUrl), webhooks: new WebhookTargets() };
}

const DUE_QUEUE = 'notification-due';
const SEND_QUEUE = 'notification-send';
/** A delivery that failed this many times is FAILED; the send job's retries stop there too. */
export const MAX_DELIVERY_ATTEMPTS = 6;
/** At most this many notifications go into one email (the rest follow in the next one). */
const BATCH = 50;

const AWAY: DeliveryChannel[] = ['EMAIL', 'PUSH'];

/** Queues each notification's away deliveries for when it is due; one waiting job per notification. */
async function scheduleAway(rt: Runtime, recorded: readonly { notification: { id: string; updatedAt: Date } }[]): Promise<void> {
  for (const { notification } of recorded) {
    const due = new Date(notification.updatedAt.getTime() + rt.config.notifications.delayMs);
    await rt.jobs.send(DUE_QUEUE, { notificationId: notification.id }, { singletonKey: notification.id, startAfter: due });
  }
}

setAwayScheduler(scheduleAway);
setRecordedObserver((rt, recorded) => rt.background.run('notification webhooks', () => notificationWebhooks(rt, recorded)));

const cancelled = (lastError?: string) => ({ status: 'CANCELLED' as const, updatedAt: new Date(), ...(lastError ? { lastError } : {}) });

/**
 * A notification's due time came: cancel if it was read, wait longer if it
 * collapsed a newer event in since, else hand its person to the send job.
 */
const dueQueue: JobQueue<{ notificationId: string }> = {
  name: DUE_QUEUE,
  policy: 'short',
  retryLimit: 5,
  retryDelaySeconds: 5,
  expireInSeconds: 60,
  async run(rt, { notificationId }) {
    const notification = await rt.prisma.notification.findUnique({
      where: { id: notificationId },
      include: { deliveries: { where: { status: 'PENDING', channel: { in: AWAY } } } },
    });
    if (!notification || notification.deliveries.length === 0) return;
    if (notification.readAt) {
      await rt.prisma.notificationDelivery.updateMany({
        where: { notificationId, status: 'PENDING', channel: { in: AWAY } },
        data: cancelled(),
      });
      return;
    }
    const due = notification.updatedAt.getTime() + rt.config.notifications.delayMs;
    if (due > Date.now()) {
      await rt.jobs.send(DUE_QUEUE, { notificationId }, { singletonKey: notificationId, startAfter: new Date(due) });
      return;
    }
    // Stately: while a send job for this person waits, it will see this notification too.
    await rt.jobs.send(SEND_QUEUE, { userId: notification.userId }, { singletonKey: notification.userId });
  },
};

/** Sends everything of one person that is due and unread; throws (to be retried) when a channel failed. */
const sendQueue: JobQueue<{ userId: string }> = {
  name: SEND_QUEUE,
  policy: 'stately',
  retryLimit: MAX_DELIVERY_ATTEMPTS - 1,
  retryDelaySeconds: 5,
  expireInSeconds: 120,
  run: (rt, { userId }) => sendAway(rt, userId),
};

export const deliveryQueues = [dueQueue, sendQueue, webhookQueue];

async function sendAway(rt: Runtime, userId: string): Promise<void> {
  await rt.prisma.notificationDelivery.updateMany({
    where: { status: 'PENDING', channel: { in: AWAY }, notification: { userId, readAt: { not: null } } },
    data: cancelled(),
  });
  const cutoff = new Date(Date.now() - rt.config.notifications.delayMs);
  const due = await rt.prisma.notification.findMany({
    where: { userId, readAt: null, updatedAt: { lte: cutoff }, deliveries: { some: { status: 'PENDING', channel: { in: AWAY } } } },
    include: { deliveries: { where: { status: 'PENDING', channel: { in: AWAY } } } },
    orderBy: { updatedAt: 'asc' },
    take: BATCH,
  });
  if (due.length === 0) {
    // Nothing is due by this instance's clock and delay (another instance,
    // with another NOTIFICATION_DELAY_MS or a clock ahead, queued this job):
    // what is still waiting gets its due job again, so it is not left PENDING.
    await requeueWaiting(rt, userId);
    return;
  }
  const described = await describe(rt, due);
  const channels = new Map(due.map((n) => [n.id, n.deliveries.map((d) => d.channel)]));
  const wants = (channel: DeliveryChannel) => described.filter((d) => channels.get(d.notification.id)?.includes(channel));
  const problems = [await sendEmails(rt, userId, wants('EMAIL')), ...(await sendPushes(rt, userId, wants('PUSH')))].filter(
    (problem): problem is string => !!problem,
  );
  if (problems.length) throw new Error(`away delivery to user ${userId} failed: ${problems.join('; ')}`);
}

async function requeueWaiting(rt: Runtime, userId: string): Promise<void> {
  const waiting = await rt.prisma.notification.findMany({
    where: { userId, readAt: null, deliveries: { some: { status: 'PENDING', channel: { in: AWAY } } } },
    select: { id: true, updatedAt: true },
    take: BATCH,
  });
  await scheduleAway(rt, waiting.map((notification) => ({ notification })));
}

async function settle(rt: Runtime, notificationIds: string[], channel: DeliveryChannel, outcome: { sent: true } | { sent: false; error: string; final?: boolean }) {
  const where = { notificationId: { in: notificationIds }, channel, status: 'PENDING' as const };
  if (outcome.sent) {
    await rt.prisma.notificationDelivery.updateMany({ where, data: { status: 'SENT', attempts: { increment: 1 }, lastError: null, updatedAt: new Date() } });
    return;
  }
  if (outcome.final) {
    await rt.prisma.notificationDelivery.updateMany({ where, data: cancelled(outcome.error) });
    return;
  }
  const data = { attempts: { increment: 1 }, lastError: outcome.error.slice(0, 1000), updatedAt: new Date() };
  await rt.prisma.notificationDelivery.updateMany({ where, data });
  // Those out of attempts are FAILED: the job's last retry has been used.
  await rt.prisma.notificationDelivery.updateMany({ where: { ...where, attempts: { gte: MAX_DELIVERY_ATTEMPTS } }, data: { status: 'FAILED' } });
}

/** One email with all of `items`; returns what went wrong, if anything. */
async function sendEmails(rt: Runtime, userId: string, items: Described[]): Promise<string | null> {
  if (items.length === 0) return null;
  const ids = items.map((item) => item.notification.id);
  const mailer = rt.delivery.mailer;
  if (!mailer) {
    await settle(rt, ids, 'EMAIL', { sent: false, error: 'email is off: SMTP_URL is not set', final: true });
    return null;
  }
  const user = await rt.prisma.user.findUnique({ where: { id: userId }, select: { email: true } });
  if (!user) return null;
  try {
    await sendEmail(rt, mailer, user.email, composeEmail(rt, userId, items));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    rt.log('warn', `notification email to user ${userId} failed`, error);
    await settle(rt, ids, 'EMAIL', { sent: false, error: message });
    return `email: ${message}`;
  }
  await settle(rt, ids, 'EMAIL', { sent: true });
  return null;
}

/** A push per notification to every subscription of the person; returns what went wrong. */
async function sendPushes(rt: Runtime, userId: string, items: Described[]): Promise<(string | null)[]> {
  const problems: (string | null)[] = [];
  for (const item of items) {
    const n = item.notification;
    const outcome = await pushToUser(
      rt,
      userId,
      { notificationId: n.id, type: n.type, title: item.title, body: item.text, url: item.url, count: n.count },
      n.type === 'MENTION' || n.type === 'DIRECT_MESSAGE',
    );
    if (outcome.sent > 0) await settle(rt, [n.id], 'PUSH', { sent: true });
    else if (outcome.failed === 0) await settle(rt, [n.id], 'PUSH', { sent: false, error: 'no push subscriptions', final: true });
    else {
      await settle(rt, [n.id], 'PUSH', { sent: false, error: outcome.lastError ?? 'push failed' });
      problems.push(`push: ${outcome.lastError}`);
    }
  }
  return problems;
}

/** A notification's deliveries (IN_APP, EMAIL, PUSH), for `Notification.deliveries`. */
export function deliveriesOf(rt: Runtime, notificationId: string) {
  return rt.prisma.notificationDelivery.findMany({ where: { notificationId }, orderBy: { channel: 'asc' } });
}
