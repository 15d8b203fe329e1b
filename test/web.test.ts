import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createYoga } from 'graphql-yoga';
import { useWebApp } from '../src/server/web.ts';
import { startServer, type TestServer } from './support/server.ts';

// The static side of the server, on a small build of its own (the real
// build is exercised by test/browser-chat.test.ts).
const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-web-'));
const root = path.join(parent, 'dist');
const INDEX = '<!doctype html><title>Parley</title><script type="module" src="/assets/index-abc123.js"></script>';

let server: TestServer;
let origin: string;

beforeAll(async () => {
  fs.mkdirSync(path.join(root, 'assets'), { recursive: true });
  fs.writeFileSync(path.join(parent, 'secret.txt'), 'secret');
  fs.writeFileSync(path.join(root, 'index.html'), INDEX);
  fs.writeFileSync(path.join(root, 'assets/index-abc123.js'), 'console.log("hi");');
  fs.writeFileSync(path.join(root, 'assets/index-abc123.css'), 'body{}');
  fs.writeFileSync(path.join(root, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  server = await startServer();
  origin = new URL('/', server.url).origin;
});
afterAll(() => fs.rmSync(parent, { recursive: true, force: true }));

/** A Yoga with only the web plugin in front of a schema-less 404, to read what the plugin answers. */
function webOnly(dir: string) {
  return createYoga({ plugins: [useWebApp(dir)], graphqlEndpoint: '/graphql', logging: false });
}

describe('the web chat served at /', () => {
  it('serves index.html at / and at any app route, revalidated, under a CSP without inline scripts', async () => {
    const yoga = webOnly(root);
    for (const route of ['/', '/w/abc/def']) {
      const response = await yoga.fetch(`http://localhost${route}`, { headers: { accept: 'text/html' } });
      expect(response.status, route).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(response.headers.get('cache-control')).toBe('no-cache');
      expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(response.headers.get('content-security-policy')).not.toContain('unsafe-inline');
      expect(await response.text()).toBe(INDEX);
    }
    const first = await yoga.fetch('http://localhost/');
    const etag = first.headers.get('etag')!;
    expect(etag).toBeTruthy();
    const again = await yoga.fetch('http://localhost/', { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
  });

  it('serves files with their content types; hashed assets are cached for a year', async () => {
    const yoga = webOnly(root);
    const js = await yoga.fetch('http://localhost/assets/index-abc123.js');
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await js.text()).toBe('console.log("hi");');
    const css = await yoga.fetch('http://localhost/assets/index-abc123.css');
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    const icon = await yoga.fetch('http://localhost/favicon.svg');
    expect(icon.headers.get('content-type')).toBe('image/svg+xml');
    expect(icon.headers.get('cache-control')).toBe('no-cache');
    const head = await yoga.fetch('http://localhost/assets/index-abc123.js', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('answers 404 for a missing file, and never reads outside its folder', async () => {
    const yoga = webOnly(root);
    for (const probe of ['/assets/missing.js', '/nope.txt', '/..%2fsecret.txt', '/assets/..%2f..%2fsecret.txt', '/%2e%2e/secret.txt', '/dist%2f..%2f..%2fsecret.txt']) {
      const response = await yoga.fetch(`http://localhost${probe}`);
      expect(response.status, probe).toBe(404);
      expect(await response.text()).not.toContain('secret');
    }
  });

  it('says how to build it when it is not built', async () => {
    const response = await webOnly(path.join(root, 'missing')).fetch('http://localhost/');
    expect(response.status).toBe(503);
    expect(await response.text()).toContain('npm run build:web');
  });

  it('leaves /graphql, GraphiQL, health, readiness and metrics to the server', async () => {
    const graphql = await fetch(`${origin}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }' }) });
    expect(await graphql.json()).toEqual({ data: { __typename: 'Query' } });
    const graphiql = await fetch(`${origin}/graphql`, { headers: { accept: 'text/html' } });
    expect(await graphiql.text()).toContain('graphiql-options');
    expect((await fetch(`${origin}/graphiql/start.js`)).headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await fetch(`${origin}/healthz`)).status).toBe(200);
    expect((await fetch(`${origin}/readyz`)).status).toBe(200);
    expect(await (await fetch(`${origin}/metrics`)).text()).toContain('# HELP');
  });
});
