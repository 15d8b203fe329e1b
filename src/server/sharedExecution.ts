import {
  createSourceEventStream,
  execute,
  GraphQLError,
  type ExecutionArgs,
  type ExecutionResult,
} from 'graphql';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { Context } from '../context.ts';
import { eventBatch } from '../schema/batch.ts';
import { boundLog, type Log } from '../log.ts';
import { maskError } from './errors.ts';

/** What onSubscribe leaves for {@link subscribeShared} in `rootValue`. */
export interface SharedSubscription {
  socket: WebSocket;
  /** The graphql-ws subscription id. */
  id: string;
  /** Document, operation name and variables: subscribers with the same key may share a result. */
  shareKey: string;
  /** The app's log: what is written about this subscription names its socket and id. */
  appLog: Log;
  /** The socket's id in log lines. */
  socketLogId: string | null;
}

/** The log of one subscription, built when an error needs it: a subscription that never fails holds no logger of its own. */
const logOf = (shared: SharedSubscription): Log =>
  boundLog(shared.appLog, { socketId: shared.socketLogId ?? undefined, subscriptionId: shared.id });

/** One event's execution: its serialised result, and whose it is when it read the viewer. */
interface Executed {
  json: string;
  /** null when the execution never read the viewer: every subscriber with the same shareKey may use it. */
  viewerId: string | null;
}

/**
 * Executions per published event. Pub/sub hands one payload object to every
 * local listener of a topic, so keying by that object groups exactly the
 * subscribers that receive the same event on this instance. Entries live as
 * long as the payload does.
 */
const executions = new WeakMap<object, Map<string, Promise<Executed>>>();

/**
 * graphql-ws's `subscribe`: opens the subscription's source stream (the root
 * field's `subscribe`, with its access checks), then, for each event the
 * subscriber's own stream lets through, writes one `next` frame to the socket.
 *
 * Subscribers of one event whose document, operation and variables are the
 * same share one execution and one serialised result; the frame around it
 * only adds the subscription id. Authorization stays per subscriber: each
 * stream decides what reaches it and ends when its viewer may no longer read
 * (left, removed, session revoked). An execution that reads the viewer (a
 * viewer-dependent field such as `reactedByMe`, `unreadCount` or `email`) is
 * used only for that viewer; the others execute their own.
 */
export async function subscribeShared(args: ExecutionArgs): Promise<AsyncIterableIterator<never> | ExecutionResult> {
  const shared = args.rootValue as SharedSubscription;
  const mask = (error: unknown) => maskError(logOf(shared))(error);
  let source: AsyncIterableIterator<unknown> | ExecutionResult;
  const { metrics } = (args.contextValue as Context).rt;
  metrics.subscriptionStarting(1);
  try {
    // A context of its own for the subscribe step: what plugins cache per context (scope checks) goes with it, not with the socket.
    const contextValue = { ...(args.contextValue as Context) };
    source = (await createSourceEventStream({ ...args, contextValue, rootValue: undefined })) as AsyncIterableIterator<unknown> | ExecutionResult;
  } catch (error) {
    return { errors: [mask(error) as GraphQLError] };
  } finally {
    metrics.subscriptionStarting(-1);
  }
  if (!(Symbol.asyncIterator in source)) return { errors: source.errors?.map((e) => mask(e) as GraphQLError) };
  metrics.subscriptionOpened();
  return new SharedStream(args, source);
}

/**
 * What graphql-ws iterates for one subscription: it yields nothing, because
 * frames go straight to the socket, in order, before graphql-ws's own
 * `complete` or `error`. A class, not closures: thousands of idle
 * subscriptions each hold one object, not a dozen functions and their scope.
 */
class SharedStream implements AsyncIterableIterator<never> {
  private ended = false;
  private readonly base: Context;
  private readonly shared: SharedSubscription;
  /** '' stands for "no viewer": still a viewer, as far as sharing goes. */
  private readonly viewerId: string;

  constructor(
    private readonly args: ExecutionArgs,
    private readonly events: AsyncIterableIterator<unknown>,
  ) {
    this.base = args.contextValue as Context;
    this.shared = args.rootValue as SharedSubscription;
    this.viewerId = this.base.viewer?.userId ?? '';
  }

