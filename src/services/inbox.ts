import { topics, type ChannelEventPayload, type Listening, type UserPayload } from '../pubsub.ts';
import type { Viewer } from './auth.ts';
import { endOnRevocation, EventStream } from './liveStream.ts';
import { unreadNotificationCount } from './notifications.ts';
import type { Runtime } from '../runtime.ts';

export type InboxEntryType =
  | 'INITIAL'
  | 'UNREAD_CHANGED'
  | 'CHANNEL_ADDED'
  | 'CHANNEL_REMOVED'
  | 'CHANNEL_UPDATED'
  | 'THREAD_FOLLOWED'
  | 'NOTIFICATIONS_CHANGED';

/**
 * One line of a sidebar: a channel, or a thread the viewer follows, with its
 * badge counts; or (NOTIFICATIONS_CHANGED, no channel) the notification badge.
 */
export interface InboxEntry {
  type: InboxEntryType;
  channelId: string | null;
  /** For NOTIFICATIONS_CHANGED: unread notifications shown in the app. */
  unreadNotificationCount?: number;
  /** Set when the counts are those of a thread. */
  threadRootId: string | null;
  unreadCount: number;
  mentionCount: number;
}

/** Read state of a list of messages: a channel's top-level ones, or a thread's replies. */
interface Counter {
  /** The newest message's position. */
  latest: number;
  lastRead: number;
  /** Positions of unread messages that mention the viewer. */
  mentions: Set<number>;
  /** Positions of unread messages that were deleted: they are not counted. */
  deleted: Set<number>;
}

interface ChannelState extends Counter {
  listening: Listening;
}

interface ThreadState extends Counter {
  channelId: string;
}

/** Message positions grouped by channel. */
function byChannel(rows: { channelId: string; number: number | null }[]): Map<string, number[]> {
  const grouped = new Map<string, number[]>();
  for (const { channelId, number } of rows) grouped.set(channelId, [...(grouped.get(channelId) ?? []), number!]);
  return grouped;
}

/** Unread mentions per channel: mentions past each membership's read position. */
async function unreadMentions(rt: Runtime, userId: string, channelIds: string[]): Promise<Map<string, number[]>> {
  const rows = await rt.prisma.mention.findMany({
    where: { userId, channelId: { in: channelIds }, number: { not: null } },
    select: { channelId: true, number: true },
    orderBy: { number: 'desc' },
    take: 10_000,
  });
  return byChannel(rows);
}

/** Positions of deleted top-level messages per channel (newest 10,000), which unread counts leave out. */
async function deletedMessages(rt: Runtime, channelIds: string[]): Promise<Map<string, number[]>> {
  const rows = await rt.prisma.message.findMany({
    where: { channelId: { in: channelIds }, deletedAt: { not: null }, number: { not: null } },
    select: { channelId: true, number: true },
    orderBy: { number: 'desc' },
    take: 10_000,
  });
  return byChannel(rows);
}

/**
 * The viewer's sidebar as a stream: first one INITIAL entry per channel they
 * belong to and per followed thread with unread replies, then an entry
 * whenever a channel's or thread's unread or mention count changes, when they
 * start following a thread, and when they are added to (new DMs included) or
 * leave a channel.
 * Counts come from the sequence positions carried by the events, so keeping
 * them costs no query per message.
 */
