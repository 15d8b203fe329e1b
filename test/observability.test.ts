import path from 'node:path';
import { print } from 'graphql';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createParley, type App } from '../src/app.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { LogInDocument, MeDocument, MessageAddedDocument } from '../client/generated/graphql.ts';
import { connect, connectAcknowledged, refused, subscribe } from './support/client.ts';
import { backendName, sharedServices, startServer, testConfig, testDataDir, waitForSubscribers, type TestServer } from './support/server.ts';
import { channelWith, sendText, signUpUser, startTeam, type Team } from './support/world.ts';

interface LoggedApp {
  app: App;
  url: string;
  /** Lines written since the test began. */
  lines: string[];
}

/** An app whose log lines are kept in memory. */
async function startLogged(overrides: Partial<Config>): Promise<LoggedApp> {
  const logged: LoggedApp = { app: null as unknown as App, url: '', lines: [] };
  // Each app its own embedded database folder (PGlite opens a folder once); on Postgres they share this file's schema.
  const dataDir = path.join(testDataDir, `logged-${apps.length}-${overrides.logFormat ?? 'app'}`);
  const app = createParley(testConfig({ dataDir, ...overrides }), { logDestination: { write: (line) => logged.lines.push(line) } });
  await app.start();
  apps.push(app);
  return Object.assign(logged, { app, url: app.url });
}

const apps: App[] = [];
const loggedApps: Record<'json' | 'pretty', LoggedApp> = {} as never;
let plain: TestServer;
// Started once: starting an app on a busy machine can take a good part of a test's time limit.
beforeAll(async () => {
  [loggedApps.json, loggedApps.pretty, plain] = await Promise.all([
    startLogged({ logFormat: 'json', logLevel: 'info' }),
    startLogged({ logFormat: 'pretty', logLevel: 'info' }),
    startServer(),
  ]);
});
afterEach(() => {
  vi.restoreAllMocks();
  for (const app of Object.values(loggedApps)) app.lines.length = 0;
});
afterAll(async () => {
  for (const app of apps.splice(0)) await app.stop();
});

/** Makes issuing a session fail the way a library that attaches its request to errors would. */
function failSessions(app: App, secrets: { token: string; password: string }) {
  vi.spyOn(app.runtime.tokens, 'remember').mockImplementation(() => {
    throw Object.assign(new Error(`session cache refused the request with Bearer ${secrets.token}`), {
      request: { headers: { authorization: `Bearer ${secrets.token}` }, body: { password: secrets.password } },
      connectionParams: { authorization: `Bearer ${secrets.token}` },
    });
  });
}

