import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll } from 'vitest';
import { createParley, type App } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { topics } from '../../src/pubsub.ts';
import { decodeId } from '../../src/schema/ids.ts';

/** Postgres and Redis when the environment names them (as .ci/run does); else the embedded default. */
export const sharedServices = {
  databaseUrl: process.env.DATABASE_URL || undefined,
  redisUrl: process.env.REDIS_URL || undefined,
};
export const backendName = `${sharedServices.databaseUrl ? 'Postgres' : 'PGlite'} + ${sharedServices.redisUrl ? 'Redis' : 'in-process pub/sub'}`;
export const skipWithoutSharedServices =
  !sharedServices.databaseUrl || !sharedServices.redisUrl
    ? 'skipped: needs DATABASE_URL and REDIS_URL (shared Postgres and Redis)'
    : false;

export const TEST_JWT_SECRET = 'parley-test-secret-0123456789abcdef0123456789';

/**
 * This test file's own database: a fresh Postgres schema, or a fresh PGlite
 * folder. Servers started in the same file share it (so restarts keep data).
 */
const fileId = crypto.randomBytes(5).toString('hex');
export const testDataDir = fs.mkdtempSync(path.join(os.tmpdir(), `parley-test-${fileId}-`));
export const testSchema = `test_${fileId}`;

export function testDatabaseUrl(): string | undefined {
  if (!sharedServices.databaseUrl) return undefined;
  const url = new URL(sharedServices.databaseUrl);
  url.searchParams.set('schema', testSchema);
  return url.toString();
}

export function testConfig(overrides: Partial<Config> = {}): Config {
  const defaults = loadConfig({});
  return {
    ...defaults,
    port: 0,
    host: '127.0.0.1',
    databaseUrl: testDatabaseUrl(),
    redisUrl: sharedServices.redisUrl,
    dataDir: testDataDir,
    jwtSecret: TEST_JWT_SECRET,
    logLevel: 'error',
    // Presence state in Redis belongs to this file's database only.
    redisKeyPrefix: `parley-test-${fileId}:`,
    // Suites sign up and post far faster than people do; the limits have tests of their own.
    rateLimits: { ...defaults.rateLimits, enabled: false },
    ...overrides,
  };
}

export interface TestServer {
  app: App;
  config: Config;
  url: string;
  wsUrl: string;
  stop(): Promise<void>;
}

const running = new Set<TestServer>();

/** Starts a real Parley server on a random port; stopped after the file if not before. */
export async function startServer(overrides: Partial<Config> = {}): Promise<TestServer> {
  const config = testConfig(overrides);
  const app = createParley(config);
  await app.start();
  const server: TestServer = {
    app,
    config,
    url: app.url,
    wsUrl: app.url.replace(/^http/, 'ws'),
    stop: async () => {
      if (!running.delete(server)) return;
      await app.stop();
    },
  };
  running.add(server);
  return server;
}

afterAll(async () => {
  for (const server of [...running]) await server.stop();
  fs.rmSync(testDataDir, { recursive: true, force: true });
  if (sharedServices.databaseUrl) {
    const client = new pg.Client({ connectionString: sharedServices.databaseUrl });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${testSchema}" CASCADE`);
    await client.query(`DROP SCHEMA IF EXISTS "${testSchema}_jobs" CASCADE`);
    await client.end();
  }
});

/** Polls `condition` until it holds; fails with `what` after `ms`. For conditions that emit no event. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Waits until `count` subscribers of the channel are listening on this server,
 * its pub/sub transport delivers the topic, and no subscription is still
 * opening (a stream listens first, then reads where it starts), so a test can
 * publish without racing.
 */
export function waitForSubscribers(server: TestServer, channelId: string, count = 1): Promise<void> {
  return waitForTopic(server, channelTopic(channelId), count);
}

/**
 * Waits until `count` local listeners of `topic` are registered on this
 * server and its pub/sub transport delivers the topic.
 */
export async function waitForTopic(server: TestServer, topic: string, count = 1): Promise<void> {
  const { pubsub, metrics } = server.app.runtime;
  await until(() => pubsub.listenerCount(topic) >= count && metrics.subscriptionsStarting === 0, `${count} listener(s) of ${topic}, opened`);
  const probe = server.app.runtime.pubsub.listen(topic, () => {});
  await probe.ready;
  await probe.close();
}

/** The pub/sub topic of a channel, from its global ID. */
export const channelTopic = (channelId: string) => topics.channel(decodeId(channelId).id);
