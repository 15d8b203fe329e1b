import { DomainError, forbidden, unauthenticated } from '../errors.ts';
import { MAX_PENDING_EVENTS, SlowSubscriberError, topics, type Listening, type Topic } from '../pubsub.ts';
import { assertSessionActive, type Viewer } from './auth.ts';
import { perRuntime, type Runtime } from '../runtime.ts';

type Entry<T> = { value: T } | { error: Error };

/**
 * The pull side of every Parley subscription. Listeners `push` items (or an
 * error that ends the stream after the items before it); `fail` ends it at
 * once, delivering nothing more. When nothing is ready, `pump` (if given) may
 * produce items, e.g. pages read from the database; it returns whether it did
 * any work. Closing releases the listenings, whoever closes.
 */
export class EventStream<T> implements AsyncIterableIterator<T> {
  private readonly entries: Entry<T>[] = [];
  private failure: Error | null = null;
  private finished = false;
  private wake: (() => void) | null = null;
  private readonly listenings: Listening[] = [];

  constructor(private readonly pump?: () => Promise<boolean>) {}

  /** Keeps a listening open for as long as the stream is. */
  own(listening: Listening): Listening {
    if (this.finished) void listening.close();
    else this.listenings.push(listening);
    return listening;
  }

  /** Resolves when every owned listening receives its topic. */
  async ready(): Promise<void> {
    await Promise.all(this.listenings.map((l) => l.ready));
  }

  get closed(): boolean {
    return this.finished;
  }

  /** False once the stream is closed or failed: nothing more may be delivered from it. */
  get live(): boolean {
    return !this.finished && !this.failure;
  }

  /** Queues an item; a consumer more than {@link MAX_PENDING_EVENTS} behind is cut off (it resumes with a cursor). */
  push(value: T): void {
    if (this.finished || this.failure) return;
    if (this.entries.length >= MAX_PENDING_EVENTS) return this.fail(new SlowSubscriberError());
    this.entries.push({ value });
    this.signal();
  }

  /** Ends the stream with `error` once the items pushed before it are delivered. */
  endWith(error: Error): void {
    if (this.finished) return;
    this.entries.push({ error });
    this.signal();
  }

  /** Ends the stream with `error` now; nothing more is delivered. */
  fail(error: Error): void {
    this.failure ??= error;
    this.signal();
  }

  /** Wakes a waiting consumer, e.g. after feeding the pump. */
  signal(): void {
    this.wake?.();
  }

  get pending(): number {
    return this.entries.length;
  }

  async next(): Promise<IteratorResult<T>> {
    while (!this.finished) {
      if (this.failure) return this.close(this.failure);
      const entry = this.entries.shift();
      if (entry) return 'error' in entry ? this.close(entry.error) : { value: entry.value, done: false };
      if (this.pump && (await this.pump())) continue;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = null;
    }
    return { value: undefined, done: true };
  }

  async return(): Promise<IteratorResult<T>> {
    return this.close();
  }

  async throw(error?: unknown): Promise<IteratorResult<T>> {
    await this.close();
    throw error;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  private async close(error?: Error): Promise<IteratorResult<T>> {
    if (!this.finished) {
      this.finished = true;
      this.signal();
      this.entries.length = 0;
      await Promise.all(this.listenings.map((l) => l.close()));
    }
    if (error) throw error;
    return { value: undefined, done: true };
  }
}

/**
 * Ends `stream` when the viewer's session is revoked (logOut on any instance):
 * every stream of a viewer carries this guard. A revocation published while
 * pub/sub was down never arrives, so after an outage the session is checked
 * again. With `accessLost`, it also ends the stream with FORBIDDEN
 * (`accessLost.message`) when the viewer loses access: when their access in
 * a workspace shrinks (an ACCESS_CHANGED user event, from any instance),
 * `accessLost.recheck` runs again and a refusal ends the stream at once.
 */
export function endOnRevocation(
  rt: Runtime,
  stream: EventStream<unknown>,
  viewer: Viewer,
  accessLost?: { recheck: () => Promise<unknown>; message: string },
): Listening {
  return stream.own(
    sessionWatchOf(rt).watch(viewer, {
      revoked: () => stream.fail(unauthenticated('Your session was revoked; log in again.')),
      accessChanged: accessLost && (() => recheckAccess(rt, stream, accessLost.recheck, accessLost.message)),
    }),
  );
}

/** What a stream hears from its viewer's topic. */
interface WatchHandlers {
  /** The viewer's session (or all their sessions) was revoked. */
  revoked?: () => void;
  /** The viewer's access in a workspace shrank (ACCESS_CHANGED). */
  accessChanged?: () => void;
}

interface Watcher extends WatchHandlers {
  sessionId: string;
}

/**
 * One listening on a user's topic for every open stream of that user on this
 * instance: a stream costs an entry in a set, not a listener of its own, and
 * an event on the user's topic (an inbox change, say) is looked at once, not
 * once per stream. It carries revocations and access changes.
 */
class SessionWatch {
  private readonly users = new Map<string, { listening: Listening; watchers: Set<Watcher> }>();

