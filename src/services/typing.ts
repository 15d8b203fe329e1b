import type { Redis } from 'ioredis';
import { forbidden } from '../errors.ts';
import type { Log } from '../log.ts';
import { topics, type TypingPayload } from '../pubsub.ts';
import { assertNotArchived, requireReadableChannel } from './access.ts';
import type { Viewer } from './auth.ts';
import { guard, streamForViewer } from './liveStream.ts';
import type { Runtime } from '../runtime.ts';

/** A user's typing in a channel is published at most once per this window; more calls are absorbed. */
export const TYPING_THROTTLE_MS = 3_000;

/**
 * How long a typing event stays valid. Longer than the throttle window, so
 * that someone who keeps typing (and calling setTyping) shows continuously.
 */
export const TYPING_EXPIRES_MS = 6_000;

/**
 * Open windows, in the order they end: every window has the same length, so
 * the oldest entries are the first to expire and pruning stops at the first live one.
 */
class LocalWindows {
  private readonly ends = new Map<string, number>();

  isOpen(key: string, now: number): boolean {
    return (this.ends.get(key) ?? 0) > now;
  }

  open(key: string, now: number): void {
    for (const [oldKey, end] of this.ends) {
      if (end > now) break;
      this.ends.delete(oldKey);
    }
    this.ends.delete(key);
    this.ends.set(key, now + TYPING_THROTTLE_MS);
  }
}

/** Decides whether a user's typing in a channel is published now or absorbed. */
export interface TypingThrottle {
  /** Opens the user's window for the channel; false when one was already open. */
  take(userId: string, channelId: string): Promise<boolean>;
}

class MemoryThrottle implements TypingThrottle {
  private readonly windows = new LocalWindows();
  async take(userId: string, channelId: string) {
    const key = `${userId}:${channelId}`;
    const now = Date.now();
    if (this.windows.isOpen(key, now)) return false;
    this.windows.open(key, now);
    return true;
  }
}

/**
 * Shared by all instances, so a user typing on two devices is still throttled
 * as one. While Redis fails, each instance throttles on its own.
 */
class RedisThrottle implements TypingThrottle {
  // Windows this instance opened: repeated calls here need no round trip.
  private readonly windows = new LocalWindows();
  private failing = false;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly log: Log,
  ) {}

  async take(userId: string, channelId: string) {
    const key = `${userId}:${channelId}`;
    const now = Date.now();
    if (this.windows.isOpen(key, now)) return false;
    let opened: string | null;
    try {
      opened = await this.redis.set(`${this.prefix}typing:${key}`, '1', 'PX', TYPING_THROTTLE_MS, 'NX');
      if (this.failing) this.log('info', 'typing: the shared throttle answers again');
      this.failing = false;
    } catch (error) {
      if (!this.failing) this.log('warn', 'typing: the shared throttle is unreachable; throttling per instance', error);
      this.failing = true;
      opened = 'OK';
    }
    if (opened !== 'OK') return false;
    this.windows.open(key, now);
    return true;
  }
}

/** The typing throttle of one app: in Redis when there is one (shared by every instance), else in memory. */
export function createTypingThrottle(redis: Redis | null, prefix: string, log: Log): TypingThrottle {
  return redis ? new RedisThrottle(redis, prefix, log) : new MemoryThrottle();
}

/**
 * Tells the channel's other members that the viewer is typing. Channel
 * members only: NOT_FOUND for a channel the viewer cannot read, FORBIDDEN for
 * a public one they have not joined. Throttled per user and channel (calls
 * within {@link TYPING_THROTTLE_MS} succeed without publishing again); never stored.
 * Succeeds while Redis is unreachable (within its command timeout); the event is then lost.
 */
export async function setTyping(rt: Runtime, viewer: Viewer, channelId: string): Promise<boolean> {
  const { isMember, channel } = await requireReadableChannel(rt, viewer, channelId);
  if (!isMember) throw forbidden('Join the channel before typing in it.');
  assertNotArchived(channel);
  if (!(await rt.typing.take(viewer.userId, channelId))) return true;
  const expiresAt = new Date(Date.now() + TYPING_EXPIRES_MS).toISOString();
  try {
    await rt.pubsub.publish(topics.typing(channelId), { channelId, userId: viewer.userId, expiresAt });
  } catch (error) {
    // Typing is a hint that expires in seconds: the call succeeds, the hint is lost.
    rt.log('warn', `typing: publish to channel ${channelId} failed`, error);
  }
  return true;
}

/**
 * Who else is typing in a channel the viewer may read (NOT_FOUND otherwise);
 * the viewer's own typing is left out. Ends when the viewer can no longer
 * read the channel or their session is revoked.
 */
export function streamTyping(rt: Runtime, viewer: Viewer, channelId: string): Promise<AsyncIterableIterator<TypingPayload>> {
  const stillReadable = () =>
    requireReadableChannel(rt, viewer, channelId).then(
      () => null,
      () => forbidden('You can no longer read this channel; its typing events no longer reach you.'),
    );
  return streamForViewer(rt, viewer, topics.typing(channelId), {
    // An event that expired on its way (a slow subscriber) is no longer true.
    filter: (event) => event.userId !== viewer.userId && Date.parse(event.expiresAt) > Date.now(),
    authorize: () => requireReadableChannel(rt, viewer, channelId),
    accessLost: 'You can no longer read this channel; its typing events no longer reach you.',
    guards: [
      guard(rt, topics.channel(channelId), (event) =>
        (event.type === 'MEMBER_LEFT' && event.userId === viewer.userId) || event.type === 'CHANNEL_UPDATED' ? stillReadable() : null,
      ),
      guard(rt, topics.user(viewer.userId), (event) =>
        event.type === 'CHANNEL_REMOVED' && event.channelId === channelId ? stillReadable() : null,
      ),
    ],
  });
}
