import type http from 'node:http';
import type { YogaServerOptions } from 'graphql-yoga';
import type { Config } from '../config.ts';

type CorsOption = NonNullable<YogaServerOptions<object, object>['cors']>;

/**
 * Yoga's CORS answer for a request. An origin on CORS_ORIGINS gets it back
 * (tokens travel in the Authorization header, so credentials are never
 * needed); `*` (the development default) answers any origin, still without
 * credentials; any other origin gets no CORS headers, so browsers refuse it.
 */
export function corsOptions(config: Config): CorsOption {
  const allowed = config.corsOrigins;
  return (request: Request) => {
    const origin = request.headers.get('origin');
    if (!origin) return false;
    if (allowed !== '*' && !allowed.includes(origin)) return false;
    return {
      origin: [origin],
      credentials: false,
      methods: ['GET', 'POST', 'OPTIONS'],
      allowedHeaders: ['authorization', 'content-type', 'accept'],
      maxAge: 600,
    };
  };
}

const tooLarge = (limit: number) =>
  JSON.stringify({
    errors: [
      {
        message: `The request body is larger than ${limit} bytes.`,
        extensions: { code: 'BAD_USER_INPUT', http: { status: 413 } },
      },
    ],
  });

function refuse(res: http.ServerResponse, limit: number): void {
  // Connection: close, so Node does not keep reading a body nobody wants.
  res.writeHead(413, { 'content-type': 'application/json; charset=utf-8', connection: 'close' }).end(tooLarge(limit));
}

/**
 * Caps request bodies at `limit` bytes before Yoga sees them (Yoga has no
 * limit of its own): a declared Content-Length over it is answered 413 at
 * once; a body without one (chunked) is read up to the limit and handed to
 * Yoga as a buffer. Calls `next` with the request when it may proceed.
 */
export function limitBody(
  limit: number,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  next: () => void,
): void {
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
  const declared = req.headers['content-length'];
  if (declared !== undefined) {
    if (Number(declared) > limit) return refuse(res, limit);
    // Node's parser never delivers more than Content-Length promised.
    return next();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let refused = false;
  req.on('data', (chunk: Buffer) => {
    if (refused) return;
    size += chunk.length;
    if (size > limit) {
      refused = true;
      chunks.length = 0;
      refuse(res, limit);
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (refused) return;
    // @whatwg-node/server takes a body already read from `req.body`.
    (req as http.IncomingMessage & { body?: Buffer }).body = Buffer.concat(chunks);
    next();
  });
  req.on('error', () => {
    if (!res.headersSent) res.writeHead(400).end();
  });
}
