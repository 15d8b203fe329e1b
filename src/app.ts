import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PothosValidationError } from '@pothos/core';
import { GraphQLError, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import type { Config } from './config.ts';
import { createContext, type Context } from './context.ts';
import { openDatabase, type Database } from './db.ts';
import { DomainError } from './errors.ts';
import { openPubSub, type Listening, type PubSub } from './pubsub.ts';
import { schema } from './schema/index.ts';
import { authenticate, configureTokens, watchRevocations } from './services/auth.ts';
import { startPresence, type PresenceTracker } from './services/presence.ts';
import { startTyping } from './services/typing.ts';

export interface App {
  /** Opens the database (applying migrations) and pub/sub, then listens. */
  start(): Promise<void>;
  /** Stops accepting, closes sockets with 1001, lets in-flight requests finish, releases everything. */
  stop(): Promise<void>;
  /** The bound port (useful with PORT=0) once started. */
  readonly port: number;
  readonly url: string;
  readonly pubsub: PubSub;
  readonly db: Database;
}

/** How long stop() waits for in-flight requests before cutting connections. */
const DRAIN_MS = 10_000;

type Log = (level: 'info' | 'warn' | 'error', message: string, error?: unknown) => void;

function makeLog(config: Config): Log {
  const rank = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 } as const;
  return (level, message, error) => {
    if (rank[level] < rank[config.logLevel]) return;
    (level === 'info' ? console.log : console.error)(`[parley] ${message}`, ...(error ? [error] : []));
  };
}

interface ErrorLike {
  message: string;
  extensions?: Record<string, unknown>;
  originalError?: unknown;
  nodes?: GraphQLError['nodes'];
  path?: GraphQLError['path'];
}

// Structural, not instanceof: graphql-js may be loaded twice (ESM and CJS
// copies inside Yoga's executor), and their GraphQLError classes differ.
const isGraphQLErrorLike = (error: unknown): error is ErrorLike =>
  error instanceof Error && (error.name === 'GraphQLError' || error instanceof GraphQLError);
const codeOf = (error: unknown) =>
  isGraphQLErrorLike(error) && typeof error.extensions?.code === 'string' ? error.extensions.code : undefined;

const YOGA_INPUT_CODES = new Set(['GRAPHQL_VALIDATION_FAILED', 'GRAPHQL_PARSE_FAILED', 'BAD_REQUEST']);

/**
 * Keeps refusals (errors with a code) as they are, turns Pothos's argument
 * checks and GraphQL's own validation into BAD_USER_INPUT, and masks
 * everything else as INTERNAL_SERVER_ERROR (logged, never shown).
 */
