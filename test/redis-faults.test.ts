import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ChannelEventsDocument,
  LogInDocument,
  LogOutDocument,
  MeDocument,
  SendMessageDocument,
  SetTypingDocument,
} from '../client/generated/graphql.ts';
import { loadConfig } from '../src/config.ts';
import { connect, connectAcknowledged, ok, refused, request, subscribe } from './support/client.ts';
import { startInstance, subscriptionsOpened, type Instance } from './support/instances.ts';
import { startRedisProxy, type RedisProxy } from './support/redisProxy.ts';
import {
  channelTopic,
  sharedServices,
  skipWithoutSharedServices,
  startServer,
  testConfig,
  until,
  waitForTopic,
  type TestServer,
} from './support/server.ts';
import { channelWith, signUpUser, signUpUsers, workspaceWith, type TestUser } from './support/world.ts';

/** The default REDIS_COMMAND_TIMEOUT_MS: the longest a command waits for a Redis that does not answer. */
const COMMAND_TIMEOUT_MS = 2_000;
/** Slack for a loaded machine (other test files run at the same time). */
const SLACK_MS = 2_000;

const readyz = async (target: Pick<TestServer, 'url'>) => (await fetch(new URL('/readyz', target.url))).status;

/** How long `action` took, in ms, with its result. */
async function timed<T>(action: () => Promise<T>): Promise<[T, number]> {
  const started = Date.now();
  const result = await action();
  return [result, Date.now() - started];
}

const unauthenticated = async (target: Pick<TestServer, 'url'>, token: string) =>
  (await request(target, MeDocument, {}, token)).errors?.[0]?.extensions?.code === 'UNAUTHENTICATED';

describe('Redis configuration', () => {
  it('fails commands after 2 s by default, and refuses a bad REDIS_COMMAND_TIMEOUT_MS at start', () => {
    expect(loadConfig({}).redisCommandTimeoutMs).toBe(COMMAND_TIMEOUT_MS);
    expect(loadConfig({ REDIS_COMMAND_TIMEOUT_MS: '500' }).redisCommandTimeoutMs).toBe(500);
    expect(() => loadConfig({ REDIS_COMMAND_TIMEOUT_MS: 'soon' })).toThrow(/REDIS_COMMAND_TIMEOUT_MS/);
    expect(() => loadConfig({ REDIS_COMMAND_TIMEOUT_MS: '0' })).toThrow(/REDIS_COMMAND_TIMEOUT_MS/);
  });
});

