import { badInput, DomainError, forbidden } from '../errors.ts';
import type { ChannelEventType } from '../generated/prisma/enums.ts';
import { MAX_PENDING_EVENTS, topics, type ChannelEventPayload } from '../pubsub.ts';
import type { Runtime } from '../runtime.ts';
import type { Viewer } from './auth.ts';
import { REPLAY_PAGE } from './eventLog.ts';
import { logPagesOf, type LogNeed } from './logPages.ts';
import { checkStreamStart } from './streamStarts.ts';
import { endOnRevocation, EventStream } from './liveStream.ts';

/*
 * The stream engine: a channel's events, replayed from the log after a
 * cursor and then live, in order, exactly once (see streamChannelEvents).
 */

const LOST = 'You can no longer read this channel; its events no longer reach you.';

/**
 * How long a stream holds events that arrived ahead of a missing one,
 * waiting for its late publish, before it reads the log: publishes of
 * concurrent commits (or of other instances) can arrive out of order.
 */
export const GAP_GRACE_MS = 50;

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
  /** Replay everything after this sequence number first; unset starts after the last event committed when the stream opens. */
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
 * being held in memory. When pub/sub resubscribes after an outage, the stream
 * reads the log from where it was, so nothing published during the outage
 * waits for the channel's next event. The stream ends with an error when the
 * viewer leaves the channel or their session is revoked.
 */
export async function streamChannelEvents(rt: Runtime, 
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
  const stillReadable = () => checkStreamStart(rt, viewer, channelId);

  /**
   * {@link accept}, but a CHANNEL_UPDATED first checks access again (a public
   * channel made private: a reader who is not a member loses it) and ends
   * the stream in its place when that refuses.
   */
  const admit = async (event: ChannelEventPayload) => {
    if (event.type === 'CHANNEL_UPDATED' && event.seq > startSeq) {
      const refused = await stillReadable().then(
        () => false,
        (error: unknown) => {
          if (error instanceof DomainError) return true;
          throw error;
        },
      );
      if (refused) {
        nextSeq = event.seq + 1;
        return stream.endWith(forbidden(LOST));
      }
    }
    accept(event);
  };

  const pages = logPagesOf(rt);
  /** What the stream needs from the log since it found it must read it (see LogPages.read). */
  let need: LogNeed = { mark: 0 };
  const readLog = (upTo?: number) => {
    replaying = true;
    need = { mark: pages.mark(), upTo };
  };
  /** A live event is ahead of the next one: since when it waits for the missing publish, and whether it waited long enough. */
  let gap: { timer: NodeJS.Timeout; due: boolean } | null = null;
  const closeGap = () => {
    if (gap) clearTimeout(gap.timer);
    gap = null;
  };

  /** Moves events from the log or the live buffer to the stream, in sequence order. */
  const pump = async (): Promise<boolean> => {
    if (overflowed) {
      overflowed = false;
      readLog();
    }
    if (replaying) {
      closeGap();
      const payloads = await pages.read(channelId, nextSeq, need);
      for (const payload of payloads) if (payload.seq >= nextSeq) await admit(payload);
      if (payloads.length < REPLAY_PAGE) replaying = false;
      return true;
    }
    let event = live[0];
    if (!event) return false;
    // Publishes may arrive out of order (concurrent commits, several instances): the next one may be further back.
    if (event.seq > nextSeq && live.length > 1) {
      live.sort((a, b) => a.seq - b.seq);
      event = live[0]!;
    }
    if (event.seq < nextSeq) {
      // Delivered already, from the log.
      live.shift();
      return true;
    }
    if (event.seq === nextSeq) {
      live.shift();
      closeGap();
      await admit(event);
      return true;
    }
    // Ahead of what we have: an earlier event's publish is late or lost. It
    // is committed, so after a moment's wait for it, it is read from the log.
    if (!gap) {
      need = { mark: pages.mark(), upTo: event.seq - 1 };
      const waiting = {
        due: false,
        // Not cleared when the stream closes: it only wakes the stream (a no-op then), and holds it for at most this long.
        timer: setTimeout(() => {
          waiting.due = true;
          stream.signal();
        }, GAP_GRACE_MS).unref(),
      };
      gap = waiting;
      return false;
    }
    if (!gap.due) return false;
    // `need` is still what the gap called for when it was found.
    closeGap();
    replaying = true;
    return true;
  };

  const stream = new EventStream<ChannelEventPayload>(pump);
  stream.own(
    rt.pubsub.listen(
      topics.channel(channelId),
      (event) => {
        if (overflowed) return;
        if (live.length >= (options.maxPending ?? MAX_PENDING_EVENTS)) {
          overflowed = true;
          live.length = 0;
          closeGap();
        } else live.push(event);
        stream.signal();
      },
      {
        // Pub/sub was down: what was published meanwhile is lost, not late. It is in the log.
        onResubscribed: () => {
          readLog();
          stream.signal();
        },
      },
    ),
  );
  endOnRevocation(rt, stream, viewer, { recheck: stillReadable, message: LOST });

  try {
    await stream.ready();
    // Where the stream starts is read once it listens: every event that
    // commits after this read is published after it too, so it reaches the
    // listener (in any order: a gap is filled from the log). What committed
    // before is only read when the subscriber asked for it.
    const since = options.afterSeq == null ? options.since : undefined;
    const { access, recent } = await checkStreamStart(rt, viewer, channelId, since);
    const { channel } = access;
    startSeq = channel.lastSeq;
    if (options.afterSeq != null) {
      if (options.afterSeq > startSeq) throw badInput('The cursor is ahead of this channel; it is not one of its cursors.', 'after');
      nextSeq = options.afterSeq + 1;
    } else nextSeq = Math.min(recent ?? Infinity, startSeq + 1);
    if (nextSeq <= startSeq) readLog(startSeq);
  } catch (error) {
    await stream.return();
    throw error;
  }
  return stream;
}