function maskError(log: Log) {
  return (error: unknown): Error => {
    const located = isGraphQLErrorLike(error) ? error : null;
    const original = located?.originalError ?? error;
    const code = codeOf(original) ?? (located && !located.originalError ? codeOf(located) : undefined);
    // Yoga's own codes for unparsable or invalid documents are, in API.md's terms, bad input.
    if (code && !YOGA_INPUT_CODES.has(code)) return error as Error;
    const rebuild = (message: string, code: string) =>
      new GraphQLError(message, {
        nodes: located?.nodes,
        path: located?.path,
        extensions: { ...located?.extensions, code },
      });
    // A GraphQLError without a code comes from GraphQL itself or Pothos
    // (variable coercion, argument checks, cursors): the input was at fault.
    if (code || original instanceof PothosValidationError || isGraphQLErrorLike(original)) {
      return rebuild((original as Error).message, 'BAD_USER_INPUT');
    }
    log('error', 'unexpected error', original);
    return new GraphQLError('Unexpected error; it has been logged.', {
      nodes: located?.nodes,
      path: located?.path,
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
  };
}

/**
 * Errors Yoga raises before execution (unparsable documents, unknown fields,
 * variables of the wrong type) get API.md's code for bad input.
 */
function useInputErrorCodes(): Plugin {
  return {
    onResultProcess({ result, setResult }) {
      if (Array.isArray(result) || !result || typeof result !== 'object' || !('errors' in result)) return;
      const errors = (result as ExecutionResult).errors;
      if (!errors?.some((e) => YOGA_INPUT_CODES.has(String(e.extensions?.code)))) return;
      setResult({
        ...(result as ExecutionResult),
        errors: errors.map((e) =>
          YOGA_INPUT_CODES.has(String(e.extensions?.code))
            ? new GraphQLError(e.message, { nodes: e.nodes, extensions: { ...e.extensions, code: 'BAD_USER_INPUT' } })
            : e,
        ),
      });
    },
  };
}

/** Builds Parley's server: Yoga over HTTP and graphql-ws on the same path. */
export function buildApp(config: Config): App {
  const log = makeLog(config);
  let db: Database | null = null;
  let pubsub: PubSub | null = null;
  let revocations: Listening | null = null;
  let presence: PresenceTracker | null = null;
  let typing: { stop(): Promise<void> } | null = null;
  let port = 0;
  let draining = false;

  const yoga: YogaServerInstance<{ authorization?: string | null; connectedAt?: number }, Context> = createYoga({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: { title: 'Parley', subscriptionsProtocol: 'WS' },
    // Refusals are the client's business; unexpected errors are logged by maskError.
    logging: config.logLevel === 'debug' ? 'debug' : false,
    maskedErrors: { maskError: maskError(log) },
    plugins: [useInputErrorCodes()],
    context: ({ request, authorization, connectedAt }) =>
      createContext(authorization !== undefined ? authorization : request?.headers.get('authorization'), connectedAt ?? null),
  });

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    if (path === '/readyz') {
      void readiness().then((problem) => {
        res.writeHead(problem ? 503 : 200, { 'content-type': 'text/plain' }).end(problem ? `${problem}\n` : 'ready\n');
      });
      return;
    }
    void yoga.requestListener(req, res);
  });

  async function readiness(): Promise<string | null> {
    if (draining) return 'shutting down';
    if (!db || !pubsub) return 'starting';
    try {
      await db.ping();
    } catch {
      return 'database unreachable';
    }
    try {
      await pubsub.ping();
    } catch {
      return 'pub/sub unreachable';
    }
    return null;
  }

  const wss = new WebSocketServer({ server, path: '/graphql' });
  const connectedAt = new WeakMap<object, number>();
  wss.on('connection', (socket) => connectedAt.set(socket, Date.now()));
  const graphqlWs = useServer<Record<string, unknown>, { request: http.IncomingMessage }>(
    {
      execute: (args) => (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args) as never,
      subscribe: (args) => (args.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(args) as never,
      onConnect: async (ctx) => {
        const authorization = ctx.connectionParams?.authorization;
        if (authorization == null) return true;
        try {
          const viewer = await authenticate(String(authorization));
          // Presence counts authenticated sockets; one that closed while its token was checked never counts.
          const { socket } = ctx.extra;
          if (presence && socket.readyState === socket.OPEN) socket.once('close', presence.connect(viewer.userId));
          return true;
        } catch (error) {
          if (!(error instanceof DomainError)) throw error;
          // API.md: a bad token closes the socket with 4401.
          ctx.extra.socket.close(4401, error.message.slice(0, 120));
          return false;
        }
      },
      onSubscribe: async (ctx, _id, payload) => {
        const authorization = ctx.connectionParams?.authorization;
        // One auth path for HTTP and WebSocket: the same context factory,
        // run (and the session re-checked) for every subscription.
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
          authorization: authorization == null ? null : String(authorization),
          connectedAt: connectedAt.get(ctx.extra.socket),
        });
        const args: ExecutionArgs = {
          schema,
          operationName: payload.operationName,
          document: parse(payload.query),
          variableValues: payload.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        if (errors.length) return errors;
        return args;
      },
    },
    wss,
  );

  return {
    get port() {
      return port;
    },
    get url() {
      return `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}/graphql`;
    },
    get pubsub() {
      if (!pubsub) throw new Error('not started');
      return pubsub;
    },
    get db() {
      if (!db) throw new Error('not started');
      return db;
    },
    async start() {
      configureTokens(config);
      db = await openDatabase(config, { log: (line) => log('info', line) });
      pubsub = await openPubSub(config.redisUrl);
      revocations = watchRevocations();
      await revocations.ready;
      presence = await startPresence({
        redisUrl: config.redisUrl,
        redisKeyPrefix: config.redisKeyPrefix,
        graceMs: config.presenceGraceMs,
        log,
      });
      typing = startTyping(config);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      port = (server.address() as AddressInfo).port;
      log('info', `listening on ${this.url} (${config.databaseUrl ? 'Postgres' : 'embedded PGlite'}, ${config.redisUrl ? 'Redis' : 'in-process'} pub/sub)`);
    },
    async stop() {
      draining = true;
      // graphql-ws closes every socket with 1001 (going away).
      await graphqlWs.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      if (server.listening) {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const timer = setTimeout(() => server.closeAllConnections(), DRAIN_MS);
        await closed;
        clearTimeout(timer);
      }
      await yoga.dispose();
      // Before pub/sub and the database close: users who go offline with this instance are stored and announced.
      await presence?.stop();
      await typing?.stop();
      await revocations?.close();
      revocations = null;
      presence = null;
      typing = null;
      await pubsub?.close();
      await db?.close();
      pubsub = null;
      db = null;
    },
  };
}
