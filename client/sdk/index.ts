import type { ResultOf, TypedDocumentNode, VariablesOf } from '@graphql-typed-document-node/core';
import { Client as UrqlClient, fetchExchange } from '@urql/core';
import { print } from 'graphql';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import { SendMessageDocument, type SendMessageMutation } from '../generated/graphql.js';
import { fromCombinedError, fromGraphQLErrors, fromSocketFailure, ParleyError } from './errors.js';
import { streamChannel, type ChannelStream, type StreamChannelOptions } from './stream.js';

export { ParleyError } from './errors.js';
export type { ChannelEvent, ChannelStream, StreamChannelOptions } from './stream.js';

type MaybePromise<T> = T | Promise<T>;
type Token = string | null | undefined;

export interface ParleyClientOptions {
  /** The HTTP endpoint, e.g. `http://127.0.0.1:4000/graphql`. */
  url: string;
  /** The WebSocket endpoint; defaults to `url` with `ws(s):`. */
  wsUrl?: string;
  /** The session token to start with (see `setToken`). */
  token?: string | null;
  /** Asked for the token before every request and every WebSocket (re)connect; wins over `token`/`setToken`. */
  getToken?: () => MaybePromise<Token>;
  /**
   * Called once when an answer is `UNAUTHENTICATED`; return a fresh token (it
   * is stored as with `setToken`) and the request is retried once with it.
   */
  onUnauthenticated?: () => MaybePromise<Token>;
  /** A WebSocket implementation where there is no global one (Node 20: `ws`). */
  webSocketImpl?: unknown;
  /** A fetch implementation; defaults to the global one. */
  fetch?: typeof fetch;
  /** Reconnect and resend policy for the socket and for `sendMessage`. */
  retry?: { attempts?: number; baseDelayMs?: number; maxDelayMs?: number };
}

export interface Sink<T> {
  next(value: T): void;
  error?(error: ParleyError): void;
  complete?(): void;
}

export interface ParleyClient {
  query<D extends TypedDocumentNode<any, any>>(document: D, variables: VariablesOf<D>): Promise<ResultOf<D>>;
  mutate<D extends TypedDocumentNode<any, any>>(document: D, variables: VariablesOf<D>): Promise<ResultOf<D>>;
  /** Starts a subscription; returns a function that ends it. */
  subscribe<D extends TypedDocumentNode<any, any>>(document: D, variables: VariablesOf<D>, sink: Sink<ResultOf<D>>): () => void;
  /** Follows a channel's events exactly once and in order, across reconnects (see README). */
  streamChannel(channelId: string, options: StreamChannelOptions): ChannelStream;
  /**
   * Sends a message with a fresh `clientMessageId` (unless given) and resends
   * it with the same id after network errors: the server answers a repeated id
   * with the first message, so retries never duplicate.
   */
  sendMessage(input: { channelId: string; text: string; clientMessageId?: string; threadRootId?: string }): Promise<SendMessageMutation['sendMessage']>;
  /** New requests and the next WebSocket connection use this token. */
  setToken(token: string | null): void;
  /** Closes the WebSocket and ends every subscription. */
  dispose(): Promise<void>;
  /** The graphql-ws client underneath, for its `on(...)` events. */
  readonly ws: WsClient;
}