describe(`logs (${backendName})`, () => {
  it('gives every HTTP request an id, keeping a sane incoming one', async () => {
    const server = plain;
    const fresh = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
    expect(fresh.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const kept = await fetch(server.url.replace(/graphql$/, 'healthz'), { headers: { 'x-request-id': 'lb-7f3a.42' } });
    expect(kept.headers.get('x-request-id')).toBe('lb-7f3a.42');
    const replaced = await fetch(server.url.replace(/graphql$/, 'healthz'), { headers: { 'x-request-id': `x"${'a'.repeat(300)}` } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it.each(['json', 'pretty'] as const)(
    'logs an unexpected error with its request id and without tokens or passwords (%s)',
    async (logFormat) => {
      const { app, lines, url } = loggedApps[logFormat];
      const user = await signUpUser({ url }, 'logged');
      failSessions(app, user);
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}`, 'x-request-id': 'req-secret-test' },
        body: JSON.stringify({ query: print(LogInDocument), variables: { input: { email: user.email, password: user.password } } }),
      });
      const body = (await response.json()) as { errors?: { extensions?: { code?: string } }[] };
      expect(body.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');

      const output = lines.join('');
      const logged = lines.find((line) => line.includes('unexpected error'));
      expect(logged, output).toBeDefined();
      expect(logged).toContain('req-secret-test');
      expect(logged).toContain('session cache refused');
      if (logFormat === 'json') {
        expect(JSON.parse(logged!)).toMatchObject({ level: 'error', msg: 'unexpected error', requestId: 'req-secret-test' });
      }
      expect(output).not.toContain(user.token);
      expect(output).not.toContain(user.token.split('.')[2]!);
      expect(output).not.toContain(user.password);
    },
  );

  it("names the socket on lines about a WebSocket's operations", async () => {
    const { app, lines } = loggedApps.json;
    const target = { url: app.url, wsUrl: app.url.replace(/^http/, 'ws') };
    const user = await signUpUser(target, 'socket');
    failSessions(app, user);
    const client = await connectAcknowledged(target, user.token);
    const result = await new Promise<{ errors?: readonly { extensions?: Record<string, unknown> }[] }>((resolve, reject) => {
      client.subscribe(
        { query: print(LogInDocument), variables: { input: { email: user.email, password: user.password } } },
        { next: resolve, error: reject, complete: () => {} },
      );
    });
    expect(result.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => entry.msg === 'unexpected error');
    expect(logged?.socketId).toMatch(/^[0-9a-f-]{36}$/);
    const output = lines.join('');
    expect(output).not.toContain(user.token);
    expect(output).not.toContain(user.password);
  });
});

/** One sample of a scrape: `name{labels} value`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = match[2] ? match[2].split(/,(?=[a-zA-Z_]\w*=")/) : [];
    if (wanted.every((pair) => have.includes(pair))) return Number(match[3]);
  }
  return undefined;
}

const scrape = async (server: Pick<TestServer, 'url'>) => {
  const response = await fetch(server.url.replace(/graphql$/, 'metrics'));
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  return response.text();
};

describe(`Server-Timing (${backendName})`, () => {
  it('tells every HTTP response its time in the server', async () => {
    const { server, ann } = await startTeam();
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ann.token}` },
      body: JSON.stringify({ query: '{ me { id } }' }),
    });
    expect(response.status).toBe(200);
    const timing = /^total;dur=(\d+\.\d+)$/.exec(response.headers.get('server-timing') ?? '');
    expect(timing, response.headers.get('server-timing') ?? 'no header').not.toBeNull();
    expect(Number(timing![1])).toBeGreaterThan(0);
  });
});

describe(`GET /metrics (${backendName})`, () => {
  let team: Team;
  beforeAll(async () => {
    team = await startTeam();
  });

  it('counts operations, errors, sockets, subscriptions, published and delivered events', async () => {
    const { server, ann, bob, workspaceId } = team;
    const before = await scrape(server);
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const sub = subscribe(connect(server, bob.token), MessageAddedDocument, { channelId });
    await waitForSubscribers(server, channelId);
    for (const text of ['one', 'two', 'three']) await sendText(server, ann.token, channelId, text);
    await sub.waitForCount(3);
    await refused(server, 'UNAUTHENTICATED', MeDocument);

    const after = await scrape(server);
    const moved = (name: string, labels?: Record<string, string>) => (sample(after, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);
    expect(moved('parley_graphql_operation_duration_seconds_count', { operation: 'SendMessage', type: 'mutation' })).toBe(3);
    expect(moved('parley_graphql_operation_duration_seconds_count', { operation: 'MessageAdded', type: 'subscription' })).toBe(1);
    expect(moved('parley_graphql_errors_total', { code: 'UNAUTHENTICATED' })).toBe(1);
    expect(moved('parley_events_published_total', { kind: 'channel' })).toBeGreaterThanOrEqual(3);
    expect(moved('parley_events_delivered_total')).toBeGreaterThanOrEqual(3);
    // Lag is measured for live events only: messageAdded on a socket under 2 s old may
    // replay the first ones from the log (its connection lookback), which are not counted.
    expect(moved('parley_event_delivery_lag_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'parley_websocket_connections')).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'parley_subscriptions')).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(sample(after, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(after).toContain('# TYPE parley_rate_limited_total counter');
    expect(after).toContain('# TYPE parley_redis_reconnects_total counter');
    if (sharedServices.databaseUrl) expect(sample(after, 'parley_db_pool_connections')).toBeGreaterThanOrEqual(1);
    else expect(sample(after, 'parley_db_pool_connections')).toBe(0);

    sub.unsubscribe();
    const subscriptions = sample(after, 'parley_subscriptions')!;
    await expect
      .poll(async () => sample(await scrape(server), 'parley_subscriptions'), { timeout: 5_000 })
      .toBe(subscriptions - 1);
  });

  it('keeps each app\'s counts to itself', async () => {
    const other = plain;
    const { server, ann, workspaceId } = team;
    const channelId = await channelWith(server, workspaceId, ann);
    await sendText(server, ann.token, channelId, 'counted on the first app only');
    expect(sample(await scrape(server), 'parley_events_published_total', { kind: 'channel' })).toBeGreaterThanOrEqual(1);
    expect(sample(await scrape(other), 'parley_events_published_total', { kind: 'channel' }) ?? 0).toBe(0);
  });
});

describe('logging and database configuration', () => {
  it('logs JSON in production and pretty lines otherwise, unless LOG_FORMAT says', () => {
    expect(loadConfig({ NODE_ENV: 'production' }).logFormat).toBe('json');
    expect(loadConfig({}).logFormat).toBe('pretty');
    expect(loadConfig({ NODE_ENV: 'production', LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
    expect(() => loadConfig({ LOG_FORMAT: 'xml' })).toThrow(/LOG_FORMAT/);
  });

  it('bounds Postgres by default and refuses nonsense timeouts', () => {
    expect(loadConfig({})).toMatchObject({ databaseConnectTimeoutMs: 5_000, databaseStatementTimeoutMs: 10_000 });
    expect(loadConfig({ DATABASE_STATEMENT_TIMEOUT_MS: '2500' }).databaseStatementTimeoutMs).toBe(2_500);
    expect(() => loadConfig({ DATABASE_CONNECT_TIMEOUT_MS: 'soon' })).toThrow(/DATABASE_CONNECT_TIMEOUT_MS/);
    expect(() => loadConfig({ DATABASE_STATEMENT_TIMEOUT_MS: '0' })).toThrow(/DATABASE_STATEMENT_TIMEOUT_MS/);
  });
});
