import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { performance } from 'node:perf_hooks';
import { withLogFields, type Log } from '../log.ts';

/** An incoming id is kept when it is a short token; anything else (long, spaces, quotes) is replaced. */
const SANE_REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/** The request's id: the caller's `x-request-id` when it is sane, else a new UUID. */
export function requestIdOf(request: http.IncomingMessage): string {
  const incoming = request.headers['x-request-id'];
  return typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/**
 * Wraps the HTTP handler so that every request has an id: returned in the
 * `x-request-id` response header and carried by every line logged while the
 * request runs (including errors masked for the client). Each request is
 * logged at `debug` when it finishes.
 */
export function withRequestIds(handler: http.RequestListener, log: Log): http.RequestListener {
  return (request, response) => {
    const requestId = requestIdOf(request);
    const start = performance.now();
    response.setHeader('x-request-id', requestId);
    withLogFields({ requestId }, () => {
      response.once('finish', () =>
        log('debug', 'request finished', undefined, {
          method: request.method,
          // Without the query string: GET requests may carry variables there.
          path: request.url?.split('?', 1)[0],
          status: response.statusCode,
          ms: Math.round(performance.now() - start),
        }),
      );
      return handler(request, response);
    });
  };
}
