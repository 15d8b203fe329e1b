import type { Notification, Prisma } from '../generated/prisma/client.ts';
import type { DeliveryChannel, NotificationType } from '../generated/prisma/enums.ts';
import { badInput } from '../errors.ts';
import { topics, type UserPayload } from '../pubsub.ts';
import type { Runtime } from '../runtime.ts';
import type { Viewer } from './auth.ts';
import { publishToUsers, type Tx } from './eventLog.ts';
import { streamForViewer } from './liveStream.ts';

/*
 * Notifications: stored per recipient, shown in the app (list, count,
 * notificationAdded), and sent by email or Web Push to people who are away.
 * Callers describe what happened as drafts after their write committed;
 * notify() applies preferences, collapses bursts, stores, publishes, and
 * hands away deliveries to the delivery queue.
 */

/** Something that happened to one person, before preferences and collapsing. */
export interface NotificationDraft {
  /** The recipient. */
  userId: string;
  type: NotificationType;
  /**
   * What collapses: an unread notification with the same key whose away
   * deliveries have not gone out yet takes this one in (count + 1, newest
   * subject). A key unique to one subject (e.g. `mention:<messageId>`) makes
   * it notify once, however often it is drafted.
   */
  groupKey: string;
  workspaceId?: string | null;
  /** Who caused it; a person is never notified of their own actions. */
  actorId?: string | null;
  channelId?: string | null;
  messageId?: string | null;
  postId?: string | null;
  commentId?: string | null;
}

export interface Preference {
  inApp: boolean;
  email: boolean;
  push: boolean;
}

/** Mentions and direct messages reach people who are away; everything else stays in the app. */
export const DEFAULT_PREFERENCES: Readonly<Record<NotificationType, Preference>> = {
  MENTION: { inApp: true, email: true, push: true },
  DIRECT_MESSAGE: { inApp: true, email: true, push: true },
  THREAD_REPLY: { inApp: true, email: false, push: false },
  NEW_FOLLOWER: { inApp: true, email: false, push: false },
  NEW_POST: { inApp: true, email: false, push: false },
  POST_COMMENT: { inApp: true, email: false, push: false },
};

export const NOTIFICATION_TYPES = Object.keys(DEFAULT_PREFERENCES) as NotificationType[];

/** Each user's preference for each type: their stored choices over the defaults. */
export async function preferencesOf(rt: Runtime, userIds: readonly string[]): Promise<Map<string, Record<NotificationType, Preference>>> {
  const rows = await rt.prisma.notificationPreference.findMany({ where: { userId: { in: [...new Set(userIds)] } } });
  const result = new Map<string, Record<NotificationType, Preference>>();
  for (const userId of userIds) result.set(userId, { ...DEFAULT_PREFERENCES });
  for (const { userId, type, inApp, email, push } of rows) result.get(userId)![type] = { inApp, email, push };
  return result;
}

/** What notify() did with one draft. */
export interface Recorded {
  notification: Notification;
  /** It joined an unread notification of the same group instead of starting one. */
  collapsed: boolean;
  /** Away deliveries it waits for (email, push): empty for someone online. */
  away: DeliveryChannel[];
}

/**
 * Hands notifications with pending away deliveries to the delivery queue
 * (set by the delivery module; until then they stay PENDING).
 */
export type AwayScheduler = (rt: Runtime, recorded: Recorded[]) => Promise<void>;
let scheduleAway: AwayScheduler | null = null;
export function setAwayScheduler(scheduler: AwayScheduler): void {
  scheduleAway = scheduler;
}

/** Told of every notification notify() records (outgoing webhooks); set by the delivery module. */
export type RecordedObserver = (rt: Runtime, recorded: Recorded[]) => void;
let observeRecorded: RecordedObserver | null = null;
export function setRecordedObserver(observer: RecordedObserver): void {
  observeRecorded = observer;
}

/**
 * Records the drafts' notifications, after the write that caused them has
 * committed: drops a person's own actions and types they turned off, collapses
 * into open notifications of the same group, publishes each one shown in the
 * app to its recipient (notificationAdded, the inbox's count), and queues
 * email and push for recipients who are away (no open socket on any instance).
 */
