import { decodeBase64, decodeCursorChunk, encodeBase64 } from '@pothos/core';
import { prisma } from '../db.ts';
import { badInput, forbidden } from '../errors.ts';
import type { ChannelEvent, Prisma } from '../generated/prisma/client.ts';
import type { ChannelEventType } from '../generated/prisma/enums.ts';
import { MAX_PENDING_EVENTS, pubsub, topics, type ChannelEventPayload, type UserPayload } from '../pubsub.ts';
import { requireReadableChannel } from './access.ts';
import type { Viewer } from './auth.ts';
import { endOnRevocation, EventStream } from './liveStream.ts';

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
export async function publishEvents(payloads: ChannelEventPayload[]): Promise<void> {
  for (const payload of payloads) {
    try {
      await pubsub.publish(topics.channel(payload.channelId), payload);
    } catch (error) {
      console.error(`publish of ${payload.type} #${payload.seq} on channel ${payload.channelId} failed`, error);
    }
  }
}

/**
 * Publishes one user event to each user's topic (their inbox and open streams
 * on every instance). Like {@link publishEvents}, a failure is logged, not
 * thrown: the write it announces has committed.
 */
export async function publishToUsers(userIds: string[], payload: UserPayload): Promise<void> {
  await Promise.all(
    userIds.map((userId) =>
      pubsub.publish(topics.user(userId), payload).catch((error: unknown) => {
        console.error(`publish of ${payload.type} to user ${userId} failed`, error);
      }),
    ),
  );
}

/** The opaque cursor of a channel event: strictly increasing within its channel. */
export function eventCursor(channelId: string, seq: number): string {
  return encodeBase64(`CE:${channelId}:${seq}`);
}

/**
 * The sequence number a cursor points at: a ChannelEvent.cursor, or a message
 * edge cursor (Channel.messages / Message.replies). Anything else, or a cursor
 * of another channel, is BAD_USER_INPUT.
 */
