import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogInDocument, SendMessageDocument } from '../client/generated/graphql.ts';
import type { App } from '../src/app.ts';
import { ok, request, type GraphQLResponse } from './support/client.ts';
import { sharedServices, startServer, testDatabaseUrl, until, type TestServer } from './support/server.ts';
import { startTcpProxy, type TcpProxy } from './support/tcpProxy.ts';
import { createParleyClient } from '../client/sdk/index.ts';
import WebSocket from 'ws';
import { channelWith, signUpUser, workspaceWith, type TestUser } from './support/world.ts';

const skip = !sharedServices.databaseUrl;

/** Timeouts short enough for a test, long enough for a loaded machine. */
const CONNECT_TIMEOUT_MS = 2_000;
const STATEMENT_TIMEOUT_MS = 4_000;
/** What "fails fast" means here: well under the 20 s and more that a hung request would take. */
const FAIL_WITHIN_MS = 12_000;

let proxy: TcpProxy;
let server: TestServer;
let ann: TestUser;
let channelId: string;

beforeAll(async () => {
  if (skip) return;
  const direct = new URL(testDatabaseUrl()!);
  proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
  const viaProxy = new URL(direct);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(proxy.port);
  server = await startServer({
    databaseUrl: viaProxy.toString(),
    databaseConnectTimeoutMs: CONNECT_TIMEOUT_MS,
    databaseStatementTimeoutMs: STATEMENT_TIMEOUT_MS,
  });
  ann = await signUpUser(server, 'ann');
  channelId = await channelWith(server, await workspaceWith(server, ann), ann);
});

afterAll(async () => {
  if (skip) return;
  proxy.heal();
  await server.stop();
});

const origin = () => server.url.replace(/\/graphql$/, '');

/** A request and how long it took. */
async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = Date.now();
  const value = await run();
  return { value, ms: Date.now() - start };
}

function expectDatabaseUnavailable(result: GraphQLResponse<unknown>) {
  expect(result.data ?? null, JSON.stringify(result)).toBeNull();
  expect(result.errors?.[0]?.extensions?.code, JSON.stringify(result.errors)).toBe('INTERNAL_SERVER_ERROR');
  expect(result.errors?.[0]?.message).toMatch(/database/i);
}

const send = (text: string) => request(server, SendMessageDocument, { input: { channelId, text } }, ann.token);
const logIn = () => request(server, LogInDocument, { input: { email: ann.email, password: ann.password } });
const readyz = () => fetch(`${origin()}/readyz`);

/** After a fault heals, the same app (not restarted) answers again. */
async function expectHealed(app: App) {
  await until(async () => (await readyz()).status === 200, '/readyz to answer 200 again', 20_000);
  expect(server.app).toBe(app);
  const { sendMessage } = await ok(server, SendMessageDocument, { input: { channelId, text: 'after healing' } }, ann.token);
  expect(sendMessage.text).toBe('after healing');
  expect((await ok(server, LogInDocument, { input: { email: ann.email, password: ann.password } })).logIn.token).toBeTruthy();
}

/** Each test waits out timeouts on purpose, and a busy machine stretches everything. */
const TEST_MS = 60_000;

describe.skipIf(skip)('Postgres faults', () => {
  it('fails fast during a network partition and serves again after it heals, without a restart', async () => {
    const app = server.app;
    await ok(server, SendMessageDocument, { input: { channelId, text: 'before' } }, ann.token);
    proxy.partition();
    try {
      const [sent, loggedIn, ready] = await Promise.all([timed(() => send('during')), timed(logIn), timed(readyz)]);
      expectDatabaseUnavailable(sent.value);
      expect(sent.ms).toBeLessThan(FAIL_WITHIN_MS);
      expectDatabaseUnavailable(loggedIn.value);
      expect(loggedIn.ms).toBeLessThan(FAIL_WITHIN_MS);
      expect(ready.value.status).toBe(503);
      expect(await ready.value.text()).toMatch(/database unreachable/);
      expect(ready.ms).toBeLessThan(3_500);
      // Once the pool's connections have been given up, new ones time out too.
      const again = await timed(() => send('still during'));
      expectDatabaseUnavailable(again.value);
      expect(again.ms).toBeLessThan(FAIL_WITHIN_MS);
    } finally {
      proxy.heal();
    }
    await expectHealed(app);
  }, TEST_MS);

  it('fails fast while Postgres refuses connections, and recovers', async () => {
    const app = server.app;
    proxy.refuse();
    proxy.cut();
    try {
      const [sent, loggedIn] = await Promise.all([timed(() => send('refused')), timed(logIn)]);
      expectDatabaseUnavailable(sent.value);
      expect(sent.ms).toBeLessThan(FAIL_WITHIN_MS);
      expectDatabaseUnavailable(loggedIn.value);
      expect(loggedIn.ms).toBeLessThan(FAIL_WITHIN_MS);
      const ready = await timed(readyz);
      expect(ready.value.status).toBe(503);
      expect(ready.ms).toBeLessThan(3_500);
    } finally {
      proxy.heal();
    }
    await expectHealed(app);
  }, TEST_MS);

  it('survives connections cut under it (the pool replaces them; the process keeps running)', async () => {
    const app = server.app;
    await ok(server, SendMessageDocument, { input: { channelId, text: 'warm the pool' } }, ann.token);
    const acceptedBefore = proxy.accepted;
    proxy.cut();
    await expectHealed(app);
    expect(proxy.accepted).toBeGreaterThan(acceptedBefore);
  }, TEST_MS);

  it('the SDK sends again after the server answers INTERNAL_SERVER_ERROR, and the message is stored once', async () => {
    proxy.refuse();
    proxy.cut();
    let failures = 0;
    // Counts the answers that carried the server's failure; the database heals after the first.
    const counting: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      const body = await response.clone().text();
      if (body.includes('INTERNAL_SERVER_ERROR')) {
        failures++;
        proxy.heal();
      }
      return response;
    };
    const client = createParleyClient({ url: server.url, token: ann.token, fetch: counting, webSocketImpl: WebSocket, retry: { baseDelayMs: 100, maxDelayMs: 1_000, attempts: 30 } });
    try {
      const clientMessageId = crypto.randomUUID();
      const sent = await client.sendMessage({ channelId, text: 'sent through a database outage', clientMessageId });
      expect(failures).toBeGreaterThanOrEqual(1);
      expect(sent.text).toBe('sent through a database outage');
      const stored = await server.app.runtime.prisma.message.count({ where: { clientMessageId } });
      expect(stored).toBe(1);
    } finally {
      proxy.heal();
      await client.dispose();
    }
  }, TEST_MS);
});
