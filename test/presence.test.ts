import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LogInDocument,
  LogOutDocument,
  PresenceChangedDocument,
  SetTypingDocument,
  TypingDocument,
  type TypingSubscription,
  UserPresenceDocument,
  WorkspacePresenceDocument,
  type PresenceChangedSubscription,
  type PresenceStatus,
} from '../client/generated/graphql.ts';
import { loadConfig } from '../src/config.ts';
import { topics } from '../src/pubsub.ts';
import { decodeId } from '../src/schema/ids.ts';
import { TYPING_THROTTLE_MS } from '../src/services/typing.ts';
import { connect, connectAcknowledged, disconnect, ok, subscribe, type LiveSubscription } from './support/client.ts';
import { startInstance, type Instance } from './support/instances.ts';
import {
  backendName,
  sharedServices,
  skipWithoutSharedServices,
  startServer,
  until,
  waitForTopic,
  type TestServer,
} from './support/server.ts';
import { channelWith, signUpUser, signUpUsers, workspaceWith, type TestUser } from './support/world.ts';

/** Short, so that tests see users go offline quickly; long enough to tell "after the grace period" apart. */
const GRACE_MS = 300;

let server: TestServer;

beforeAll(async () => {
  server = await startServer({ presenceGraceMs: GRACE_MS });
});

const presenceTopic = (workspaceId: string) => topics.presence(decodeId(workspaceId).id);

/** `watcher` follows the workspace's presence (their own socket makes them ONLINE too). */
async function watchPresence(target: TestServer, watcher: TestUser, workspaceId: string) {
  const sub = subscribe(connect(target, watcher.token), PresenceChangedDocument, { workspaceId });
  await waitForTopic(target, presenceTopic(workspaceId));
  // The stream also listens for the watcher's revocations.
  await waitForTopic(target, topics.user(decodeId(watcher.id).id));
  return sub;
}

type PresenceEvents = LiveSubscription<PresenceChangedSubscription>;
const is = (user: TestUser, status: PresenceStatus) => (event: PresenceChangedSubscription) =>
  event.presenceChanged.user.id === user.id && event.presenceChanged.status === status;
const eventsOf = (sub: PresenceEvents, user: TestUser) =>
  sub.events.filter((e) => e.presenceChanged.user.id === user.id).map((e) => e.presenceChanged.status);

async function presenceOf(target: Pick<TestServer, 'url'>, user: TestUser, asker: TestUser) {
  const { node } = await ok(target, UserPresenceDocument, { id: user.id }, asker.token);
  if (node?.__typename !== 'User') throw new Error(`expected a User, got ${JSON.stringify(node)}`);
  return node.presence;
}

