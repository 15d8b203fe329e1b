import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type GraphQLFormattedError } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { afterEach, expect } from 'vitest';
import WebSocket from 'ws';
import type { TestServer } from './server.ts';

export interface GraphQLResponse<R> {
  data?: R | null;
  errors?: GraphQLFormattedError[];
}

/** One GraphQL request over HTTP, as any client would send it. */
export async function request<R, V>(
  server: Pick<TestServer, 'url'>,
  document: TypedDocumentNode<R, V>,
  variables?: V,
  token?: string,
): Promise<GraphQLResponse<R>> {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query: print(document), variables }),
  });
  return (await response.json()) as GraphQLResponse<R>;
}

/** The data of a request that must succeed. */
export async function ok<R, V>(
  server: Pick<TestServer, 'url'>,
  document: TypedDocumentNode<R, V>,
  variables?: V,
  token?: string,
): Promise<R> {
  const result = await request(server, document, variables, token);
  if (result.errors?.length || !result.data) {
    throw new Error(`expected success, got ${JSON.stringify(result.errors ?? result)}`);
  }
  return result.data;
}

/** The error of a request that must be refused with `code`. */
export async function refused<R, V>(
  server: Pick<TestServer, 'url'>,
  code: string,
  document: TypedDocumentNode<R, V>,
  variables?: V,
  token?: string,
): Promise<GraphQLFormattedError> {
  const result = await request(server, document, variables, token);
  expect(result.errors, `expected ${code}, got data ${JSON.stringify(result.data)}`).toBeDefined();
  const error = result.errors![0]!;
  expect(error.extensions?.code, JSON.stringify(result.errors)).toBe(code);
  expect(error.message.length).toBeGreaterThan(0);
  return error;
}

const openClients = new Set<Client>();

/** A graphql-ws client; disposed after each test. */
export function connect(server: Pick<TestServer, 'wsUrl'>, token?: string, options: { onClose?: (code: number, reason: string) => void } = {}): Client {
  const client = createClient({
    url: server.wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    retryAttempts: 0,
    lazy: false,
    on: {
      closed: (event) => {
        const { code, reason } = event as { code: number; reason: string };
        options.onClose?.(code, String(reason));
      },
    },
    // Surface connection failures through the subscription instead of crashing the worker.
    onNonLazyError: () => {},
  });
  openClients.add(client);
  return client;
}

/** A graphql-ws client whose connection the server has acknowledged (its onConnect has run). */
export async function connectAcknowledged(server: Pick<TestServer, 'wsUrl'>, token?: string, ms = 5_000): Promise<Client> {
  const client = connect(server, token);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => settle(new Error(`no connection_ack within ${ms} ms`)), ms);
    const offs = [
      client.on('connected', () => settle()),
      client.on('closed', (event) => settle(new Error(`closed before acknowledged: ${(event as { code?: number }).code}`))),
    ];
    function settle(error?: Error) {
      clearTimeout(timer);
      for (const off of offs) off();
      if (error) reject(error);
      else resolve();
    }
  });
  return client;
}

/** Closes a client's socket and resolves once it is closed. */
export async function disconnect(client: Client): Promise<void> {
  const closed = new Promise<void>((resolve) => {
    const off = client.on('closed', () => {
      off();
      resolve();
    });
  });
  await client.dispose();
  await closed;
}

afterEach(async () => {
  for (const client of openClients) await client.dispose();
  openClients.clear();
});

export interface LiveSubscription<R> {
  readonly events: R[];
  readonly errors: unknown[];
  readonly done: boolean;
  /** Resolves with the first event (from now or already received) matching `predicate`. */
  waitFor(predicate: (event: R) => boolean, what: string, ms?: number): Promise<R>;
  /** Resolves once `count` events have arrived in total. */
  waitForCount(count: number, ms?: number): Promise<R[]>;
  /** Resolves with the error the subscription ended with. */
  waitForError(ms?: number): Promise<unknown>;
  unsubscribe(): void;
}

/** Subscribes and records every event and error; waits are event-driven, with timeouts. */
export function subscribe<R, V>(
  client: Client,
  document: TypedDocumentNode<R, V>,
  variables: V,
  /** Sent in the subscribe message, as GraphiQL sends its Headers pane (`{ headers: {...} }`). */
  extensions?: Record<string, unknown>,
): LiveSubscription<R> {
  const events: R[] = [];
  const errors: unknown[] = [];
  let done = false;
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const waiter of [...waiters]) waiter();
  };
  const unsubscribe = client.subscribe<R>(
    { query: print(document), variables: variables as Record<string, unknown>, ...(extensions ? { extensions } : {}) },
    {
      next: (result) => {
        if (result.errors?.length) errors.push(result.errors);
        if (result.data) events.push(result.data as R);
        notify();
      },
      error: (error) => {
        errors.push(error);
        done = true;
        notify();
      },
      complete: () => {
        done = true;
        notify();
      },
    },
  );

  function waitUntil<T>(check: () => T | undefined, what: string, ms: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const attempt = () => {
        const value = check();
        if (value !== undefined) {
          cleanup();
          resolve(value);
        } else if (done && errors.length && what !== 'error') {
          cleanup();
          reject(new Error(`subscription ended while waiting for ${what}: ${JSON.stringify(errors)}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; got ${events.length} events, errors ${JSON.stringify(errors)}`));
      }, ms);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(attempt);
      };
      waiters.add(attempt);
      attempt();
    });
  }

  return {
    events,
    errors,
    get done() {
      return done;
    },
    waitFor: (predicate, what, ms = 5_000) => waitUntil(() => events.find(predicate), what, ms),
    waitForCount: (count, ms = 5_000) =>
      waitUntil(() => (events.length >= count ? events.slice(0, count) : undefined), `${count} events`, ms),
    waitForError: (ms = 5_000) => waitUntil(() => (errors.length ? errors[0] : undefined), 'error', ms),
    unsubscribe,
  };
}
