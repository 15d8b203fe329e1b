/**
 * Peer (a), "stock": graphql-yoga + graphql-ws + graphql-redis-subscriptions +
 * Prisma, wired as the libraries' docs show. Every subscriber's event is
 * executed separately (the default), and a send is one Prisma interactive
 * transaction acknowledged after its commit.
 */
import { createServer } from 'node:http';
import type { ExecutionArgs } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { createSchema, createYoga } from 'graphql-yoga';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import { Redis } from 'ioredis';
import { WebSocketServer } from 'ws';
import { exitOnSignal, healthz, PEER_SDL, peerEnv, peerPrisma, prismaSend } from './common.ts';

const env = peerEnv();
const prisma = peerPrisma(env);
const pubsub = new RedisPubSub({ publisher: new Redis(env.redisUrl), subscriber: new Redis(env.redisUrl) });
const topic = (channelId: string) => `${env.topicPrefix}${channelId}`;

const schema = createSchema({
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

const yoga = createYoga({ schema, graphqlEndpoint: '/graphql', graphiql: false, logging: false });
const server = createServer((req, res) => {
  if (!healthz(req, res)) void yoga(req, res);
});
const wsServer = new WebSocketServer({ server, path: '/graphql' });

type EnvelopedRoot = { execute: (args: ExecutionArgs) => unknown; subscribe: (args: ExecutionArgs) => unknown };

// As in graphql-yoga's examples/graphql-ws.
useServer(
  {
    execute: (args) => (args.rootValue as EnvelopedRoot).execute(args) as never,
    subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args) as never,
    onSubscribe: async (ctx, _id, params) => {
      const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
        ...ctx,
        req: ctx.extra.request,
        socket: ctx.extra.socket,
        params,
      });
      const args = {
        schema,
        operationName: params.operationName,
        document: parse(params.query),
        variableValues: params.variables,
        contextValue: await contextFactory(),
        rootValue: { execute, subscribe },
      };
      const errors = validate(args.schema, args.document);
      if (errors.length) return errors;
      return args;
    },
  },
  wsServer,
);

server.listen(env.port, '127.0.0.1');
exitOnSignal(async () => {
  wsServer.close();
  server.close();
  await pubsub.close();
  await prisma.$disconnect();
});
