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
import type { Log } from '../log.ts';
import { maskError } from './errors.ts';

/** What onSubscribe leaves for {@link subscribeShared} in `rootValue`. */
export interface SharedSubscription {
  socket: WebSocket;
  /** The graphql-ws subscription id. */
  id: string;
  /** Document, operation name and variables: subscribers with the same key may share a result. */
  shareKey: string;
  log: Log;
}

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
  // Built when an error needs it: a subscription that never fails holds no logger of its own.
  const mask = (error: unknown) => maskError(shared.log)(error);
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
  const events = source;
  const base = args.contextValue as Context;
  // '' stands for "no viewer": still a viewer, as far as sharing goes.
  const viewerId = base.viewer?.userId ?? '';

  const frameOf = async (payload: object): Promise<string> => {
    let byKey = executions.get(payload);
    if (!byKey) executions.set(payload, (byKey = new Map()));
    const first = byKey.get(shared.shareKey);
    if (first) {
      const done = await first;
      if (done.viewerId === null || done.viewerId === viewerId) return done.json;
    }
    const key = first ? `${shared.shareKey}\0${viewerId}` : shared.shareKey;
    let mine = byKey.get(key);
    if (!mine) {
      mine = executeEvent(args, base, payload, mask);
      byKey.set(key, mine);
    }
    return (await mine).json;
  };

  const prefix = `{"id":${JSON.stringify(shared.id)},"type":"next","payload":`;
  const { socket } = shared;
  let ended = false;
  metrics.subscriptionOpened();
  const end = async (): Promise<IteratorResult<never>> => {
    if (!ended) metrics.subscriptionClosed();
    ended = true;
    await events.return?.();
    return { value: undefined, done: true };
  };

  const iterator: AsyncIterableIterator<never> = {
    // graphql-ws iterates this and gets nothing: frames go straight to the
    // socket, in order, before graphql-ws's own `complete` or `error`.
    async next() {
      while (!ended) {
        const { value, done } = await events.next().catch((error: unknown) => {
          throw mask(error);
        });
        if (done || ended) break;
        const json = await frameOf(value as object);
        if (ended || socket.readyState !== socket.OPEN) break;
        // Failed while this event executed (session revoked, access lost): end with the stream's error, not quietly.
        if (!isLive(events)) {
          await events.next().catch((error: unknown) => {
            throw mask(error);
          });
          break;
        }
        metrics.delivered(value);
        corkUntilIdle(socket);
        if (socket.bufferedAmount < WRITE_HIGH_WATER) socket.send(prefix + json + '}');
        // A reader that is behind: waiting for the write keeps its backlog in
        // its stream, which pages from the log (or cuts it off), not here.
        else await new Promise<void>((resolve) => socket.send(prefix + json + '}', () => resolve()));
      }
      return end();
    },
    return: end,
    async throw(error: unknown) {
      await end();
      throw error;
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
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