describe(`presence (${backendName})`, () => {
  it('keeps a user ONLINE while any of their devices is connected, and OFFLINE a grace period after the last closes', async () => {
    const [owner, ann, marker] = await signUpUsers(server, 'owner', 'ann', 'marker');
    const workspaceId = await workspaceWith(server, owner, [ann, marker]);
    const watch = await watchPresence(server, owner, workspaceId);

    const phone = await connectAcknowledged(server, ann.token);
    const online = await watch.waitFor(is(ann, 'ONLINE'), 'ann online');
    expect(online.presenceChanged.user.handle).toBe(ann.handle);
    expect((await presenceOf(server, ann, owner)).status).toBe('ONLINE');

    // A second device is not news. Another user's change, caused afterwards, arrives after anything it could cause.
    const laptop = await connectAcknowledged(server, ann.token);
    const markerDevice = await connectAcknowledged(server, marker.token);
    await watch.waitFor(is(marker, 'ONLINE'), 'marker online');
    expect(eventsOf(watch, ann)).toEqual(['ONLINE']);

    // Closing one device leaves ann ONLINE, also once a grace period has passed (the marker's).
    await disconnect(phone);
    await disconnect(markerDevice);
    await watch.waitFor(is(marker, 'OFFLINE'), 'marker offline');
    expect(eventsOf(watch, ann)).toEqual(['ONLINE']);
    expect((await presenceOf(server, ann, owner)).status).toBe('ONLINE');

    const closedAt = Date.now();
    await disconnect(laptop);
    const offline = await watch.waitFor(is(ann, 'OFFLINE'), 'ann offline');
    expect(Date.now() - closedAt).toBeGreaterThanOrEqual(GRACE_MS);
    expect(eventsOf(watch, ann)).toEqual(['ONLINE', 'OFFLINE']);

    // lastActiveAt is when the last device closed, stored in the database.
    const lastActiveAt = Date.parse(offline.presenceChanged.lastActiveAt!);
    expect(lastActiveAt).toBeGreaterThanOrEqual(closedAt - 5);
    expect(lastActiveAt).toBeLessThan(closedAt + GRACE_MS);
    expect(await presenceOf(server, ann, owner)).toEqual({ status: 'OFFLINE', lastActiveAt: offline.presenceChanged.lastActiveAt });
  });

  it('stays ONLINE through a reconnect within the grace period, announcing nothing', async () => {
    const [owner, ann, marker] = await signUpUsers(server, 'owner', 'ann', 'marker');
    const workspaceId = await workspaceWith(server, owner, [ann, marker]);
    const watch = await watchPresence(server, owner, workspaceId);
    await disconnect(await connectAcknowledged(server, ann.token));
    await connectAcknowledged(server, ann.token);
    await watch.waitFor(is(ann, 'ONLINE'), 'ann online');
    // The marker's full grace period starts after ann's reconnect.
    await disconnect(await connectAcknowledged(server, marker.token));
    await watch.waitFor(is(marker, 'OFFLINE'), 'marker offline');
    expect(eventsOf(watch, ann)).toEqual(['ONLINE']);
  });

  it("announces changes to each of the user's workspaces, and answers presence for a page of members at once", async () => {
    const [first, second, shared, absent] = await signUpUsers(server, 'first', 'second', 'shared', 'absent');
    const one = await workspaceWith(server, first, [shared, absent]);
    const two = await workspaceWith(server, second, [shared]);
    const watchOne = await watchPresence(server, first, one);
    const watchTwo = await watchPresence(server, second, two);
    await connectAcknowledged(server, shared.token);
    await watchOne.waitFor(is(shared, 'ONLINE'), 'shared online in workspace one');
    await watchTwo.waitFor(is(shared, 'ONLINE'), 'shared online in workspace two');

    const { workspace } = await ok(server, WorkspacePresenceDocument, { id: one, first: 10 }, first.token);
    const status = Object.fromEntries(workspace!.members.edges.map((e) => [e.node.id, e.node.presence.status]));
    expect(status).toEqual({ [first.id]: 'ONLINE', [shared.id]: 'ONLINE', [absent.id]: 'OFFLINE' });
  });

  it('answers OFFLINE with no lastActiveAt for someone who never connected', async () => {
    const [owner, never] = await signUpUsers(server, 'owner', 'never');
    await workspaceWith(server, owner, [never]);
    expect(await presenceOf(server, never, owner)).toEqual({ status: 'OFFLINE', lastActiveAt: null });
  });

  it('does not count sockets without a token', async () => {
    const [owner, ann] = await signUpUsers(server, 'owner', 'ann');
    const workspaceId = await workspaceWith(server, owner, [ann]);
    const watch = await watchPresence(server, owner, workspaceId);
    await connectAcknowledged(server);
    await connectAcknowledged(server, ann.token);
    await watch.waitFor(is(ann, 'ONLINE'), 'ann online');
    expect(watch.events.every((e) => [owner.id, ann.id].includes(e.presenceChanged.user.id))).toBe(true);
  });

  it('refuses presenceChanged outside your workspaces (NOT_FOUND) and without a token (UNAUTHENTICATED)', async () => {
    const [owner, outsider] = await signUpUsers(server, 'owner', 'outsider');
    const workspaceId = await workspaceWith(server, owner);
    const foreign = subscribe(connect(server, outsider.token), PresenceChangedDocument, { workspaceId });
    expect(JSON.stringify(await foreign.waitForError())).toContain('NOT_FOUND');
    const anonymous = subscribe(connect(server), PresenceChangedDocument, { workspaceId });
    expect(JSON.stringify(await anonymous.waitForError())).toContain('UNAUTHENTICATED');
    const channelId = await channelWith(server, workspaceId, owner);
    const wrongType = subscribe(connect(server, owner.token), PresenceChangedDocument, { workspaceId: channelId });
    expect(JSON.stringify(await wrongType.waitForError())).toContain('NOT_FOUND');
  });

  it('ends presenceChanged when the session is revoked', async () => {
    const owner = await signUpUser(server, 'owner');
    const workspaceId = await workspaceWith(server, owner);
    const { logIn } = await ok(server, LogInDocument, { input: { email: owner.email, password: owner.password } });
    const sub = await watchPresence(server, { ...owner, token: logIn.token }, workspaceId);
    await ok(server, LogOutDocument, {}, logIn.token);
    expect(JSON.stringify(await sub.waitForError())).toContain('UNAUTHENTICATED');
  });
});