describe.skipIf(skipWithoutSharedServices)(
  `an instance whose Redis fails${skipWithoutSharedServices ? ` (${skipWithoutSharedServices})` : ''}`,
  () => {
    let proxy: RedisProxy;
    let server: TestServer;

    beforeAll(async () => {
      proxy = await startRedisProxy(sharedServices.redisUrl!);
      server = await startServer({ redisUrl: proxy.url });
    });

    afterEach(async () => {
      proxy.heal();
      await until(async () => (await readyz(server)) === 200, 'the server to be ready again', 20_000);
    });

    it('answers /readyz 503 within the command timeout, and 200 again once Redis is back', async () => {
      expect(await readyz(server)).toBe(200);
      proxy.partition();
      const [status, ms] = await timed(() => readyz(server));
      expect(status).toBe(503);
      expect(ms).toBeLessThan(COMMAND_TIMEOUT_MS + SLACK_MS);
      proxy.heal();
      await until(async () => (await readyz(server)) === 200, '/readyz to answer 200 after the partition heals', 20_000);
    });

    it('answers setTyping and logOut within bounded time; logOut succeeds and takes effect', async () => {
      const ann = await signUpUser(server, 'ann');
      const workspaceId = await workspaceWith(server, ann);
      const channelId = await channelWith(server, workspaceId, ann);
      const { logIn } = await ok(server, LogInDocument, { input: { email: ann.email, password: ann.password } });
      await ok(server, MeDocument, {}, logIn.token);

      proxy.partition();
      // The throttle and the publish each wait for at most the command timeout.
      const [typing, typingMs] = await timed(() => ok(server, SetTypingDocument, { channelId }, ann.token));
      expect(typing.setTyping).toBe(true);
      expect(typingMs).toBeLessThan(2 * COMMAND_TIMEOUT_MS + SLACK_MS);

      const [loggedOut, logOutMs] = await timed(() => ok(server, LogOutDocument, {}, logIn.token));
      expect(loggedOut.logOut).toBe(true);
      expect(logOutMs).toBeLessThan(COMMAND_TIMEOUT_MS + SLACK_MS);
      await refused(server, 'UNAUTHENTICATED', MeDocument, {}, logIn.token);
      await ok(server, MeDocument, {}, ann.token);
    });

    it('unsubscribes in Redis, once it is back, a topic whose last subscriber left during the outage', async () => {
      const ann = await signUpUser(server, 'ann');
      const workspaceId = await workspaceWith(server, ann);
      const channelId = await channelWith(server, workspaceId, ann);
      const topic = channelTopic(channelId);
      const sub = subscribe(connect(server, ann.token), ChannelEventsDocument, { channelId });
      await waitForTopic(server, topic);
      const direct = new Redis(sharedServices.redisUrl!);
      const subscribers = async () => Number(((await direct.pubsub('NUMSUB', `${server.config.redisKeyPrefix}${topic}`)) as [string, number])[1]);
      try {
        expect(await subscribers()).toBe(1);
        proxy.cut({ refuse: true });
        sub.unsubscribe();
        await until(() => server.app.runtime.pubsub.listenerCount(topic) === 0, 'the stream to close');
        proxy.heal();
        await until(async () => (await subscribers()) === 0, 'the topic to be unsubscribed in Redis', 20_000);
      } finally {
        direct.disconnect();
      }
    });

    it('stops within bounded time while Redis does not answer', async () => {
      const other = await startServer({ redisUrl: proxy.url });
      const ann = await signUpUser(other, 'ann');
      await connectAcknowledged(other, ann.token);
      proxy.partition();
      const [, ms] = await timed(() => other.stop());
      expect(ms).toBeLessThan(3 * COMMAND_TIMEOUT_MS + SLACK_MS);
    });
  },
);

