import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ChannelEventsDocument,
  ChannelMessagesDocument,
  DeleteMessageDocument,
  EditMessageDocument,
  LogInDocument,
  LogOutDocument,
  MeDocument,
  MessageAddedDocument,
  NotificationAddedDocument,
  NotificationsDocument,
  OpenDirectMessageDocument,
  SendMessageDocument,
  type ChannelEventsSubscription,
} from '../client/generated/graphql.ts';
import { topics } from '../src/pubsub.ts';
import { decodeId } from '../src/schema/ids.ts';
import { connect, ok, refused, request, subscribe } from './support/client.ts';
import { startInstance, subscriptionsOpened, type Instance } from './support/instances.ts';
import { channelTopic, sharedServices, skipWithoutSharedServices, testConfig, until } from './support/server.ts';
import { channelWith, signUpUser, workspaceWith } from './support/world.ts';

/** A topic's name in Redis: instances prefix it with REDIS_KEY_PREFIX. */
const inRedis = (topic: string) => `${testConfig().redisKeyPrefix}${topic}`;

describe.skipIf(skipWithoutSharedServices)(
  `two instances on one Postgres and Redis${skipWithoutSharedServices ? ` (${skipWithoutSharedServices})` : ''}`,
  () => {
    let a: Instance;
    let b: Instance;
    let redis: Redis;

    beforeAll(async () => {
      // The first instance migrates; starting both at once also exercises the migration lock.
      [a, b] = await Promise.all([startInstance('a'), startInstance('b')]);
      redis = new Redis(sharedServices.redisUrl!);
    }, 60_000);

    afterAll(() => {
      redis?.disconnect();
    });

    it('delivers a message sent to one instance to subscribers on the other', async () => {
      const ann = await signUpUser(a, 'ann');
      const bob = await signUpUser(b, 'bob');
      const workspaceId = await workspaceWith(a, ann, [bob]);
      const channelId = await channelWith(b, workspaceId, bob, [ann]);

      const onB = subscribe(connect(b, bob.token), MessageAddedDocument, { channelId });
      const onA = subscribe(connect(a, ann.token), MessageAddedDocument, { channelId });
      // Both instances have subscribed to the channel's Redis topic.
      await until(async () => {
        const [, count] = (await redis.pubsub('NUMSUB', inRedis(channelTopic(channelId)))) as [string, number];
        return Number(count) >= 2;
      }, 'both instances to subscribe in Redis');
      await Promise.all([subscriptionsOpened(a), subscriptionsOpened(b)]);

      const { sendMessage } = await ok(a, SendMessageDocument, { input: { channelId, text: 'across instances' } }, ann.token);
      const received = await onB.waitFor((e) => e.messageAdded.id === sendMessage.id, 'the message on instance b');
      expect(received.messageAdded).toMatchObject({ text: 'across instances', author: { id: ann.id } });
      await onA.waitFor((e) => e.messageAdded.id === sendMessage.id, 'the message on instance a');
    });

    it('stores a DM’s notification once and delivers it live on the recipient’s instance', async () => {
      const ann = await signUpUser(a, 'nann');
      const bob = await signUpUser(b, 'nbob');
      const workspaceId = await workspaceWith(a, ann, [bob]);
      const { openDirectMessage } = await ok(a, OpenDirectMessageDocument, { input: { workspaceId, userIds: [bob.id] } }, ann.token);
      const live = subscribe(connect(b, bob.token), NotificationAddedDocument, {});
      await until(async () => {
        const [, count] = (await redis.pubsub('NUMSUB', inRedis(topics.user(decodeId(bob.id).id)))) as [string, number];
        return Number(count) >= 1;
      }, "instance b to subscribe to bob's topic");
      const { sendMessage } = await ok(a, SendMessageDocument, { input: { channelId: openDirectMessage.id, text: 'psst' } }, ann.token);
      const added = await live.waitFor((e) => e.notificationAdded.message?.id === sendMessage.id, 'the notification on instance b', 10_000);
      expect(added.notificationAdded).toMatchObject({ type: 'DIRECT_MESSAGE', count: 1, actor: { id: ann.id } });
      const { notifications } = await ok(a, NotificationsDocument, { first: 10 }, bob.token);
      expect(notifications.edges.map((e) => e.node.id)).toEqual([added.notificationAdded.id]);
    });

    /** Waits until `count` instances have subscribed to the channel's Redis topic. */
    const redisSubscribers = async (channelId: string, count: number) => {
      await until(async () => {
        const [, subscribers] = (await redis.pubsub('NUMSUB', inRedis(channelTopic(channelId)))) as [string, number];
        return Number(subscribers) >= count;
      }, `${count} instance(s) subscribed to the channel in Redis`);
      await Promise.all([subscriptionsOpened(a), subscriptionsOpened(b)]);
    };
    const inner = (data: ChannelEventsSubscription[]) => data.map((d) => d.channelEvents);

    it('resumes on one instance what was sent to the other, with no gap and no duplicate', async () => {
      const ann = await signUpUser(a, 'ann');
      const bob = await signUpUser(b, 'bob');
      const workspaceId = await workspaceWith(a, ann, [bob]);
      const channelId = await channelWith(a, workspaceId, ann, [bob]);
      const send = (text: string) => ok(a, SendMessageDocument, { input: { channelId, text } }, ann.token).then((r) => r.sendMessage);

      const first = subscribe(connect(b, bob.token), ChannelEventsDocument, { channelId });
      await redisSubscribers(channelId, 1);
      await send('before');
      const [seen] = inner(await first.waitForCount(1));
      first.unsubscribe();

      const missed = [];
      for (let i = 1; i <= 30; i++) missed.push(await send(`missed ${i}`));
      await ok(a, EditMessageDocument, { input: { messageId: missed[0]!.id, text: 'edited' } }, ann.token);
      await ok(a, DeleteMessageDocument, { messageId: missed[1]!.id }, ann.token);

      const resumed = subscribe(connect(b, bob.token), ChannelEventsDocument, { channelId, after: seen!.cursor });
      const sending = (async () => {
        for (let i = 1; i <= 20; i++) await send(`live ${i}`);
      })();
      const events = inner(await resumed.waitForCount(52, 20_000));
      await sending;
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 52 }, (_, i) => seen!.seq + 1 + i));
      expect(events.map((e) => e.type)).toEqual([
        ...Array(30).fill('MESSAGE_ADDED'),
        'MESSAGE_EDITED',
        'MESSAGE_DELETED',
        ...Array(20).fill('MESSAGE_ADDED'),
      ]);
    });

    it('gives subscribers on both instances the same total order as the database under concurrent senders', async () => {
      const users = await Promise.all(['s0', 's1', 's2', 's3'].map((n, i) => signUpUser(i % 2 ? b : a, n)));
      const workspaceId = await workspaceWith(a, users[0]!, users.slice(1));
      const channelId = await channelWith(a, workspaceId, users[0]!, users.slice(1));
      const subs = [
        subscribe(connect(a, users[0]!.token), ChannelEventsDocument, { channelId }),
        subscribe(connect(b, users[1]!.token), ChannelEventsDocument, { channelId }),
      ];
      await redisSubscribers(channelId, 2);
      await Promise.all(
        users.map(async (user, s) => {
          const target = s % 2 ? b : a;
          for (let i = 0; i < 100; i++) await ok(target, SendMessageDocument, { input: { channelId, text: `s${s}-${i}` } }, user.token);
        }),
      );
      const orders = await Promise.all(subs.map(async (sub) => inner(await sub.waitForCount(400, 40_000)).map((e) => e.message!.id)));
      expect(orders[1]).toEqual(orders[0]);
      const stored: string[] = [];
      let after: string | null | undefined;
      for (;;) {
        const { channel } = await ok(a, ChannelMessagesDocument, { id: channelId, first: 100, after }, users[0]!.token);
        stored.push(...channel!.messages.edges.map((e) => e.node.id));
        if (!channel!.messages.pageInfo.hasNextPage) break;
        after = channel!.messages.pageInfo.endCursor;
      }
      expect(stored).toEqual(orders[0]);
    }, 60_000);

    it('revokes a token on every instance at once: logOut on one, refused on the other', async () => {
      const user = await signUpUser(a, 'revoker');
      const { logIn } = await ok(a, LogInDocument, { input: { email: user.email, password: user.password } });
      // Both instances have checked (and cached) the session.
      await ok(a, MeDocument, {}, logIn.token);
      await ok(b, MeDocument, {}, logIn.token);
      await ok(a, LogOutDocument, {}, logIn.token);
      await until(async () => (await request(b, MeDocument, {}, logIn.token)).errors?.[0]?.extensions?.code === 'UNAUTHENTICATED', 'instance b to refuse the revoked token', 2_000);
      await refused(a, 'UNAUTHENTICATED', MeDocument, {}, logIn.token);
      await ok(b, MeDocument, {}, user.token);
    });

    it('shuts down gracefully on SIGTERM: open sockets close with 1001 and the process exits 0', async () => {
      const user = await signUpUser(a, 'closer');
      let closeCode = 0;
      const client = connect(b, user.token, { onClose: (code) => (closeCode = code) });
      await until(() => b.child.exitCode === null, 'instance b to be running');
      // A subscription makes sure the socket is open and acknowledged before the signal.
      const workspaceId = await workspaceWith(a, user);
      const channelId = await channelWith(a, workspaceId, user);
      subscribe(client, MessageAddedDocument, { channelId });
      await until(async () => {
        const [, count] = (await redis.pubsub('NUMSUB', inRedis(channelTopic(channelId)))) as [string, number];
        return Number(count) >= 1;
      }, 'the subscription on instance b');
      b.child.kill('SIGTERM');
      expect(await b.exited).toBe(0);
      await until(() => closeCode !== 0, 'the socket to close');
      expect(closeCode).toBe(1001);
    });
  },
);