describe('presence configuration', () => {
  it('defaults to a grace period of a few seconds and refuses a bad PRESENCE_GRACE_MS at start', () => {
    expect(loadConfig({}).presenceGraceMs).toBe(5_000);
    expect(loadConfig({ PRESENCE_GRACE_MS: '1500' }).presenceGraceMs).toBe(1_500);
    expect(() => loadConfig({ PRESENCE_GRACE_MS: 'soon' })).toThrow(/PRESENCE_GRACE_MS/);
    expect(() => loadConfig({ PRESENCE_GRACE_MS: '10' })).toThrow(/PRESENCE_GRACE_MS/);
  });
});

describe(`presence when the server stops (${backendName})`, () => {
  it('takes its users OFFLINE at once and stores lastActiveAt', async () => {
    await server.stop();
    // A grace period far longer than the test: only stop() itself can take ann offline in time.
    const first = await startServer({ presenceGraceMs: 60_000 });
    const [owner, ann] = await signUpUsers(first, 'owner', 'ann');
    await workspaceWith(first, owner, [ann]);
    await connectAcknowledged(first, ann.token);
    await until(async () => (await presenceOf(first, ann, owner)).status === 'ONLINE', 'ann online');
    const stoppedAt = Date.now();
    await first.stop();

    const second = await startServer({ presenceGraceMs: GRACE_MS });
    const { status, lastActiveAt } = await presenceOf(second, ann, owner);
    expect(status).toBe('OFFLINE');
    expect(Date.parse(lastActiveAt!)).toBeGreaterThanOrEqual(stoppedAt - 5);
    expect(Date.parse(lastActiveAt!)).toBeLessThanOrEqual(Date.now());
  });
});

