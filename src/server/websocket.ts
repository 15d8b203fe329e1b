import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { performance } from 'node:perf_hooks';
import { getOperationAST, GraphQLError, type ExecutionArgs } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { clientAddress, type Context } from '../context.ts';
import { rateLimited } from '../security/rateLimits.ts';
import { DomainError } from '../errors.ts';
import { withLogFields } from '../log.ts';
import type { Runtime } from '../runtime.ts';
import { authenticate } from '../services/auth.ts';
import { codeOf, isGraphQLErrorLike } from './errors.ts';
import { operationLabels, secondsSince } from './metrics.ts';
import { persistedOperationsOf, type OperationParams } from './persisted.ts';
import { subscribeShared, type SharedSubscription } from './sharedExecution.ts';
import type { ParleyYoga } from './yoga.ts';

/** Closes a socket refused by a limit; graphql-ws clients do not retry it at once. */
const TOO_MANY = 4429;

interface SocketState {
  id: number;
  /** Names the socket in every log line about its operations. */
  logId: string;
  address: string;
  connectedAt: number;
  /** Closes a socket that has no token and does nothing; cleared once a token is accepted. */
  idle: NodeJS.Timeout | null;
  /** Who signed in on this socket (counted per user), once a token is accepted. */
  userId: string | null;
  /** Ends the socket's presence, once counted. */
  leave: (() => void) | null;
}

/** Open sockets per key (address or user) on this instance. */
class Counter {
  private readonly counts = new Map<string, number>();
  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  remove(key: string): void {
    const left = (this.counts.get(key) ?? 1) - 1;
    if (left > 0) this.counts.set(key, left);
    else this.counts.delete(key);
  }
  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }
}

/**
 * graphql-ws on the HTTP server's /graphql path. Connecting checks the token
 * (a bad one closes with 4401) and counts the socket for presence; each
 * subscription goes through Yoga's envelope (the same context factory and
 * document checks as HTTP) and is fanned out by {@link subscribeShared}.
 */
