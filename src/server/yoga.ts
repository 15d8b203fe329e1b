import { createYoga, useReadinessCheck, type YogaServerInstance } from 'graphql-yoga';
import type { IncomingMessage } from 'node:http';
import { clientAddress, createContext, type Context } from '../context.ts';
import type { Runtime } from '../runtime.ts';
import { schema } from '../schema/index.ts';
import { documentPlugins } from '../security/documents.ts';
import { corsOptions } from '../security/http.ts';
import { maskError, useInputErrorCodes } from './errors.ts';
import { graphiqlOptions, renderGraphiQL, useGraphiQLAssets } from './graphiql.ts';
import { useMetrics } from './metrics.ts';
import { persistedOperationsOf, usePersistedOperations } from './persisted.ts';
import { useUnsubscribe } from './unsubscribe.ts';
import { useWebApp } from './web.ts';

/** What the WebSocket side hands to Yoga's context factory besides the request. */
export interface SocketContext {
  authorization?: string | null;
  connectedAt?: number;
  address?: string | null;
  /** Node's request, when served by node:http. */
  req?: IncomingMessage;
}

export type ParleyYoga = YogaServerInstance<SocketContext, Context>;

/**
 * GraphQL over HTTP at /graphql (and GraphiQL in a browser), `/healthz` (the
 * process is up), `/readyz` (the database and pub/sub answer, and the app
 * is not shutting down), and the web chat at `/` (src/server/web.ts).
 */
export function createYogaServer(rt: Runtime, lifecycle: { draining(): boolean }): ParleyYoga {
  return createYoga<SocketContext, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    healthCheckEndpoint: '/healthz',
    landingPage: false,
    // Served by Parley itself (src/server/graphiql.ts): no CDN.
    graphiql: rt.config.graphiql ? graphiqlOptions() : false,
    renderGraphiQL,
    cors: corsOptions(rt.config),
    // Refusals are the client's business; unexpected errors are logged by maskError.
    logging: rt.config.logLevel === 'debug' ? yogaLogger(rt) : false,
    maskedErrors: { maskError: maskError(rt.log) },
    plugins: [
      ...(rt.config.graphiql ? [useGraphiQLAssets()] : []),
      useInputErrorCodes(),
      // Before anything parses: turns a hash into its document, or refuses.
      usePersistedOperations(persistedOperationsOf(rt)),
      ...documentPlugins(rt.config),
      // After useInputErrorCodes: it counts the codes clients get.
      useMetrics(rt.metrics),
      useUnsubscribe(rt),
      useReadinessCheck({
        endpoint: '/readyz',
        check: async ({ fetchAPI }) => {
          const problem = await readiness(rt, lifecycle);
          return new fetchAPI.Response(`${problem ?? 'ready'}\n`, {
            status: problem ? 503 : 200,
            headers: { 'content-type': 'text/plain' },
          });
        },
      }),
      // Last: every path the plugins above answer stays theirs.
      useWebApp(),
    ],
    context: ({ request, req, authorization, connectedAt, address }) =>
      createContext(
        rt,
        authorization !== undefined ? authorization : request?.headers.get('authorization'),
        connectedAt ?? null,
        address !== undefined ? address : clientAddress(rt, req?.socket.remoteAddress, req?.headers['x-forwarded-for']),
      ),
  });
}

/** How long each readiness check may take: a dependency that does not answer in time is unreachable. */
export const READINESS_TIMEOUT_MS = 2_000;

async function readiness(rt: Runtime, lifecycle: { draining(): boolean }): Promise<string | null> {
  if (lifecycle.draining()) return 'shutting down';
  if (!(await answersWithin(() => rt.db.ping(), READINESS_TIMEOUT_MS))) return 'database unreachable';
  if (!(await answersWithin(() => rt.pubsub.ping(), READINESS_TIMEOUT_MS))) return 'pub/sub unreachable';
  return null;
}

/** Whether `check` resolves within `ms`; a check still running then goes on and its outcome is ignored. */
async function answersWithin(check: () => Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([check().then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Yoga's own messages, at debug level through the app's log. Yoga reports
 * clients' bad requests as errors; for an operator they are not.
 */
function yogaLogger(rt: Runtime) {
  const write = (...args: unknown[]) => {
    const error = args.find((arg) => arg instanceof Error);
    // Only text: Yoga's debug arguments may include request parameters (variables, passwords).
    const text = args.filter((arg) => typeof arg === 'string').join(' ');
    rt.log('debug', `graphql-yoga: ${text || (error as Error | undefined)?.message || 'event'}`, error);
  };
  return { debug: write, info: write, warn: write, error: write };
}
