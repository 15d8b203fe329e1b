import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { expectRefusal, post } from './support/raw.ts';
import { startServer, type TestServer } from './support/server.ts';

// One server per file: servers in one process still share the database client (see db.ts).
let server: TestServer;
beforeAll(async () => {
  const { production, introspection, graphiql, corsOrigins } = loadConfig({ NODE_ENV: 'production', CORS_ORIGINS: 'https://app.example.com' });
  server = await startServer({ production, introspection, graphiql, corsOrigins });
});

describe('configuration of the hardening', () => {
  it('derives its defaults from NODE_ENV and lets each be set', () => {
    expect(loadConfig({})).toMatchObject({ introspection: true, graphiql: true, corsOrigins: '*' });
    expect(loadConfig({ NODE_ENV: 'production' })).toMatchObject({ introspection: false, graphiql: false, corsOrigins: [] });
    expect(loadConfig({ NODE_ENV: 'production', GRAPHIQL: 'true', INTROSPECTION: 'true', CORS_ORIGINS: 'https://a.example, https://b.example' }))
      .toMatchObject({ introspection: true, graphiql: true, corsOrigins: ['https://a.example', 'https://b.example'] });
    expect(loadConfig({ MAX_QUERY_DEPTH: '7', MAX_QUERY_COST: '1000' }).limits).toMatchObject({ depth: 7, cost: 1000 });
    expect(() => loadConfig({ CORS_ORIGINS: 'https://a.example/path' })).toThrow(/CORS_ORIGINS/);
    expect(() => loadConfig({ MAX_QUERY_DEPTH: 'deep' })).toThrow(/MAX_QUERY_DEPTH/);
    expect(() => loadConfig({ GRAPHIQL: 'yes please' })).toThrow(/GRAPHIQL/);
  });
});

describe('in production', () => {
  it('hides the schema in production: no introspection, no suggestions, no GraphiQL', async () => {
    expectRefusal(await post(server, '{ __schema { types { name } } }'), 'BAD_USER_INPUT', /introspection/i);
    const typo = await post(server, '{ mee { id } }');
    expectRefusal(typo, 'BAD_USER_INPUT');
    expect(typo.body.errors![0]!.message).not.toMatch(/Did you mean/);
    const page = await fetch(server.url, { headers: { accept: 'text/html' } });
    expect(await page.text()).not.toMatch(/graphiql/i);
    // Ordinary requests are served.
    expect((await post(server, '{ __typename }')).body).toEqual({ data: { __typename: 'Query' } });
  });

  it('answers CORS only for allowed origins in production, never with credentials', async () => {
    const preflight = (origin: string) =>
      fetch(server.url, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      });
    const allowed = await preflight('https://app.example.com');
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(allowed.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    expect(allowed.headers.get('access-control-allow-credentials')).toBeNull();
    const denied = await preflight('https://evil.example');
    expect(denied.headers.get('access-control-allow-origin')).toBeNull();
    const deniedPost = await post(server, '{ __typename }', {}, { headers: { origin: 'https://evil.example' } });
    expect(deniedPost.headers.get('access-control-allow-origin')).toBeNull();
    const allowedPost = await post(server, '{ __typename }', {}, { headers: { origin: 'https://app.example.com' } });
    expect(allowedPost.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
  });
});
