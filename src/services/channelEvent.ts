import type { Prisma } from '../generated/prisma/client.ts';
import type { ChannelEventType } from '../generated/prisma/enums.ts';
import { pubsub, topics, type ChannelEventPayload } from '../pubsub.ts';

export type Tx = Prisma.TransactionClient;

export interface NewEvent {
  type: ChannelEventType;
  messageId?: string | null;
  userId?: string | null;
  data?: Prisma.InputJsonValue;
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
  const payloads = events.map((event, i) => ({
    channelId,
    seq: firstSeq + i,
    type: event.type,
    messageId: event.messageId ?? null,
    userId: event.userId ?? null,
  }));
  await tx.channelEvent.createMany({
    data: events.map((event, i) => ({ ...payloads[i]!, data: event.data })),
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
 * that resume with a cursor replay from the event log.
 */
export async function publishEvents(payloads: ChannelEventPayload[]): Promise<void> {
  for (const payload of payloads) {
    try {
      await pubsub.publish(topics.channel(payload.channelId), payload);
    } catch (error) {
      console.error(`publish of ${payload.type} #${payload.seq} on channel ${payload.channelId} failed`, error);
    }
  }
}