export async function streamInbox(rt: Runtime, viewer: Viewer): Promise<AsyncIterableIterator<InboxEntry>> {
  const channels = new Map<string, ChannelState>();
  const threads = new Map<string, ThreadState>();
  const stream = new EventStream<InboxEntry>();
  const fail = (error: Error) => stream.fail(error);

  const counts = (state: Counter) => ({
    unreadCount: Math.max(0, state.latest - state.lastRead - [...state.deleted].filter((n) => n > state.lastRead).length),
    mentionCount: [...state.mentions].filter((n) => n > state.lastRead && !state.deleted.has(n)).length,
  });
  const emit = (type: InboxEntryType, channelId: string, state: Counter, threadRootId: string | null = null) =>
    stream.push({ type, channelId, threadRootId, ...counts(state) });

  /** Applies a new message or a read to a counter; emits UNREAD_CHANGED when a count changed. */
  const update = (state: Counter, event: ChannelEventPayload, position: number, threadRootId: string | null) => {
    const before = counts(state);
    if (event.type === 'MESSAGE_ADDED') {
      state.latest = Math.max(state.latest, position);
      // Posting marks the list read up to one's own message (see sendMessage).
      if (event.userId === viewer.userId) state.lastRead = Math.max(state.lastRead, position);
      else if (event.mentions.includes(viewer.userId)) state.mentions.add(position);
    } else if (event.type === 'MESSAGE_EDITED') {
      // An edit that @-mentions the viewer for the first time.
      if (position > state.lastRead && event.mentions.includes(viewer.userId)) state.mentions.add(position);
    } else if (event.type === 'MESSAGE_DELETED') {
      if (position > state.lastRead) state.deleted.add(position);
    } else {
      state.lastRead = Math.max(state.lastRead, position);
    }
    for (const n of state.mentions) if (n <= state.lastRead || state.deleted.has(n)) state.mentions.delete(n);
    for (const n of state.deleted) if (n <= state.lastRead) state.deleted.delete(n);
    const after = counts(state);
    if (after.unreadCount !== before.unreadCount || after.mentionCount !== before.mentionCount) {
      emit('UNREAD_CHANGED', event.channelId, state, threadRootId);
    }
  };

  const onChannelEvent = (event: ChannelEventPayload) => {
    const state = channels.get(event.channelId);
    if (!state) return;
    if (event.type === 'MEMBER_LEFT' && event.userId === viewer.userId) return void remove(event.channelId);
    if (event.type === 'CHANNEL_UPDATED') return void emit('CHANNEL_UPDATED', event.channelId, state);
    const relevant =
      event.type === 'MESSAGE_ADDED' ||
      event.type === 'MESSAGE_DELETED' ||
      event.type === 'MESSAGE_EDITED' ||
      (event.type === 'READ' && event.userId === viewer.userId);
    if (!relevant) return;
    if (event.threadRootId) {
      const thread = threads.get(event.threadRootId);
      if (thread && event.replyNumber != null) update(thread, event, event.replyNumber, event.threadRootId);
    } else if (event.number != null) {
      update(state, event, event.number, null);
    }
  };

  /** Loads followed threads' counts (of channels being followed), emitting those with something unread, or all for `type` THREAD_FOLLOWED. */
  const followThreads = async (where: { rootId?: string }, type: 'INITIAL' | 'THREAD_FOLLOWED') => {
    const rows = await rt.prisma.threadMembership.findMany({
      where: { userId: viewer.userId, ...where },
      select: { rootId: true, lastReadReplyNumber: true, root: { select: { channelId: true, replyCount: true } } },
      orderBy: { createdAt: 'desc' },
      take: 1_000,
    });
    const rootIds = rows.map((r) => r.rootId);
    const [mentions, deleted] = rootIds.length
      ? await Promise.all([
          rt.prisma.mention.findMany({
            where: { userId: viewer.userId, threadRootId: { in: rootIds }, replyNumber: { not: null } },
            select: { threadRootId: true, replyNumber: true },
          }),
          rt.prisma.message.findMany({
            where: { threadRootId: { in: rootIds }, deletedAt: { not: null } },
            select: { threadRootId: true, replyNumber: true },
            take: 10_000,
          }),
        ])
      : [[], []];
    for (const row of rows) {
      if (!channels.has(row.root.channelId) || threads.has(row.rootId)) continue;
      const state: ThreadState = {
        channelId: row.root.channelId,
        latest: row.root.replyCount,
        lastRead: row.lastReadReplyNumber,
        mentions: new Set(
          mentions.filter((m) => m.threadRootId === row.rootId && m.replyNumber! > row.lastReadReplyNumber).map((m) => m.replyNumber!),
        ),
        deleted: new Set(
          deleted.filter((d) => d.threadRootId === row.rootId && d.replyNumber! > row.lastReadReplyNumber).map((d) => d.replyNumber!),
        ),
      };
      threads.set(row.rootId, state);
      if (type === 'THREAD_FOLLOWED' || counts(state).unreadCount > 0) emit(type, state.channelId, state, row.rootId);
    }
  };

  /** Starts following channels: listen first, then read their counts, so no message falls in between. */
  const follow = async (channelIds: string[], type: 'INITIAL' | 'CHANNEL_ADDED') => {
    const fresh = channelIds.filter((id) => !channels.has(id));
    if (fresh.length === 0) return;
    const listenings = new Map(fresh.map((id) => [id, stream.own(rt.pubsub.listen(topics.channel(id), onChannelEvent))] as const));
    await Promise.all([...listenings.values()].map((l) => l.ready));
    const [memberships, mentions, deleted] = await Promise.all([
      rt.prisma.membership.findMany({
        where: { userId: viewer.userId, channelId: { in: fresh } },
        select: { channelId: true, lastReadNumber: true, channel: { select: { messageCount: true } } },
        orderBy: { channelId: 'asc' },
      }),
      unreadMentions(rt, viewer.userId, fresh),
      deletedMessages(rt, fresh),
    ]);
    if (stream.closed) return;
    const found = new Set(memberships.map((m) => m.channelId));
    for (const [id, listening] of listenings) if (!found.has(id)) void listening.close();
    for (const m of memberships) {
      const state: ChannelState = {
        latest: m.channel.messageCount,
        lastRead: m.lastReadNumber,
        mentions: new Set((mentions.get(m.channelId) ?? []).filter((n) => n > m.lastReadNumber)),
        deleted: new Set((deleted.get(m.channelId) ?? []).filter((n) => n > m.lastReadNumber)),
        listening: listenings.get(m.channelId)!,
      };
      channels.set(m.channelId, state);
      emit(type, m.channelId, state);
    }
  };

  const remove = (channelId: string) => {
    const state = channels.get(channelId);
    if (!state) return;
    channels.delete(channelId);
    void state.listening.close();
    for (const [rootId, thread] of threads) if (thread.channelId === channelId) threads.delete(rootId);
    stream.push({ type: 'CHANNEL_REMOVED', channelId, threadRootId: null, unreadCount: 0, mentionCount: 0 });
  };

  /** The notification badge: recounted when notifications arrive or are read, emitted when it changed. */
  let notificationCount: number | null = null;
  let recounting: Promise<void> | null = null;
  let recountAgain = false;
  const recountNotifications = (): void => {
    if (recounting) {
      recountAgain = true;
      return;
    }
    recounting = (async () => {
      do {
        recountAgain = false;
        const count = await unreadNotificationCount(rt, viewer.userId);
        if (count !== notificationCount) {
          notificationCount = count;
          stream.push({ type: 'NOTIFICATIONS_CHANGED', channelId: null, threadRootId: null, unreadCount: 0, mentionCount: 0, unreadNotificationCount: count });
        }
      } while (recountAgain && !stream.closed);
    })()
      .catch(fail)
      .finally(() => (recounting = null));
  };

  const onUserEvent = (event: UserPayload) => {
    if (event.type === 'NOTIFICATION' || event.type === 'NOTIFICATIONS_CHANGED') recountNotifications();
    else if (event.type === 'CHANNEL_ADDED') follow([event.channelId], 'CHANNEL_ADDED').catch(fail);
    else if (event.type === 'CHANNEL_REMOVED') remove(event.channelId);
    else if (event.type === 'THREAD_FOLLOWED') followThreads({ rootId: event.rootId }, 'THREAD_FOLLOWED').catch(fail);
  };

  stream.own(rt.pubsub.listen(topics.user(viewer.userId), onUserEvent));
  endOnRevocation(rt, stream, viewer);
  try {
    await stream.ready();
    const memberships = await rt.prisma.membership.findMany({ where: { userId: viewer.userId }, select: { channelId: true } });
    await follow(
      memberships.map((m) => m.channelId),
      'INITIAL',
    );
    await followThreads({}, 'INITIAL');
    recountNotifications();
    await recounting;
  } catch (error) {
    await stream.return();
    throw error;
  }
  return stream;
}