export async function notify(rt: Runtime, drafts: readonly NotificationDraft[]): Promise<Recorded[]> {
  const wanted = new Map<string, NotificationDraft>();
  for (const draft of drafts) {
    if (draft.userId === draft.actorId) continue;
    const key = `${draft.userId}\0${draft.groupKey}`;
    if (!wanted.has(key)) wanted.set(key, draft);
  }
  if (wanted.size === 0) return [];
  const userIds = [...new Set([...wanted.values()].map((d) => d.userId))];
  const [preferences, onlineFlags] = await Promise.all([preferencesOf(rt, userIds), rt.presence.isOnline(userIds)]);
  const online = new Set(userIds.filter((_, i) => onlineFlags[i]));

  const recorded: Recorded[] = [];
  for (const draft of wanted.values()) {
    const preference = preferences.get(draft.userId)![draft.type];
    const away: DeliveryChannel[] = online.has(draft.userId)
      ? []
      : [...(preference.email ? (['EMAIL'] as const) : []), ...(preference.push ? (['PUSH'] as const) : [])];
    if (!preference.inApp && away.length === 0) continue;
    const one = await record(rt, draft, preference.inApp, away);
    if (one) recorded.push(one);
  }

  await Promise.all(
    recorded
      .filter(({ notification }) => notification.inApp)
      .map(({ notification }) => publishToUsers(rt, [notification.userId], { type: 'NOTIFICATION', notificationId: notification.id })),
  );
  if (recorded.length && observeRecorded) observeRecorded(rt, recorded);
  const waiting = recorded.filter((r) => r.away.length > 0);
  if (waiting.length && scheduleAway) await scheduleAway(rt, waiting);
  return recorded;
}

/**
 * Stores one draft: joins the open notification of its group, or starts one.
 * A transaction-scoped advisory lock on (recipient, group) serialises
 * concurrent drafts of one group, on every instance.
 */
