/**
 * Peer (c): Fastify + Mercurius with `jit: 1` (graphql-jit after the first
 * run of a query) and subscriptions over mqemitter-redis, as Mercurius's docs
 * show. Sends are the same Prisma transaction as the stock peer.
 */
import Fastify from 'fastify';
import mercurius, { type IResolvers } from 'mercurius';
import mqemitterRedis from 'mqemitter-redis';
import { exitOnSignal, PEER_SDL, peerEnv, peerPrisma, prismaSend } from './common.ts';

const env = peerEnv();
const prisma = peerPrisma(env);
const redis = new URL(env.redisUrl);
const emitter = mqemitterRedis({ host: redis.hostname, port: Number(redis.port || 6379) });
const topic = (channelId: string) => `${env.topicPrefix}${channelId}`;

const resolvers: IResolvers = {
  Query: { ok: () => true },
  Mutation: {
    send: async (_root, args: { channelId: string; text: string }, { pubsub }) => {
      const message = await prismaSend(prisma, env.authorId, args.channelId, args.text);
      await pubsub.publish({ topic: topic(args.channelId), payload: { messageAdded: message } });
      return message;
    },
  },
  Subscription: {
    messageAdded: {
      subscribe: async (_root, args: { channelId: string }, { pubsub }) => pubsub.subscribe(topic(args.channelId)),
    },
  },
};

const app = Fastify({ logger: false });
await app.register(mercurius, {
  schema: PEER_SDL,
  resolvers,
  jit: 1,
  subscription: { emitter },
});
app.get('/healthz', async () => 'ok\n');
await app.listen({ port: env.port, host: '127.0.0.1' });

exitOnSignal(async () => {
  await app.close();
  await prisma.$disconnect();
});
