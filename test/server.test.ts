import fs from 'node:fs';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { schema } from '../src/schema/index.ts';
import { backendName, startServer, type TestServer } from './support/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});

const origin = () => server.url.replace(/\/graphql$/, '');

async function post(body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] } };
}

describe(`the HTTP surface (${backendName})`, () => {
  it('answers /healthz and /readyz', async () => {
    expect((await fetch(`${origin()}/healthz`)).status).toBe(200);
    const ready = await fetch(`${origin()}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.text()).toMatch(/ready/);
  });

  it('serves GraphiQL to a browser on GET /graphql', async () => {
    const response = await fetch(server.url, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    expect(await response.text()).toMatch(/graphiql/i);
  });

  it('accepts application/graphql-response+json', async () => {
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(response.headers.get('content-type')).toMatch(/application\/graphql-response\+json/);
    expect(await response.json()).toEqual({ data: { __typename: 'Query' } });
  });

  it('gives invalid documents and variables a BAD_USER_INPUT code', async () => {
    const unknownField = await post({ query: '{ nope }' });
    expect(unknownField.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const wrongVariable = await post({
      query: 'mutation($input: LogInInput!) { logIn(input: $input) { token } }',
      variables: { input: { email: 42 } },
    });
    expect(wrongVariable.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const syntax = await post({ query: '{ me { ' });
    expect(syntax.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('configuration', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 4000, host: '127.0.0.1', databaseUrl: undefined, redisUrl: undefined, jwtSecret: undefined });
    expect(config.dataDir).toMatch(/data$/);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'mysql://localhost/x'],
    ['REDIS_URL', 'localhost:6379'],
    ['JWT_SECRET', 'short'],
  ])('fails at start with a clear message for %s=%s', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(name);
  });
});

describe('schema.graphql', () => {
  it('is the printed Pothos schema (run npm run schema:print after changing the schema)', () => {
    const committed = fs.readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8');
    expect(committed).toBe(`${printSchema(lexicographicSortSchema(schema))}\n`);
  });
});
