/**
 * Peer (b): Apollo Server (the version installed, see bench/README.md) over
 * Express with `expressMiddleware`, graphql-ws's `useServer` for
 * subscriptions and graphql-redis-subscriptions, as Apollo's subscriptions
 * docs show. Sends are the same Prisma transaction as the stock peer.
 */
import { createServer } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { expressMiddleware } from '@as-integrations/express5';
import { makeExecutableSchema } from '@graphql-tools/schema';
import express from 'express';
import { useServer } from 'graphql-ws/use/ws';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import { Redis } from 'ioredis';
import { WebSocketServer } from 'ws';
import { exitOnSignal, PEER_SDL, peerEnv, peerPrisma, prismaSend } from './common.ts';

const env = peerEnv();
const prisma = peerPrisma(env);
const pubsub = new RedisPubSub({ publisher: new Redis(env.redisUrl), subscriber: new Redis(env.redisUrl) });
const topic = (channelId: string) => `${env.topicPrefix}${channelId}`;

const schema = makeExecutableSchema({
  typeDefs: PEER_SDL,
  resolvers: {
    Query: { ok: () => true },
    Mutation: {
      send: async (_root: unknown, args: { channelId: string; text: string }) => {
        const message = await prismaSend(prisma, env.authorId, args.channelId, args.text);
        await pubsub.publish(topic(args.channelId), { messageAdded: message });
        return message;
      },
    },
    Subscription: {
      messageAdded: { subscribe: (_root: unknown, args: { channelId: string }) => pubsub.asyncIterator(topic(args.channelId)) },
    },
  },
});

const app = express();
const httpServer = createServer(app);
const wsServer = new WebSocketServer({ server: httpServer, path: '/graphql' });
const wsCleanup = useServer({ schema }, wsServer);

const apollo = new ApolloServer({
  schema,
  plugins: [
    ApolloServerPluginDrainHttpServer({ httpServer }),
    { serverWillStart: async () => ({ drainServer: async () => void (await wsCleanup.dispose()) }) },
  ],
});
await apollo.start();
app.get('/healthz', (_req, res) => void res.send('ok\n'));
app.use('/graphql', express.json({ limit: '1mb' }), expressMiddleware(apollo));
httpServer.listen(env.port, '127.0.0.1');

exitOnSignal(async () => {
  await apollo.stop();
  await pubsub.close();
  await prisma.$disconnect();
});