describe.skipIf(skipWithoutSharedServices)(
  `presence and typing across instances${skipWithoutSharedServices ? ` (${skipWithoutSharedServices})` : ''}`,
  () => {
    const INSTANCE_GRACE_MS = 1_000;
    let a: Instance;
    let b: Instance;
    let c: Instance;
    let redis: Redis;
    // Presence keys of these instances only, so no other test's instances sweep or are swept.
    const env = { REDIS_KEY_PREFIX: `parley-test-${crypto.randomBytes(4).toString('hex')}:` };

    beforeAll(async () => {
      [a, b, c] = await Promise.all([
        startInstance('presence-a', { ...env, PRESENCE_GRACE_MS: String(INSTANCE_GRACE_MS) }),
        startInstance('presence-b', { ...env, PRESENCE_GRACE_MS: String(INSTANCE_GRACE_MS) }),
        // A long grace period: only a graceful stop can take its users offline quickly.
        startInstance('presence-c', { ...env, PRESENCE_GRACE_MS: '60000' }),
      ]);
      redis = new Redis(sharedServices.redisUrl!);
    }, 60_000);

    afterAll(() => redis?.disconnect());

    /** Waits until `count` instances have subscribed to the topic in Redis. */
    const subscribedInRedis = (topic: string, count = 1) =>
      until(async () => {
        const [, subscribers] = (await redis.pubsub('NUMSUB', `${env.REDIS_KEY_PREFIX}${topic}`)) as [string, number];
        return Number(subscribers) >= count;
      }, `${count} instance(s) subscribed to ${topic}`);

    async function watchOn(instance: Instance, watcher: TestUser, workspaceId: string) {
      const sub = subscribe(connect(instance, watcher.token), PresenceChangedDocument, { workspaceId });
      await subscribedInRedis(presenceTopic(workspaceId));
      return sub;
    }

    it('delivers typing on one instance to subscribers on another, throttled across both', async () => {
      const [ann, bob, cat] = await signUpUsers(a, 'ann', 'bob', 'cat');
      const workspaceId = await workspaceWith(a, ann, [bob, cat]);
      const channelId = await channelWith(a, workspaceId, ann, [bob, cat]);
      const onB = subscribe(connect(b, bob.token), TypingDocument, { channelId });
      await subscribedInRedis(topics.typing(decodeId(channelId).id));

      // Typing is best-effort and never stored: on a starved machine one publish
      // can be lost, so ann keeps typing the way a client does (once per throttle
      // window) until instance b has heard her; the output of both instances is
      // shown when it never does.
      let event: TypingSubscription | undefined;
      for (let attempt = 1; !event; attempt++) {
        await ok(a, SetTypingDocument, { channelId }, ann.token);
        event = await onB.waitFor((e) => e.typing.user.id === ann.id, 'ann typing, on instance b', TYPING_THROTTLE_MS + 2_000).catch((error: unknown) => {
          if (attempt < 3) return undefined;
          console.error(`instance a:\n${a.output.slice(-3000)}\ninstance b:\n${b.output.slice(-3000)}`);
          throw error;
        });
      }
      expect(event.typing.channel.id).toBe(channelId);
      const heard = onB.events.length;
      // Ann's other device, on the other instance, within the window: absorbed.
      expect((await ok(b, SetTypingDocument, { channelId }, ann.token)).setTyping).toBe(true);
      await ok(b, SetTypingDocument, { channelId }, cat.token);
      await onB.waitFor((e) => e.typing.user.id === cat.id, 'cat typing', 15_000);
      expect(onB.events.slice(heard).map((e) => e.typing.user.id)).toEqual([cat.id]);
    });

    it('takes the users of an instance killed with SIGKILL OFFLINE within the grace period; users also on a live instance stay ONLINE', async () => {
      const [watcher, bob, cat] = await signUpUsers(a, 'watcher', 'bob', 'cat');
      const workspaceId = await workspaceWith(a, watcher, [bob, cat]);
      const watch = await watchOn(a, watcher, workspaceId);
      await connectAcknowledged(b, bob.token);
      await connectAcknowledged(b, cat.token);
      await connectAcknowledged(a, cat.token);
      await watch.waitFor(is(bob, 'ONLINE'), 'bob online');
      await watch.waitFor(is(cat, 'ONLINE'), 'cat online');
      expect((await presenceOf(a, bob, watcher)).status).toBe('ONLINE');

      const killedAt = Date.now();
      b.child.kill('SIGKILL');
      const offline = await watch.waitFor(is(bob, 'OFFLINE'), 'bob offline', INSTANCE_GRACE_MS + 5_000);
      // Within the grace period, give or take delivery.
      expect(Date.now() - killedAt).toBeLessThan(INSTANCE_GRACE_MS + 750);
      // Last seen at instance b's last heartbeat.
      const lastActiveAt = Date.parse(offline.presenceChanged.lastActiveAt!);
      expect(lastActiveAt).toBeGreaterThan(killedAt - INSTANCE_GRACE_MS);
      expect(lastActiveAt).toBeLessThanOrEqual(killedAt + 50);
      expect(await presenceOf(a, bob, watcher)).toEqual({ status: 'OFFLINE', lastActiveAt: offline.presenceChanged.lastActiveAt });
      // Cat's device on instance a keeps cat ONLINE (the sweep decides both users at once).
      expect((await presenceOf(a, cat, watcher)).status).toBe('ONLINE');
      expect(eventsOf(watch, cat)).toEqual(['ONLINE']);
    });

    it('takes the users of an instance stopped with SIGTERM OFFLINE at once, not after its grace period', async () => {
      const [watcher, dan] = await signUpUsers(a, 'watcher', 'dan');
      const workspaceId = await workspaceWith(a, watcher, [dan]);
      const watch = await watchOn(a, watcher, workspaceId);
      await connectAcknowledged(c, dan.token);
      await watch.waitFor(is(dan, 'ONLINE'), 'dan online');
      c.child.kill('SIGTERM');
      expect(await c.exited).toBe(0);
      await watch.waitFor(is(dan, 'OFFLINE'), 'dan offline', 5_000);
    });
  },
);