  constructor(private readonly rt: Runtime) {}

  watch(viewer: Viewer, handlers: WatchHandlers): Listening {
    const { userId } = viewer;
    let entry = this.users.get(userId);
    if (!entry) {
      const watchers = new Set<Watcher>();
      const listening = this.rt.pubsub.listen(
        topics.user(userId),
        (event) => {
          if (event.type === 'SESSION_REVOKED') {
            for (const w of watchers) if (event.sessionId === null || event.sessionId === w.sessionId) w.revoked?.();
          } else if (event.type === 'ACCESS_CHANGED') {
            for (const w of watchers) w.accessChanged?.();
          }
        },
        { onResubscribed: () => this.recheck(userId, watchers) },
      );
      entry = { listening, watchers };
      this.users.set(userId, entry);
    }
    // Built field by field, not spread: an object every stream keeps stays compact.
    const watcher: Watcher = { sessionId: viewer.sessionId, revoked: handlers.revoked, accessChanged: handlers.accessChanged };
    const { listening, watchers } = entry;
    watchers.add(watcher);
    let closed = false;
    return {
      ready: listening.ready,
      close: async () => {
        if (closed) return;
        closed = true;
        watchers.delete(watcher);
        if (watchers.size > 0 || this.users.get(userId)?.watchers !== watchers) return;
        this.users.delete(userId);
        await listening.close();
      },
    };
  }

  /** After an outage: each watched session is checked again, once. */
  private recheck(userId: string, watchers: Set<Watcher>): void {
    const sessions = new Set([...watchers].filter((w) => w.revoked).map((w) => w.sessionId));
    for (const sessionId of sessions) {
      assertSessionActive(this.rt, sessionId, userId).catch((error: unknown) => {
        // Only a refusal ends the streams; a database that does not answer is no news about the session.
        if (!(error instanceof DomainError)) return this.rt.log('warn', 'could not check a session after pub/sub reconnected', error);
        for (const w of watchers) if (w.sessionId === sessionId) w.revoked?.();
      });
    }
  }
}

/** The app's session watch (one per runtime). */
const sessionWatchOf = perRuntime((rt) => new SessionWatch(rt));

/** Runs `recheck`; a refusal ends the stream with FORBIDDEN, a database failure is logged. */
export function recheckAccess(rt: Runtime, stream: EventStream<unknown>, recheck: () => Promise<unknown>, message: string): void {
  recheck().catch((error: unknown) => {
    if (error instanceof DomainError) stream.fail(forbidden(message));
    else rt.log('warn', 'could not check access again after it changed', error);
  });
}

/** A topic whose events may end a stream: `check` returns the error to end it with, or null. */
export interface StreamGuard {
  listen(fail: (error: Error) => void): Listening;
}

/** Ends the stream with `check`'s error when an event of `topic` calls for it (the check may load data). */
export function guard<T>(rt: Runtime, topic: Topic<T>, check: (payload: T) => Error | null | Promise<Error | null>): StreamGuard {
  return {
    listen: (fail) =>
      rt.pubsub.listen(topic, (payload) => {
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
  /** Runs `authorize` again when the viewer's workspace access shrinks, ending the stream with this message if it refuses. */
  accessLost?: string;
}

/**
 * A live stream of one topic for one viewer, for events that are not kept
 * (typing, presence): it listens first, then checks access, and ends with an
 * error as soon as the viewer loses the right to it — their session revoked
 * (UNAUTHENTICATED) or a guard's condition.
 */
export async function streamForViewer<T>(rt: Runtime, 
  viewer: Viewer,
  topic: Topic<T>,
  options: LiveStreamOptions<T>,
): Promise<AsyncIterableIterator<T>> {
  const stream = new EventStream<T>();
  stream.own(
    rt.pubsub.listen(topic, (payload) => {
      if (options.filter && !options.filter(payload)) return;
      stream.push(payload);
    }),
  );
  endOnRevocation(rt, stream, viewer, options.accessLost ? { recheck: options.authorize, message: options.accessLost } : undefined);
  for (const g of options.guards ?? []) stream.own(g.listen((error) => stream.fail(error)));
  try {
    await options.authorize();
    await stream.ready();
  } catch (error) {
    await stream.return();
    throw error;
  }
  return stream;
}