async function record(rt: Runtime, draft: NotificationDraft, inApp: boolean, away: DeliveryChannel[]): Promise<Recorded | null> {
  return rt.prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`notification:${draft.userId}:${draft.groupKey}`}, 0))`;
    const existing = await tx.notification.findFirst({
      where: { userId: draft.userId, groupKey: draft.groupKey },
      orderBy: { updatedAt: 'desc' },
      include: { deliveries: true },
    });
    const subject = {
      actorId: draft.actorId ?? null,
      channelId: draft.channelId ?? null,
      messageId: draft.messageId ?? null,
      postId: draft.postId ?? null,
      commentId: draft.commentId ?? null,
    };
    if (existing && draft.type === 'MENTION') return null; // one mention notification per message, however often it is drafted
    const open =
      existing &&
      existing.readAt === null &&
      existing.deliveries.every((d) => d.channel === 'IN_APP' || d.status === 'PENDING');
    if (open) {
      const now = new Date();
      const notification = await tx.notification.update({
        where: { id: existing.id },
        data: { ...subject, count: { increment: 1 }, updatedAt: now, inApp: existing.inApp || inApp },
      });
      const missing = away.filter((channel) => !existing.deliveries.some((d) => d.channel === channel));
      if (missing.length) {
        await tx.notificationDelivery.createMany({ data: missing.map((channel) => ({ notificationId: existing.id, channel })) });
      }
      const pending = existing.deliveries.filter((d) => d.channel !== 'IN_APP').map((d) => d.channel);
      return { notification, collapsed: true, away: [...new Set([...pending, ...missing])] };
    }
    const notification = await tx.notification.create({
      data: {
        userId: draft.userId,
        type: draft.type,
        workspaceId: draft.workspaceId ?? null,
        groupKey: draft.groupKey,
        inApp,
        ...subject,
        deliveries: {
          create: [
            ...(inApp ? [{ channel: 'IN_APP' as const, status: 'SENT' as const, attempts: 1 }] : []),
            ...away.map((channel) => ({ channel })),
          ],
        },
      },
    });
    return { notification, collapsed: false, away };
  });
}

/** How many notifications shown in the app the user has not read. */
export function unreadNotificationCount(rt: Runtime, userId: string): Promise<number> {
  return rt.prisma.notification.count({ where: { userId, inApp: true, readAt: null } });
}

/**
 * Marks the user's notifications read: those of `ids`, or all with `all`.
 * Ids of other people's notifications change nothing. Returns how many
 * changed, and tells the user's open apps the new count.
 */
export function markNotificationsRead(rt: Runtime, userId: string, target: { ids?: string[] | null; all?: boolean | null }): Promise<number> {
  return markRead(rt, userId, target.all ? {} : { id: { in: target.ids ?? [] } });
}

/**
 * Reading a channel (or a thread) up to a message reads the notifications of
 * the messages up to it there: mentions, direct messages, thread replies.
 */
export function markMessageNotificationsRead(
  rt: Runtime,
  userId: string,
  upTo: { channelId: string; number: number | null; threadRootId: string | null; replyNumber: number | null },
): Promise<number> {
  const message = upTo.threadRootId
    ? { threadRootId: upTo.threadRootId, replyNumber: { lte: upTo.replyNumber ?? 0 } }
    : { threadRootId: null, number: { lte: upTo.number ?? 0 } };
  return markRead(rt, userId, { channelId: upTo.channelId, message });
}

async function markRead(rt: Runtime, userId: string, where: Prisma.NotificationWhereInput): Promise<number> {
  const now = new Date();
  const { count } = await rt.prisma.notification.updateMany({ where: { ...where, userId, readAt: null }, data: { readAt: now } });
  if (count > 0) {
    // Reading cancels what was still waiting to go out by email or push.
    await rt.prisma.notificationDelivery.updateMany({
      where: { status: 'PENDING', channel: { not: 'IN_APP' }, notification: { userId, readAt: now } },
      data: { status: 'CANCELLED', updatedAt: now },
    });
    await publishToUsers(rt, [userId], { type: 'NOTIFICATIONS_CHANGED' });
  }
  return count;
}

/** Changes some of a user's preferences (unset fields keep their value); returns all of them. */
export async function updateNotificationPreferences(
  rt: Runtime,
  userId: string,
  changes: readonly { type: NotificationType; inApp?: boolean | null; email?: boolean | null; push?: boolean | null }[],
): Promise<Record<NotificationType, Preference>> {
  const types = new Set<NotificationType>();
  for (const change of changes) {
    if (types.has(change.type)) throw badInput(`${change.type} is listed twice.`, 'input');
    types.add(change.type);
  }
  const current = (await preferencesOf(rt, [userId])).get(userId)!;
  await rt.prisma.$transaction(
    changes.map(({ type, inApp, email, push }) => {
      const next = {
        inApp: inApp ?? current[type].inApp,
        email: email ?? current[type].email,
        push: push ?? current[type].push,
      };
      current[type] = next;
      return rt.prisma.notificationPreference.upsert({
        where: { userId_type: { userId, type } },
        create: { userId, type, ...next },
        update: next,
      });
    }),
  );
  return current;
}

/**
 * The viewer's notifications as they are stored and shown in the app (new,
 * or collapsed into): NOTIFICATION payloads of their user topic, until their
 * session is revoked.
 */
export function streamNotifications(rt: Runtime, viewer: Viewer): Promise<AsyncIterableIterator<UserPayload>> {
  return streamForViewer(rt, viewer, topics.user(viewer.userId), {
    filter: (payload) => payload.type === 'NOTIFICATION',
    authorize: async () => {},
  });
}

/**
 * Withdraws the notifications whose newest subject is `subject` (a deleted
 * message, post or comment), inside the deleting transaction: one that stands
 * for that subject alone is deleted, a collapsed one counts one less. Returns
 * the recipients, whose counts changed.
 */
export async function withdrawNotifications(
  tx: Tx,
  subject: { messageId: string } | { postId: string } | { commentId: string },
): Promise<string[]> {
  const affected = await tx.notification.findMany({ where: subject, select: { id: true, userId: true, count: true } });
  const single = affected.filter((n) => n.count <= 1).map((n) => n.id);
  const collapsed = affected.filter((n) => n.count > 1).map((n) => n.id);
  if (single.length) await tx.notification.deleteMany({ where: { id: { in: single } } });
  if (collapsed.length) await tx.notification.updateMany({ where: { id: { in: collapsed } }, data: { count: { decrement: 1 } } });
  return [...new Set(affected.map((n) => n.userId))];
}