export function attachGraphqlWs(rt: Runtime, yoga: ParleyYoga, server: http.Server): { dispose(): Promise<void> } {
  const limits = rt.config.websocket;
  const capped = rt.config.rateLimits.enabled;
  const wss = new WebSocketServer({ server, path: '/graphql', maxPayload: limits.maxPayloadBytes });
  const sockets = new WeakMap<WebSocket, SocketState>();
  const perAddress = new Counter();
  const perUser = new Counter();
  let nextSocketId = 1;
  const intern = interner(10_000);
  const inSocketScope = <T>(socket: WebSocket, fn: () => T) => withLogFields({ socketId: sockets.get(socket)?.logId }, fn);

  /** A client that sends but never reads: its answers would pile up here without bound. */
  const closeIfBacklogged = (socket: WebSocket) => {
    if (socket.bufferedAmount > limits.maxBufferedBytes && socket.readyState === socket.OPEN) {
      rt.metrics.slowReadersClosed.inc();
      socket.close(1013, 'Too slow: read your messages, then reconnect (resume subscriptions with a cursor)');
    }
  };

  // Handlers shared by every socket (`this` is the socket): an idle socket holds no closures of its own.
  function onClose(this: WebSocket) {
    const state = sockets.get(this);
    if (!state) return;
    rt.metrics.activeSockets.dec();
    perAddress.remove(state.address);
    if (state.idle) clearTimeout(state.idle);
    if (state.userId) perUser.remove(state.userId);
    state.leave?.();
  }
  function onMessage(this: WebSocket) {
    const state = sockets.get(this);
    if (state?.idle) state.idle.refresh();
    closeIfBacklogged(this);
  }
  const closeIdle = (socket: WebSocket) => socket.close(1000, 'Closed: idle without a token');

  wss.on('connection', (socket, request) => {
    const address = clientAddress(rt, request.socket.remoteAddress, request.headers['x-forwarded-for']) ?? 'unknown';
    const state: SocketState = { id: nextSocketId++, logId: flatUUID(), address, connectedAt: Date.now(), idle: null, userId: null, leave: null };
    sockets.set(socket, state);
    perAddress.add(address);
    rt.metrics.activeSockets.inc();
    // One close handler for everything the socket counts in.
    socket.once('close', onClose);
    if (capped && perAddress.count(address) > limits.maxSocketsPerAddress) {
      socket.close(TOO_MANY, 'Too many connections from this address');
      return;
    }
    if (capped) {
      rt.limits.consume('connectIp', address).catch((error: unknown) => {
        socket.close(TOO_MANY, error instanceof Error ? error.message.slice(0, 120) : 'Too many connections');
      });
    }
    // Until a token arrives, a socket may only sit idle for so long.
    state.idle = setTimeout(closeIdle, limits.anonymousIdleMs, socket);
    socket.on('message', onMessage);
  });

  const graphqlWs = useServer<Record<string, unknown>, { request: http.IncomingMessage }>(
    {
      execute: (args) => {
        const root = args.rootValue as SharedSubscription & { execute: (a: ExecutionArgs) => unknown };
        return inSocketScope(root.socket, () => root.execute(args)) as never;
      },
      subscribe: async (args) => {
        const start = performance.now();
        const result = await inSocketScope((args.rootValue as SharedSubscription).socket, () => subscribeShared(args));
        rt.metrics.operationDuration.observe(operationLabels(rt.metrics, args.document, args.operationName), secondsSince(start));
        return result as never;
      },
      onConnect: (ctx) => inSocketScope(ctx.extra.socket, async () => {
        // The upgrade request was read when the socket opened (its address); holding it for the socket's life costs kilobytes.
        (ctx.extra as { request?: unknown }).request = undefined;
        const authorization = ctx.connectionParams?.authorization;
        if (authorization == null) return true;
        try {
          const viewer = await authenticate(rt, String(authorization));
          const { socket } = ctx.extra;
          // One that closed while its token was checked never counts (presence, sockets per user).
          if (socket.readyState !== socket.OPEN) return false;
          const state = sockets.get(socket);
          if (!state) return false;
          if (state.idle) clearTimeout(state.idle);
          state.idle = null;
          perUser.add(viewer.userId);
          state.userId = viewer.userId;
          if (capped && perUser.count(viewer.userId) > limits.maxSocketsPerUser) {
            socket.close(TOO_MANY, 'Too many connections for this account');
            return false;
          }
          state.leave = rt.presence.connect(viewer.userId);
          return true;
        } catch (error) {
          if (!(error instanceof DomainError)) throw error;
          // API.md: a bad token closes the socket with 4401.
          ctx.extra.socket.close(CloseCode.Unauthorized, error.message.slice(0, 120));
          return false;
        }
      }),
      // Before every answer of a query or mutation over the socket (subscription events are written by subscribeShared).
      onNext: (ctx, _id, _payload, _args, result) => {
        rt.metrics.countErrors(result.errors);
        closeIfBacklogged(ctx.extra.socket);
      },
      onError: (ctx, _id, _payload, errors) => {
        rt.metrics.countErrors(errors);
        closeIfBacklogged(ctx.extra.socket);
      },
      onSubscribe: (ctx, id, payload) => inSocketScope(ctx.extra.socket, async () => {
        const state = sockets.get(ctx.extra.socket);
        if (capped) {
          // graphql-ws has registered this operation already: it counts itself.
          if (Object.keys(ctx.subscriptions).length > limits.maxSubscriptionsPerSocket) {
            return [rateLimited(`At most ${limits.maxSubscriptionsPerSocket} operations may be open on one connection.`, 1)];
          }
          try {
            await rt.limits.consume('subscribe', String(state?.id));
          } catch (error) {
            if (error instanceof DomainError) return [error];
            throw error;
          }
        }
        // The same persisted operations as HTTP: a hash becomes its document, or refuses this operation.
        const resolved = persistedOperationsOf(rt).resolve(payload as OperationParams);
        if (resolved instanceof GraphQLError) return [resolved];
        // graphql-ws keeps this payload for the operation's life: many sockets running one document share one copy of it.
        const query = intern(resolved);
        (payload as { query: string }).query = query;
        const authorization = operationAuthorization(payload.extensions) ?? ctx.connectionParams?.authorization;
        // One auth path for HTTP and WebSocket: the same context factory,
        // run (and the session re-checked) for every subscription.
        const { schema, execute, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          socket: ctx.extra.socket,
          params: payload,
          authorization: authorization == null ? null : String(authorization),
          connectedAt: state?.connectedAt,
          address: state?.address ?? null,
        });
        let document;
        try {
          // A bad document ends this subscription only, not the socket (and every other subscription on it).
          document = parse(payload.query);
          const errors = validate(schema, document);
          if (errors.length) {
            return errors.map((e: GraphQLError) =>
              e.extensions?.code ? e : new GraphQLError(e.message, { nodes: e.nodes, extensions: { code: 'BAD_USER_INPUT' } }),
            );
          }
        } catch (error) {
          if (!isGraphQLErrorLike(error)) throw error;
          return [new GraphQLError(error.message, { extensions: { ...error.extensions, code: codeOf(error) ?? 'BAD_USER_INPUT' } })];
        }
        const subscription = getOperationAST(document, payload.operationName)?.operation === 'subscription';
        const shared: SharedSubscription & { execute?: unknown } = {
          // Queries and mutations run through Yoga's envelope; subscription events are executed by subscribeShared.
          execute: subscription ? undefined : execute,
          socket: ctx.extra.socket,
          id,
          shareKey: intern(`${payload.operationName ?? ''}\0${JSON.stringify(payload.variables ?? {})}\0${query}`),
          appLog: rt.log,
          socketLogId: state?.logId ?? null,
        };
        const enveloped = await contextFactory();
        // An operation signed in by its own header (GraphiQL's) keeps an otherwise anonymous socket open.
        if (enveloped.viewer && state?.idle) {
          clearTimeout(state.idle);
          state.idle = null;
        }
        // A subscription lives as long as its socket: it keeps Parley's own context, not Yoga's envelope around it.
        const contextValue: Context = subscription
          ? {
              rt: enveloped.rt,
              viewer: enveloped.viewer,
              authError: enveloped.authError,
              connectedAt: enveloped.connectedAt,
              address: enveloped.address,
              batch: enveloped.batch,
            }
          : enveloped;
        return {
          schema,
          operationName: payload.operationName,
          document,
          variableValues: payload.variables,
          contextValue,
          rootValue: shared,
        } satisfies ExecutionArgs;
      }),
    },
    wss,
  );

  return {
    async dispose() {
      // graphql-ws closes every socket with 1001 (going away).
      await graphqlWs.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/**
 * The `Authorization` an operation carries itself: GraphiQL sends its Headers
 * pane with every subscribe message as `extensions.headers`, not in
 * connectionParams. The key is case-insensitive, as an HTTP header's is; when
 * present it wins over the connection's token, for this operation only.
 */
export function operationAuthorization(extensions: unknown): string | undefined {
  const headers = (extensions as { headers?: unknown } | null | undefined)?.headers;
  if (headers == null || typeof headers !== 'object' || Array.isArray(headers)) return undefined;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === 'authorization' && typeof value === 'string') return value;
  }
  return undefined;
}

/**
 * One copy of each document and share key that open subscriptions hold:
 * thousands of clients running the same operation would otherwise each keep
 * their own. Bounded: past `max` distinct strings it starts over.
 */
function interner(max: number): (text: string) => string {
  const kept = new Map<string, string>();
  return (text) => {
    let copy = kept.get(text);
    if (copy === undefined) {
      if (kept.size >= max) kept.clear();
      // A flat copy: a key built by concatenation would otherwise keep its parts.
      copy = Buffer.from(text, 'utf8').toString('utf8');
      kept.set(copy, copy);
    }
    return copy;
  };
}

/** randomUUID's result is a rope of short strings; a flat copy of it costs a tenth of the memory each socket keeps. */
const flatUUID = (): string => Buffer.from(randomUUID(), 'latin1').toString('latin1');
