import type { ChannelEvent, Prisma } from '../generated/prisma/client.ts';
import type { ChannelEventType } from '../generated/prisma/enums.ts';
import { topics, type ChannelEventPayload, type UserPayload } from '../pubsub.ts';
import type { Runtime } from '../runtime.ts';
import { primeOncePerEvent } from './eventRows.ts';
import { channelEventWebhooks } from './webhooks.ts';

/*
 * The channel event log: every change to a channel gets the channel's next
 * sequence number and a ChannelEvent row in the same transaction, and is
 * published after commit. Streams replay it (channelStream.ts).
 */

export type Tx = Prisma.TransactionClient;

export interface NewEvent {
  type: ChannelEventType;
  messageId?: string | null;
  userId?: string | null;
  emoji?: string | null;
  number?: number | null;
  threadRootId?: string | null;
  replyNumber?: number | null;
  mentions?: string[];
}

/** What the log keeps beyond its columns (everything a payload needs to be rebuilt). */
interface EventData {
  emoji?: string;
  number?: number;
  threadRootId?: string;
  replyNumber?: number;
  mentions?: string[];
}

/**
 * Takes the channel's next `count` sequence numbers inside the caller's
 * transaction. The row lock on the channel serialises writers, so sequence
 * numbers are gap-free and follow commit order. `extra` bumps other channel
 * counters in the same statement.
 */
export async function takeSeq(
  tx: Tx,
  channelId: string,
  count: number,
  extra: { messageCount?: number } = {},
): Promise<{ firstSeq: number; messageCount: number }> {
  const channel = await tx.channel.update({
    where: { id: channelId },
    data: {
      lastSeq: { increment: count },
      ...(extra.messageCount ? { messageCount: { increment: extra.messageCount } } : {}),
    },
    select: { lastSeq: true, messageCount: true },
  });
  return { firstSeq: channel.lastSeq - count + 1, messageCount: channel.messageCount };
}

/** Writes events numbered from `firstSeq` (taken with {@link takeSeq}). */
export async function recordEvents(
  tx: Tx,
  channelId: string,
  firstSeq: number,
  events: NewEvent[],
): Promise<ChannelEventPayload[]> {
  const createdAt = new Date();
  const payloads = events.map((event, i) => ({
    channelId,
    seq: firstSeq + i,
    type: event.type,
    messageId: event.messageId ?? null,
    userId: event.userId ?? null,
    emoji: event.emoji ?? null,
    number: event.number ?? null,
    threadRootId: event.threadRootId ?? null,
    replyNumber: event.replyNumber ?? null,
    mentions: event.mentions ?? [],
    createdAt: createdAt.toISOString(),
  }));
  await tx.channelEvent.createMany({
    data: payloads.map(({ channelId, seq, type, messageId, userId, emoji, number, threadRootId, replyNumber, mentions }) => {
      const data: EventData = {
        ...(emoji ? { emoji } : {}),
        ...(number != null ? { number } : {}),
        ...(threadRootId ? { threadRootId } : {}),
        ...(replyNumber != null ? { replyNumber } : {}),
        ...(mentions.length ? { mentions } : {}),
      };
      return { channelId, seq, type, messageId, userId, createdAt, ...(Object.keys(data).length ? { data: { ...data } } : {}) };
    }),
  });
  return payloads;
}

/** {@link takeSeq} and {@link recordEvents} in one step. */
export async function appendEvents(tx: Tx, channelId: string, events: NewEvent[]): Promise<ChannelEventPayload[]> {
  const { firstSeq } = await takeSeq(tx, channelId, events.length);
  return recordEvents(tx, channelId, firstSeq, events);
}

/**
 * Publishes committed events. A lost publish is not lost data: subscribers
 * fill gaps from the event log, and resuming with a cursor replays it.
 */
export async function publishEvents(rt: Runtime, payloads: ChannelEventPayload[]): Promise<void> {
  for (const payload of payloads) {
    try {
      await rt.pubsub.publish(topics.channel(payload.channelId), payload);
    } catch (error) {
      rt.log('error', `publish of ${payload.type} #${payload.seq} on channel ${payload.channelId} failed`, error);
    }
  }
  // Outgoing webhooks, off the request's path: this instance committed the events, so it sends them once.
  if (payloads.length) rt.background.run('channel event webhooks', () => channelEventWebhooks(rt, payloads));
}

/**
 * Publishes one user event to each user's topic (their inbox and open streams
 * on every instance). Like {@link publishEvents}, a failure is logged, not
 * thrown: the write it announces has committed.
 */
export async function publishToUsers(rt: Runtime, userIds: string[], payload: UserPayload): Promise<void> {
  await Promise.all(
    userIds.map((userId) =>
      rt.pubsub.publish(topics.user(userId), payload).catch((error: unknown) => {
        rt.log('error', `publish of ${payload.type} to user ${userId} failed`, error);
      }),
    ),
  );
}

export const toPayload = (row: ChannelEvent): ChannelEventPayload => {
  const data = (row.data ?? {}) as EventData;
  return {
    channelId: row.channelId,
    seq: row.seq,
    type: row.type,
    messageId: row.messageId,
    userId: row.userId,
    emoji: data.emoji ?? null,
    number: data.number ?? null,
    threadRootId: data.threadRootId ?? null,
    replyNumber: data.replyNumber ?? null,
    mentions: data.mentions ?? [],
    createdAt: row.createdAt.toISOString(),
  };
};

/** Events read from the log per page while replaying or filling a gap. */
export const REPLAY_PAGE = 200;

/**
 * Loads the rows a page of replayed events shows (their messages, users and
 * channel) in three queries, instead of one query per event and field when
 * each event is executed.
 */
export async function readAhead(rt: Runtime, payloads: ChannelEventPayload[]): Promise<void> {
  if (payloads.length === 0) return;
  const ids = (pick: (p: ChannelEventPayload) => string | null) => [...new Set(payloads.map(pick).filter((id): id is string => id !== null))];
  const [messages, users, channel] = await Promise.all([
    rt.prisma.message.findMany({ where: { id: { in: ids((p) => p.messageId) } } }),
    rt.prisma.user.findMany({ where: { id: { in: ids((p) => p.userId) } } }),
    rt.prisma.channel.findUnique({ where: { id: payloads[0]!.channelId } }),
  ]);
  const messageById = new Map(messages.map((m) => [m.id, m]));
  const userById = new Map(users.map((u) => [u.id, u]));
  for (const payload of payloads) {
    if (payload.messageId) primeOncePerEvent(payload, 'message', messageById.get(payload.messageId) ?? null);
    if (payload.userId) primeOncePerEvent(payload, 'user', userById.get(payload.userId) ?? null);
    if (channel) primeOncePerEvent(payload, 'channel', channel);
  }
}
