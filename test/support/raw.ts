import http from 'node:http';
import type { GraphQLFormattedError } from 'graphql';
import { expect } from 'vitest';
import type { TestServer } from './server.ts';

export interface RawResponse {
  status: number;
  headers: Headers;
  body: { data?: Record<string, unknown> | null; errors?: GraphQLFormattedError[] };
}

/** A GraphQL request written by hand (hostile documents have no typed version). */
export async function post(
  server: Pick<TestServer, 'url'>,
  query: string,
  variables?: Record<string, unknown>,
  options: { token?: string; headers?: Record<string, string> } = {},
): Promise<RawResponse> {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : {} };
}

/** The first error of a response that must be a refusal with `code` and no data. */
export function expectRefusal(response: RawResponse, code: string, message?: RegExp): GraphQLFormattedError {
  const error = response.body.errors?.[0];
  expect(error, JSON.stringify(response.body).slice(0, 500)).toBeDefined();
  expect(error!.extensions?.code, JSON.stringify(response.body.errors).slice(0, 500)).toBe(code);
  if (message) expect(error!.message).toMatch(message);
  expect(response.body.data ?? null).toBeNull();
  return error!;
}

/** A POST whose body is sent chunked, without Content-Length. */
export function postChunked(server: Pick<TestServer, 'url'>, chunks: Buffer[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      server.url,
      { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    // The server may answer 413 and close before every chunk is written.
    request.on('error', (error: NodeJS.ErrnoException) => (error.code === 'EPIPE' || error.code === 'ECONNRESET' ? undefined : reject(error)));
    for (const chunk of chunks) request.write(chunk);
    request.end();
  });
}
