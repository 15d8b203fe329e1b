import fs from 'node:fs/promises';
import path from 'node:path';
import type { Plugin } from 'graphql-yoga';
import { UNSUBSCRIBE_PATH } from '../services/email.ts';
import { GRAPHIQL_ASSET_PATH } from './graphiql.ts';

/** Where `npm run build:web` puts the web chat (web/vite.config.ts). */
export const WEB_DIST = path.resolve(import.meta.dirname, '../../web/dist');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The page's policy: scripts, styles and connections (HTTP and WebSocket) to
 * this origin only. The build has no inline script, so nothing needs
 * 'unsafe-inline'.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

/** Paths other parts of the server answer; the web chat never shadows them. */
function belongsToApi(pathname: string): boolean {
  return (
    pathname === '/graphql' ||
    pathname.startsWith('/graphql/') ||
    pathname.startsWith(GRAPHIQL_ASSET_PATH) ||
    ['/healthz', '/readyz', '/metrics', UNSUBSCRIBE_PATH].includes(pathname)
  );
}

/**
 * Serves the built web chat (web/dist) at `/`: its files with their content
 * types; Vite's content-hashed files under /assets/ cached for a year, the
 * rest revalidated (ETag); and index.html for any other path without a file
 * extension, so the app's own routes survive a reload. Placed after every
 * other plugin that answers a path of its own.
 */
export function useWebApp(root: string = WEB_DIST): Plugin {
  return {
    async onRequest({ request, url, fetchAPI, endResponse }) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return;
      let pathname: string;
      try {
        pathname = decodeURIComponent(url.pathname);
      } catch {
        return;
      }
      if (belongsToApi(pathname)) return;
      const respond = (status: number, body: BodyInit | null, headers: Record<string, string>) =>
        endResponse(new fetchAPI.Response(request.method === 'HEAD' ? null : body, { status, headers }));
      const notFound = () => respond(404, 'Not found\n', { 'content-type': 'text/plain; charset=utf-8' });

      if (pathname.includes('\0')) return notFound();
      // normalize() resolves "..": a path that leaves the root is refused.
      const relative = path.posix.normalize(pathname).replace(/^\/+/, '');
      if (relative.startsWith('..')) return notFound();
      let file = await statFile(path.join(root, relative === '' ? 'index.html' : relative));
      if (!file && !path.posix.extname(relative)) file = await statFile(path.join(root, 'index.html'));
      if (!file) {
        if (relative === '' || !path.posix.extname(relative)) {
          return respond(503, 'The web chat is not built: run `npm run build:web`.\n', { 'content-type': 'text/plain; charset=utf-8' });
        }
        return notFound();
      }

      const headers: Record<string, string> = {
        'content-type': TYPES[path.extname(file.path)] ?? 'application/octet-stream',
        'x-content-type-options': 'nosniff',
      };
      if (relative.startsWith('assets/')) {
        // Vite names these by their content: a new build gives new names.
        headers['cache-control'] = 'public, max-age=31536000, immutable';
      } else {
        headers['cache-control'] = 'no-cache';
        headers['etag'] = `W/"${file.size.toString(16)}-${Math.floor(file.mtimeMs).toString(16)}"`;
        if (request.headers.get('if-none-match') === headers['etag']) return respond(304, null, headers);
      }
      if (file.path.endsWith('.html')) {
        headers['content-security-policy'] = CONTENT_SECURITY_POLICY;
        headers['referrer-policy'] = 'no-referrer';
      }
      const body = new Uint8Array(await fs.readFile(file.path));
      return respond(200, body, headers);
    },
  };
}

async function statFile(file: string): Promise<{ path: string; size: number; mtimeMs: number } | null> {
  try {
    const stat = await fs.stat(file);
    return stat.isFile() ? { path: file, size: stat.size, mtimeMs: stat.mtimeMs } : null;
  } catch {
    return null;
  }
}
