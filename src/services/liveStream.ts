import { unauthenticated } from '../errors.ts';
import { MAX_PENDING_EVENTS, pubsub, SlowSubscriberError, topics, type Listening, type Topic } from '../pubsub.ts';
import type { Viewer } from './auth.ts';

/** A topic whose events may end a stream: `check` returns the error to end it with, or null. */
export interface StreamGuard {
  listen(fail: (error: Error) => void): Listening;
}

/** Ends the stream with `check`'s error when an event of `topic` calls for it (the check may load data). */
export function guard<T>(topic: Topic<T>, check: (payload: T) => Error | null | Promise<Error | null>): StreamGuard {
  return {
    listen: (fail) =>
      pubsub.listen(topic, (payload) => {
        void Promise.resolve()
          .then(() => check(payload))
          .then((error) => error && fail(error), fail);
      }),
  };
}

export interface LiveStreamOptions<T> {
  /** Which payloads reach the viewer. */
  filter?: (payload: T) => boolean;
  /** The access check; it runs after listening has started, so nothing published meanwhile is missed. */
  authorize: () => Promise<unknown>;
  /** Further reasons to end the stream (the viewer's session being revoked is always one). */
  guards?: StreamGuard[];
}

/**
 * A live stream of one topic for one viewer, for events that are not kept
 * (typing, presence): it listens first, then checks access, and ends with an
 * error as soon as the viewer loses the right to it — their session revoked
 * (UNAUTHENTICATED) or a guard's condition.
 */
export async function streamForViewer<T>(
  viewer: Viewer,
  topic: Topic<T>,
  options: LiveStreamOptions<T>,
): Promise<AsyncIterableIterator<T>> {
  const queue: T[] = [];
  let failure: Error | null = null;
  let finished = false;
  let wake: (() => void) | null = null;
  const fail = (error: Error) => {
    failure ??= error;
    wake?.();
  };

  const sessionRevoked = guard(topics.user(viewer.userId), (event) =>
    event.type === 'SESSION_REVOKED' && (event.sessionId === null || event.sessionId === viewer.sessionId)
      ? unauthenticated('Your session was revoked; log in again.')
      : null,
  );
  const listenings: Listening[] = [
    pubsub.listen(topic, (payload) => {
      if (finished || failure || (options.filter && !options.filter(payload))) return;
      if (queue.length >= MAX_PENDING_EVENTS) fail(new SlowSubscriberError());
      else queue.push(payload);
      wake?.();
    }),
    ...[sessionRevoked, ...(options.guards ?? [])].map((g) => g.listen(fail)),
  ];
  const close = async () => {
    if (finished) return;
    finished = true;
    wake?.();
    await Promise.all(listenings.map((l) => l.close()));
  };

  try {
    await options.authorize();
    await Promise.all(listenings.map((l) => l.ready));
  } catch (error) {
    await close();
    throw error;
  }

  const iterator: AsyncIterableIterator<T> = {
    [Symbol.asyncIterator]: () => iterator,
    async next() {
      while (!finished) {
        // Losing access ends the stream at once: nothing queued is delivered after it.
        if (failure) {
          const error = failure;
          await close();
          throw error;
        }
        if (queue.length > 0) return { value: queue.shift()!, done: false };
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
      return { value: undefined, done: true };
    },
    async return() {
      await close();
      return { value: undefined, done: true };
    },
    async throw(error?: unknown) {
      await close();
      throw error;
    },
  };
  return iterator;
}