/** Delays of 250 ms, 500 ms, 1 s … capped at `maxDelayMs`, each with up to 25% jitter. */
export function backoff(attempt: number, baseDelayMs = 250, maxDelayMs = 10_000): number {
  const delay = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt);
  return delay + Math.random() * delay * 0.25;
}

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function createParleyClient(options: ParleyClientOptions): ParleyClient {
  let storedToken: Token = options.token;
  const attempts = options.retry?.attempts ?? 10;
  const baseDelayMs = options.retry?.baseDelayMs ?? 250;
  const maxDelayMs = options.retry?.maxDelayMs ?? 10_000;

  const currentToken = async (): Promise<Token> => (options.getToken ? await options.getToken() : storedToken);
  const setToken = (token: string | null) => void (storedToken = token);

  // Concurrent UNAUTHENTICATED answers share one refresh.
  let refreshing: Promise<boolean> | undefined;
  const refresh = (): Promise<boolean> => {
    const hook = options.onUnauthenticated;
    if (!hook) return Promise.resolve(false);
    refreshing ??= (async () => {
      try {
        const token = await hook();
        if (token) setToken(token);
        return Boolean(token);
      } finally {
        refreshing = undefined;
      }
    })();
    return refreshing;
  };

  const http = new UrqlClient({
    url: options.url,
    exchanges: [fetchExchange],
    fetch: options.fetch,
    preferGetMethod: false,
    requestPolicy: 'network-only',
  });

  const ws = createWsClient({
    url: options.wsUrl ?? options.url.replace(/^http/, 'ws'),
    webSocketImpl: options.webSocketImpl,
    lazy: true,
    // Evaluated at each (re)connect, so a refreshed token is used.
    connectionParams: async () => {
      const token = await currentToken();
      return token ? { authorization: `Bearer ${token}` } : {};
    },
    retryAttempts: attempts,
    retryWait: (retries) => wait(backoff(retries, baseDelayMs, maxDelayMs)),
    // Any failure to reach the server (refused, reset, closed with a
    // non-fatal code) is worth another try; graphql-ws itself never retries
    // fatal close codes such as 4401.
    shouldRetry: () => true,
  });

  async function execute<D extends TypedDocumentNode<any, any>>(kind: 'query' | 'mutation', document: D, variables: VariablesOf<D>) {
    const run = async () => {
      const token = await currentToken();
      const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
      const context = { fetchOptions: { headers } };
      return kind === 'query'
        ? http.query(document, variables, context).toPromise()
        : http.mutation(document, variables, context).toPromise();
    };
    let result = await run();
    if (result.error && isUnauthenticated(result.error.graphQLErrors) && (await refresh())) result = await run();
    if (result.error) throw fromCombinedError(result.error);
    return result.data as ResultOf<D>;
  }

  function subscribe<D extends TypedDocumentNode<any, any>>(document: D, variables: VariablesOf<D>, sink: Sink<ResultOf<D>>) {
    return ws.subscribe<ResultOf<D>>(
      { query: print(document), variables },
      {
        next: (result) => {
          if (result.errors?.length) sink.error?.(fromGraphQLErrors(result.errors));
          else if (result.data) sink.next(result.data);
        },
        error: (failure) => sink.error?.(fromSocketFailure(failure)),
        complete: () => sink.complete?.(),
      },
    );
  }

  const client: ParleyClient = {
    ws,
    query: (document, variables) => execute('query', document, variables),
    mutate: (document, variables) => execute('mutation', document, variables),
    subscribe,
    setToken,
    streamChannel: (channelId, streamOptions) => streamChannel({ ws, refresh }, channelId, streamOptions),
    async sendMessage(input) {
      const withId = { ...input, clientMessageId: input.clientMessageId ?? globalThis.crypto.randomUUID() };
      for (let attempt = 0; ; attempt++) {
        try {
          return (await execute('mutation', SendMessageDocument, { input: withId })).sendMessage;
        } catch (error) {
          // The same clientMessageId each time: a send that did commit is answered with its message, never stored twice.
          if (!(error instanceof ParleyError) || !error.isTransient || attempt + 1 >= attempts) throw error;
          await wait(backoff(attempt, baseDelayMs, maxDelayMs));
        }
      }
    },
    async dispose() {
      await ws.dispose();
    },
  };
  return client;
}

function isUnauthenticated(errors: readonly { extensions?: Record<string, unknown> }[]): boolean {
  return errors.some((e) => e.extensions?.['code'] === 'UNAUTHENTICATED');
}
