import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { performance } from 'node:perf_hooks';
import { GraphQLError, type ExecutionArgs } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { clientAddress } from '../context.ts';
import { rateLimited } from '../security/rateLimits.ts';
import { DomainError } from '../errors.ts';
import { boundLog, withLogFields } from '../log.ts';
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
  const inSocketScope = <T>(socket: WebSocket, fn: () => T) => withLogFields({ socketId: sockets.get(socket)?.logId }, fn);

  /** A client that sends but never reads: its answers would pile up here without bound. */
  const closeIfBacklogged = (socket: WebSocket) => {
    if (socket.bufferedAmount > limits.maxBufferedBytes && socket.readyState === socket.OPEN) {
      rt.metrics.slowReadersClosed.inc();
      socket.close(1013, 'Too slow: read your messages, then reconnect (resume subscriptions with a cursor)');
    }
  };

  wss.on('connection', (socket, request) => {
    const address = clientAddress(rt, request.socket.remoteAddress, request.headers['x-forwarded-for']) ?? 'unknown';
    const state: SocketState = { id: nextSocketId++, logId: randomUUID(), address, connectedAt: Date.now(), idle: null };
    sockets.set(socket, state);
    perAddress.add(address);
    rt.metrics.activeSockets.inc();
    socket.once('close', () => {
      rt.metrics.activeSockets.dec();
      perAddress.remove(address);
      if (state.idle) clearTimeout(state.idle);
    });
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
    const closeIdle = () => socket.close(1000, 'Closed: idle without a token');
    state.idle = setTimeout(closeIdle, limits.anonymousIdleMs);
    socket.on('message', () => {
      if (state.idle) state.idle.refresh();
      closeIfBacklogged(socket);
    });
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
        const authorization = ctx.connectionParams?.authorization;
        if (authorization == null) return true;
        try {
          const viewer = await authenticate(rt, String(authorization));
          const { socket } = ctx.extra;
          // One that closed while its token was checked never counts (presence, sockets per user).
          if (socket.readyState !== socket.OPEN) return false;
          const state = sockets.get(socket);
          if (state?.idle) clearTimeout(state.idle);
          if (state) state.idle = null;
          perUser.add(viewer.userId);
          socket.once('close', () => perUser.remove(viewer.userId));
          if (capped && perUser.count(viewer.userId) > limits.maxSocketsPerUser) {
            socket.close(TOO_MANY, 'Too many connections for this account');
            return false;
          }
          socket.once('close', rt.presence.connect(viewer.userId));
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
        const query = persistedOperationsOf(rt).resolve(payload as OperationParams);
        if (query instanceof GraphQLError) return [query];
        payload = { ...payload, query };
        const authorization = operationAuthorization(payload.extensions) ?? ctx.connectionParams?.authorization;
        // One auth path for HTTP and WebSocket: the same context factory,
        // run (and the session re-checked) for every subscription.
        const { schema, execute, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
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
        const shared: SharedSubscription & { execute: unknown } = {
          execute,
          socket: ctx.extra.socket,
          id,
          shareKey: `${payload.operationName ?? ''}\0${JSON.stringify(payload.variables ?? {})}\0${payload.query}`,
          log: boundLog(rt.log, { socketId: state?.logId, subscriptionId: id }),
        };
        const contextValue = await contextFactory();
        // An operation signed in by its own header (GraphiQL's) keeps an otherwise anonymous socket open.
        if (contextValue.viewer && state?.idle) {
          clearTimeout(state.idle);
          state.idle = null;
        }
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
