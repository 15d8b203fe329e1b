import { Redis } from 'ioredis';
import { forbidden } from '../errors.ts';
import { pubsub, topics, type TypingPayload } from '../pubsub.ts';
import { requireReadableChannel } from './access.ts';
import type { Viewer } from './auth.ts';
import { guard, streamForViewer } from './liveStream.ts';

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
interface TypingThrottle {
  /** Opens the user's window for the channel; false when one was already open. */
  take(userId: string, channelId: string): Promise<boolean>;
  close(): Promise<void>;
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
  async close() {}
}

/** Shared by all instances, so a user typing on two devices is still throttled as one. */
class RedisThrottle implements TypingThrottle {
  private readonly redis: Redis;
  // Windows this instance opened: repeated calls here need no round trip.
  private readonly windows = new LocalWindows();

  constructor(url: string, private readonly prefix: string) {
    this.redis = new Redis(url, { maxRetriesPerRequest: 3 });
    this.redis.on('error', () => {});
  }

  async take(userId: string, channelId: string) {
    const key = `${userId}:${channelId}`;
    const now = Date.now();
    if (this.windows.isOpen(key, now)) return false;
    const opened = await this.redis.set(`${this.prefix}typing:${key}`, '1', 'PX', TYPING_THROTTLE_MS, 'NX');
    if (opened !== 'OK') return false;
    this.windows.open(key, now);
    return true;
  }

  async close() {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

let throttle: TypingThrottle = new MemoryThrottle();

/** Sets up typing for this instance: its throttle lives in Redis when `redisUrl` is set. */
export function startTyping(options: { redisUrl?: string; redisKeyPrefix: string }): { stop(): Promise<void> } {
  const started = options.redisUrl ? new RedisThrottle(options.redisUrl, options.redisKeyPrefix) : new MemoryThrottle();
  throttle = started;
  return {
    stop: async () => {
      if (throttle === started) throttle = new MemoryThrottle();
      await started.close();
    },
  };
}

/**
 * Tells the channel's other members that the viewer is typing. Channel
 * members only: NOT_FOUND for a channel the viewer cannot read, FORBIDDEN for
 * a public one they have not joined. Throttled per user and channel (calls
 * within {@link TYPING_THROTTLE_MS} succeed without publishing again); never stored.
 */
export async function setTyping(viewer: Viewer, channelId: string): Promise<boolean> {
  const { isMember } = await requireReadableChannel(viewer, channelId);
  if (!isMember) throw forbidden('Join the channel before typing in it.');
  if (!(await throttle.take(viewer.userId, channelId))) return true;
  const expiresAt = new Date(Date.now() + TYPING_EXPIRES_MS).toISOString();
  await pubsub.publish(topics.typing(channelId), { channelId, userId: viewer.userId, expiresAt });
  return true;
}

/**
 * Who else is typing in a channel the viewer may read (NOT_FOUND otherwise);
 * the viewer's own typing is left out. Ends when the viewer can no longer
 * read the channel or their session is revoked.
 */
export function streamTyping(viewer: Viewer, channelId: string): Promise<AsyncIterableIterator<TypingPayload>> {
  const stillReadable = () =>
    requireReadableChannel(viewer, channelId).then(
      () => null,
      () => forbidden('You can no longer read this channel; its typing events no longer reach you.'),
    );
  return streamForViewer(viewer, topics.typing(channelId), {
    // An event that expired on its way (a slow subscriber) is no longer true.
    filter: (event) => event.userId !== viewer.userId && Date.parse(event.expiresAt) > Date.now(),
    authorize: () => requireReadableChannel(viewer, channelId),
    guards: [
      guard(topics.channel(channelId), (event) =>
        event.type === 'MEMBER_LEFT' && event.userId === viewer.userId ? stillReadable() : null,
      ),
      guard(topics.user(viewer.userId), (event) =>
        event.type === 'CHANNEL_REMOVED' && event.channelId === channelId ? stillReadable() : null,
      ),
    ],
  });
}
