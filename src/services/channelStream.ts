import { badInput, DomainError, forbidden } from '../errors.ts';
import type { ChannelEventType } from '../generated/prisma/enums.ts';
import { MAX_PENDING_EVENTS, topics, type ChannelEventPayload, type ListenOptions } from '../pubsub.ts';
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
export async function streamChannelEvents(
  rt: Runtime,
  viewer: Viewer,
  channelId: string,
  options: StreamOptions = {},
): Promise<AsyncIterableIterator<ChannelEventPayload>> {
  const channel = new ChannelStream(rt, viewer, channelId, options);
  const { stream } = channel;
  try {
    await stream.ready();
    // Where the stream starts is read once it listens: every event that
    // commits after this read is published after it too, so it reaches the
    // listener (in any order: a gap is filled from the log). What committed
    // before is only read when the subscriber asked for it.
    const since = options.afterSeq == null ? options.since : undefined;
    const { access, recent } = await checkStreamStart(rt, viewer, channelId, since);
    channel.start(access.channel.lastSeq, recent);
  } catch (error) {
    await stream.return();
    throw error;
  }
  return stream;
}

/**
 * One stream's state and steps (see {@link streamChannelEvents}). A class, not
 * closures: thousands of idle streams each keep one object, not a dozen
 * functions and their scope. It is also the listening's options (its
 * `onResubscribed`).
 */
class ChannelStream implements ListenOptions {
  readonly stream: EventStream<ChannelEventPayload>;
  /** Live events waiting to be taken in order. */
  private readonly live: ChannelEventPayload[] = [];
  private overflowed = false;
  private nextSeq = 0;
  private replaying = false;
  /** The channel's last event when the stream started. */
  private startSeq = 0;
  /** What the stream needs from the log since it found it must read it (see LogPages.read). */
  private need: LogNeed = { mark: 0 };
  /** A live event is ahead of the next one: it waits for the missing publish until `due`. */
  private gap: { timer: NodeJS.Timeout; due: boolean } | null = null;

  constructor(
    private readonly rt: Runtime,
    private readonly viewer: Viewer,
    private readonly channelId: string,
    private readonly options: StreamOptions,
  ) {
    this.stream = new EventStream<ChannelEventPayload>(() => this.pump());
    this.stream.own(rt.pubsub.listen(topics.channel(channelId), (event) => this.arrived(event), this));
    endOnRevocation(rt, this.stream, viewer, { recheck: () => this.stillReadable(), message: LOST });
  }

  /** Where the stream starts, once it listens: after `afterSeq`, at a recent event, or after `lastSeq`. */
  start(lastSeq: number, recent: number | null): void {
    const { afterSeq } = this.options;
    this.startSeq = lastSeq;
    if (afterSeq != null) {
      if (afterSeq > lastSeq) throw badInput('The cursor is ahead of this channel; it is not one of its cursors.', 'after');
      this.nextSeq = afterSeq + 1;
    } else this.nextSeq = Math.min(recent ?? Infinity, lastSeq + 1);
    if (this.nextSeq <= lastSeq) this.readLog(lastSeq);
  }

  /** Pub/sub was down: what was published meanwhile is lost, not late. It is in the log. */
  onResubscribed(): void {
    this.readLog();
    this.stream.signal();
  }

  private arrived(event: ChannelEventPayload): void {
    if (this.overflowed) return;
    if (this.live.length >= (this.options.maxPending ?? MAX_PENDING_EVENTS)) {
      this.overflowed = true;
      this.live.length = 0;
      this.closeGap();
    } else this.live.push(event);
    this.stream.signal();
  }

  private stillReadable() {
    return checkStreamStart(this.rt, this.viewer, this.channelId);
  }

  private accept(event: ChannelEventPayload): void {
    this.nextSeq = event.seq + 1;
    const { types } = this.options;
    if (!types || types.has(event.type)) this.stream.push(event);
    // Leaving ends the stream, after the leave itself is delivered.
    if (event.type === 'MEMBER_LEFT' && event.userId === this.viewer.userId && event.seq > this.startSeq) {
      this.stream.endWith(forbidden('You left this channel; its events no longer reach you.'));
    }
  }

  /**
   * {@link accept}, but a CHANNEL_UPDATED first checks access again (a public
   * channel made private: a reader who is not a member loses it) and ends
   * the stream in its place when that refuses.
   */
  private async admit(event: ChannelEventPayload): Promise<void> {
    if (event.type === 'CHANNEL_UPDATED' && event.seq > this.startSeq) {
      const refused = await this.stillReadable().then(
        () => false,
        (error: unknown) => {
          if (error instanceof DomainError) return true;
          throw error;
        },
      );
      if (refused) {
        this.nextSeq = event.seq + 1;
        return this.stream.endWith(forbidden(LOST));
      }
    }
    this.accept(event);
  }

  private readLog(upTo?: number): void {
    this.replaying = true;
    this.need = { mark: logPagesOf(this.rt).mark(), upTo };
  }

  private closeGap(): void {
    if (this.gap) clearTimeout(this.gap.timer);
    this.gap = null;
  }

  /** Moves events from the log or the live buffer to the stream, in sequence order. */
  private async pump(): Promise<boolean> {
    if (this.overflowed) {
      this.overflowed = false;
      this.readLog();
    }
    if (this.replaying) {
      this.closeGap();
      const payloads = await logPagesOf(this.rt).read(this.channelId, this.nextSeq, this.need);
      for (const payload of payloads) if (payload.seq >= this.nextSeq) await this.admit(payload);
      if (payloads.length < REPLAY_PAGE) this.replaying = false;
      return true;
    }
    const { live } = this;
    let event = live[0];
    if (!event) return false;
    // Publishes may arrive out of order (concurrent commits, several instances): the next one may be further back.
    if (event.seq > this.nextSeq && live.length > 1) {
      live.sort((a, b) => a.seq - b.seq);
      event = live[0]!;
    }
    if (event.seq < this.nextSeq) {
      // Delivered already, from the log.
      live.shift();
      return true;
    }
    if (event.seq === this.nextSeq) {
      live.shift();
      this.closeGap();
      await this.admit(event);
      return true;
    }
    // Ahead of what we have: an earlier event's publish is late or lost. It
    // is committed, so after a moment's wait for it, it is read from the log.
    if (!this.gap) {
      this.need = { mark: logPagesOf(this.rt).mark(), upTo: event.seq - 1 };
      const { stream } = this;
      const waiting = {
        due: false,
        // Not cleared when the stream closes: it only wakes the stream (a no-op then), and holds it for at most this long.
        timer: setTimeout(() => {
          waiting.due = true;
          stream.signal();
        }, GAP_GRACE_MS).unref(),
      };
      this.gap = waiting;
      return false;
    }
    if (!this.gap.due) return false;
    // `need` is still what the gap called for when it was found.
    this.closeGap();
    this.replaying = true;
    return true;
  }
}