  async next(): Promise<IteratorResult<never>> {
    const { events, shared } = this;
    const { socket } = shared;
    while (!this.ended) {
      // try/catch, not .catch(): an idle subscription waits on one promise less.
      let step: IteratorResult<unknown>;
      try {
        step = await events.next();
      } catch (error) {
        throw this.mask(error);
      }
      const { value, done } = step;
      if (done || this.ended) break;
      const json = await this.frameOf(value as object);
      if (this.ended || socket.readyState !== socket.OPEN) break;
      // Failed while this event executed (session revoked, access lost): end with the stream's error, not quietly.
      if (!isLive(events)) {
        try {
          await events.next();
        } catch (error) {
          throw this.mask(error);
        }
        break;
      }
      this.base.rt.metrics.delivered(value);
      corkUntilIdle(socket);
      const frame = `{"id":${JSON.stringify(shared.id)},"type":"next","payload":${json}}`;
      if (socket.bufferedAmount < WRITE_HIGH_WATER) socket.send(frame);
      // A reader that is behind: waiting for the write keeps its backlog in
      // its stream, which pages from the log (or cuts it off), not here.
      else await new Promise<void>((resolve) => socket.send(frame, () => resolve()));
    }
    return this.return();
  }

  async return(): Promise<IteratorResult<never>> {
    if (!this.ended) this.base.rt.metrics.subscriptionClosed();
    this.ended = true;
    await this.events.return?.();
    return { value: undefined, done: true };
  }

  async throw(error: unknown): Promise<IteratorResult<never>> {
    await this.return();
    throw error;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<never> {
    return this;
  }

  private mask(error: unknown): Error {
    return maskError(logOf(this.shared))(error);
  }

  /** The event's result for this subscriber: shared with every subscriber of the same operation, unless it read the viewer. */
  private async frameOf(payload: object): Promise<string> {
    const { shareKey } = this.shared;
    let byKey = executions.get(payload);
    if (!byKey) executions.set(payload, (byKey = new Map()));
    const first = byKey.get(shareKey);
    if (first) {
      const done = await first;
      if (done.viewerId === null || done.viewerId === this.viewerId) return done.json;
    }
    const key = first ? `${shareKey}\0${this.viewerId}` : shareKey;
    let mine = byKey.get(key);
    if (!mine) {
      mine = executeEvent(this.args, this.base, payload, (error) => this.mask(error));
      byKey.set(key, mine);
    }
    return (await mine).json;
  }
}

/** Unsent bytes on a socket past which each frame waits for its write. */
const WRITE_HIGH_WATER = 256 * 1024;

/**
 * Holds a socket's writes until the event loop next goes idle, so frames
 * produced together (a replayed page, a burst of events) leave in one write
 * instead of a system call each. Writing a frame alone costs no more: it
 * leaves at the end of the same turn.
 */
function corkUntilIdle(socket: WebSocket): void {
  const raw = (socket as unknown as { _socket?: Socket })._socket;
  if (!raw || corked.has(raw)) return;
  corked.add(raw);
  raw.cork();
  // One wake-up per turn for every socket corked in it, not one per socket.
  if (corked.size === 1) setImmediate(uncorkAll);
}
const corked = new Set<Socket>();
function uncorkAll(): void {
  for (const raw of corked) raw.uncork();
  corked.clear();
}

/** Whether a stream can still deliver (one that was failed, e.g. by a revoked session, cannot). */
function isLive(events: AsyncIterableIterator<unknown>): boolean {
  const live = (events as { live?: boolean }).live;
  return live === undefined || live;
}

async function executeEvent(
  args: ExecutionArgs,
  base: Context,
  payload: object,
  mask: (error: unknown) => Error,
): Promise<Executed> {
  let viewerRead = false;
  base.rt.metrics.eventExecutions.inc();
  // A fresh context per execution: it notices whether anything reads the
  // viewer, and its batch is the event's, shared with the other subscribers.
  const contextValue: Context = {
    rt: base.rt,
    authError: base.authError,
    connectedAt: base.connectedAt,
    address: base.address,
    batch: eventBatch(payload),
    get viewer() {
      viewerRead = true;
      return base.viewer;
    },
  };
  const result = (await execute({ ...args, rootValue: payload, contextValue })) as ExecutionResult;
  const body = result.errors ? { ...result, errors: result.errors.map((e) => mask(e)) } : result;
  return { json: JSON.stringify(body), viewerId: viewerRead ? (base.viewer?.userId ?? '') : null };
}