describe.skipIf(skipWithoutSharedServices)(
  `two instances whose Redis connections are cut${skipWithoutSharedServices ? ` (${skipWithoutSharedServices})` : ''}`,
  () => {
    let proxy: RedisProxy;
    let a: Instance;
    let b: Instance;
    /** Connected to Redis directly: its Redis never fails. */
    let c: Instance;
    let redis: Redis;

    beforeAll(async () => {
      proxy = await startRedisProxy(sharedServices.redisUrl!);
      [a, b, c] = await Promise.all([
        startInstance('faults-a', { REDIS_URL: proxy.url }),
        startInstance('faults-b', { REDIS_URL: proxy.url }),
        startInstance('faults-c'),
      ]);
      redis = new Redis(sharedServices.redisUrl!);
    }, 60_000);

    afterAll(() => redis?.disconnect());

    afterEach(async () => {
      proxy.heal();
      await until(async () => (await readyz(a)) === 200 && (await readyz(b)) === 200, 'both instances to be ready again', 20_000);
    });

    const subscribedInRedis = async (channelId: string) => {
      await until(async () => {
        const [, count] = (await redis.pubsub('NUMSUB', `${testConfig().redisKeyPrefix}${channelTopic(channelId)}`)) as [string, number];
        return Number(count) >= 1;
      }, 'the channel subscribed in Redis', 10_000);
      await Promise.all([subscriptionsOpened(a), subscriptionsOpened(b)]);
    };

    it('delivers every event committed during the outage to a subscriber on the other instance once Redis is back, once each and in order', async () => {
      const [ann, bob] = (await signUpUsers(a, 'ann', 'bob')) as [TestUser, TestUser];
      const workspaceId = await workspaceWith(a, ann, [bob]);
      const channelId = await channelWith(a, workspaceId, ann, [bob]);
      const send = (text: string) => ok(a, SendMessageDocument, { input: { channelId, text } }, ann.token).then((r) => r.sendMessage);

      const onB = subscribe(connect(b, bob.token), ChannelEventsDocument, { channelId });
      await subscribedInRedis(channelId);
      await send('before');
      const [first] = await onB.waitForCount(1, 10_000);

      proxy.cut({ refuse: true });
      const missed = [];
      for (let i = 1; i <= 5; i++) {
        // Acknowledged after the commit; the publish to the unreachable Redis fails at once.
        const [message, ms] = await timed(() => send(`during ${i}`));
        expect(ms).toBeLessThan(COMMAND_TIMEOUT_MS + SLACK_MS);
        missed.push(message);
      }
      proxy.heal();

      // Nothing else is sent: the outage's events must arrive by themselves.
      const events = (await onB.waitForCount(6, 30_000)).map((e) => e.channelEvents);
      expect(events.slice(1).map((e) => e.message?.id)).toEqual(missed.map((m) => m.id));
      const after = await send('after');
      const all = (await onB.waitForCount(7, 10_000)).map((e) => e.channelEvents);
      expect(all.map((e) => e.seq)).toEqual(Array.from({ length: 7 }, (_, i) => first!.channelEvents.seq + i));
      expect(all[6]!.message?.id).toBe(after.id);
      expect(onB.errors).toEqual([]);
      expect(b.output).toMatch(/redis subscriber connection: .*reconnecting/);
      expect(b.output).toMatch(/redis subscriber connection: reconnected/);
    }, 90_000);

    it('refuses on the other instance a token logged out during the outage', async () => {
      const user = await signUpUser(a, 'leaver');
      const { logIn } = await ok(a, LogInDocument, { input: { email: user.email, password: user.password } });
      // Both instances have checked (and cached) the session.
      await ok(a, MeDocument, {}, logIn.token);
      await ok(b, MeDocument, {}, logIn.token);
      const workspaceId = await workspaceWith(a, user);
      const channelId = await channelWith(a, workspaceId, user);
      const stream = subscribe(connect(b, logIn.token), ChannelEventsDocument, { channelId });
      await subscribedInRedis(channelId);

      proxy.cut({ refuse: true });
      const [loggedOut, ms] = await timed(() => ok(a, LogOutDocument, {}, logIn.token));
      expect(loggedOut.logOut).toBe(true);
      expect(ms).toBeLessThan(COMMAND_TIMEOUT_MS + SLACK_MS);
      // b's revocation feed is down: it checks sessions in the database instead of trusting its cache.
      await until(() => unauthenticated(b, logIn.token), 'instance b to refuse the revoked token', 5_000);
      await ok(b, MeDocument, {}, user.token);

      proxy.heal();
      await until(async () => (await readyz(b)) === 200, 'instance b to be ready again', 20_000);
      await refused(b, 'UNAUTHENTICATED', MeDocument, {}, logIn.token);
      await ok(b, MeDocument, {}, user.token);
      // The revocation's broadcast was lost; the open stream of that session ends anyway.
      expect(JSON.stringify(await stream.waitForError(20_000))).toContain('UNAUTHENTICATED');
    }, 60_000);

    it('refuses a token logged out during the outage on an instance whose Redis stayed up, once the broadcast gets through', async () => {
      const user = await signUpUser(a, 'leaver');
      const { logIn } = await ok(a, LogInDocument, { input: { email: user.email, password: user.password } });
      await ok(a, MeDocument, {}, logIn.token);
      await ok(c, MeDocument, {}, logIn.token);

      proxy.cut({ refuse: true });
      expect((await ok(a, LogOutDocument, {}, logIn.token)).logOut).toBe(true);
      // c heard nothing and trusts its cache; a broadcasts again once its Redis is back.
      proxy.heal();
      await until(() => unauthenticated(c, logIn.token), 'instance c to refuse the revoked token', 10_000);
      await ok(c, MeDocument, {}, user.token);
    }, 60_000);
  },
);