export function parseEventCursor(cursor: string, channelId: string): number {
  const invalid = () => badInput(`"${cursor}" is not a cursor of this channel's events or messages.`, 'after');
  let decoded: string;
  try {
    decoded = decodeBase64(cursor);
  } catch {
    throw invalid();
  }
  let cursorChannel: unknown;
  let seq: unknown;
  if (decoded.startsWith('CE:')) {
    [, cursorChannel, seq] = decoded.split(':');
    seq = Number(seq);
  } else if (decoded.startsWith('GPC:')) {
    try {
      const parts = decodeCursorChunk(decoded.slice(4));
      if (Array.isArray(parts)) [cursorChannel, seq] = parts;
    } catch {
      throw invalid();
    }
  }
  if (cursorChannel !== channelId || typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw invalid();
  return seq;
}

const toPayload = (row: ChannelEvent): ChannelEventPayload => {
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

/** A connection younger than this is new: see {@link connectionLookback}. */
export const FRESH_CONNECTION_MS = 2_000;
/** How far before a new connection opened its live streams look. */
export const CONNECTION_LOOKBACK_MS = 1_000;

/**
 * Where messageAdded on a WebSocket opened at `connectedAt` starts. A client that opens a socket, subscribes and posts at
 * once races its own connection set-up: the post can commit before the
 * subscription reaches the server. So on a new connection the stream also
 * delivers events recorded from {@link CONNECTION_LOOKBACK_MS} before the
 * socket opened; on an older one it starts when the subscription does.
 * channelEvents keeps exact semantics instead: its clients pass a cursor.
 */
export function connectionLookback(connectedAt: number | null): Date | undefined {
  if (connectedAt == null || Date.now() - connectedAt >= FRESH_CONNECTION_MS) return undefined;
  return new Date(connectedAt - CONNECTION_LOOKBACK_MS);
}

export interface StreamOptions {
  /** Replay everything after this sequence number first; unset starts live from now. */
  afterSeq?: number | null;
  /**
   * Without `afterSeq`: also deliver events recorded at or after this time
   * (looked for among the channel's last {@link REPLAY_PAGE} events).
   */
  since?: Date;
  /** Live events buffered before the stream falls back to paging the log. */
  maxPending?: number;
  /** Only these event types reach the subscriber (all when unset). */
  types?: ReadonlySet<ChannelEventType>;
}

/**
 * Every change to a channel, in order, exactly once: replays the event log
 * after `afterSeq`, then follows live events. Live events are buffered while
 * the replay runs and de-duplicated by sequence number; a gap (a lost or
 * reordered publish) is filled from the log. A subscriber that falls more
 * than {@link MAX_PENDING_EVENTS} behind is paged from the log again instead of
 * being held in memory. The stream ends with an error when the viewer leaves
 * the channel or their session is revoked.
 */
export async function streamChannelEvents(
  viewer: Viewer,
  channelId: string,
  options: StreamOptions = {},
): Promise<AsyncIterableIterator<ChannelEventPayload>> {
  const live: ChannelEventPayload[] = [];
  let overflowed = false;
  let nextSeq = 0;
  let replaying = false;
  let startSeq = 0;

  const accept = (event: ChannelEventPayload) => {
    nextSeq = event.seq + 1;
    if (!options.types || options.types.has(event.type)) stream.push(event);
    // Leaving ends the stream, after the leave itself is delivered.
    if (event.type === 'MEMBER_LEFT' && event.userId === viewer.userId && event.seq > startSeq) {
      stream.endWith(forbidden('You left this channel; its events no longer reach you.'));
    }
  };

  /** Moves events from the log or the live buffer to the stream, in sequence order. */
  const pump = async (): Promise<boolean> => {
    if (overflowed) {
      overflowed = false;
      replaying = true;
    }
    if (replaying) {
      const rows = await prisma.channelEvent.findMany({
        where: { channelId, seq: { gte: nextSeq } },
        orderBy: { seq: 'asc' },
        take: REPLAY_PAGE,
      });
      for (const row of rows) accept(toPayload(row));
      if (rows.length < REPLAY_PAGE) replaying = false;
      return true;
    }
    const event = live.shift();
    if (!event) return false;
    if (event.seq === nextSeq) accept(event);
    // Ahead of what we have: an earlier event's publish was lost or is late. It is committed, so read it.
    else if (event.seq > nextSeq) replaying = true;
    return true;
  };

  const stream = new EventStream<ChannelEventPayload>(pump);
  // Listen first, check after: nothing published in between is missed.
  stream.own(
    pubsub.listen(topics.channel(channelId), (event) => {
      if (overflowed) return;
      if (live.length >= (options.maxPending ?? MAX_PENDING_EVENTS)) {
        overflowed = true;
        live.length = 0;
      } else live.push(event);
      stream.signal();
    }),
  );
  endOnRevocation(stream, viewer);

  try {
    await requireReadableChannel(viewer, channelId);
    await stream.ready();
    const { lastSeq } = await prisma.channel.findUniqueOrThrow({ where: { id: channelId }, select: { lastSeq: true } });
    startSeq = lastSeq;
    if (options.afterSeq != null) {
      if (options.afterSeq > lastSeq) throw badInput('The cursor is ahead of this channel; it is not one of its cursors.', 'after');
      nextSeq = options.afterSeq + 1;
      replaying = true;
    } else {
      // Live from the moment we started listening: events that arrived since
      // then are delivered even when they committed before lastSeq was read.
      nextSeq = Math.min(lastSeq + 1, ...live.map((event) => event.seq));
      if (options.since) {
        const recent = await prisma.channelEvent.findFirst({
          where: { channelId, seq: { gt: lastSeq - REPLAY_PAGE, lt: nextSeq }, createdAt: { gte: options.since } },
          orderBy: { seq: 'asc' },
          select: { seq: true },
        });
        if (recent) {
          nextSeq = recent.seq;
          replaying = true;
        }
      }
    }
  } catch (error) {
    await stream.return();
    throw error;
  }
  return stream;
}
