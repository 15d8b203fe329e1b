import type { IncomingMessage, ServerResponse } from 'node:http';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../../src/generated/prisma/client.ts';

/**
 * What every peer reads from its environment. Peers write into Parley's own
 * tables (Message, ChannelEvent, Channel counters) in the bench schema, on
 * channels the suite created for them, as one fixed author: no auth.
 */
export interface PeerEnv {
  port: number;
  databaseUrl: string;
  schema: string;
  redisUrl: string;
  authorId: string;
  /** Prefix of this peer's Redis topics, so peers never hear each other. */
  topicPrefix: string;
}

export function peerEnv(): PeerEnv {
  const need = (name: string): string => {
    const value = process.env[name];
    if (!value) throw new Error(`${name} is required`);
    return value;
  };
  const url = new URL(need('DATABASE_URL'));
  const schema = url.searchParams.get('schema') ?? 'public';
  url.searchParams.delete('schema');
  return {
    port: Number(need('PORT')),
    databaseUrl: url.toString(),
    schema,
    redisUrl: need('REDIS_URL'),
    authorId: need('BENCH_AUTHOR_ID'),
    topicPrefix: need('BENCH_TOPIC_PREFIX'),
  };
}

/** The same pool size Parley uses (src/db.ts: max 10), with the bench schema on the search path. */
export function peerPool(env: PeerEnv): pg.Pool {
  return new pg.Pool({ connectionString: env.databaseUrl, max: 10, options: `-c search_path="${env.schema}"` });
}

export function peerPrisma(env: PeerEnv): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg(peerPool(env), { schema: env.schema }) });
}

export interface SentMessage {
  id: string;
  text: string;
}

/**
 * A durable send the way a stock Prisma app writes it: an interactive
 * transaction that takes the channel's next sequence number, creates the
 * message and its channel event, and commits. Resolves after the commit.
 * maxWait/timeout are raised from Prisma's defaults (2 s / 5 s) so a hot
 * channel measures throughput rather than pool time-outs.
 */
export async function prismaSend(prisma: PrismaClient, authorId: string, channelId: string, text: string): Promise<SentMessage> {
  return prisma.$transaction(
    async (tx) => {
      const channel = await tx.channel.update({
        where: { id: channelId },
        data: { lastSeq: { increment: 1 }, messageCount: { increment: 1 } },
        select: { lastSeq: true, messageCount: true },
      });
      const message = await tx.message.create({
        data: { channelId, seq: channel.lastSeq, number: channel.messageCount, authorId, text },
        select: { id: true, text: true },
      });
      await tx.channelEvent.create({
        data: { channelId, seq: channel.lastSeq, type: 'MESSAGE_ADDED', messageId: message.id, userId: authorId },
      });
      return message;
    },
    { maxWait: 30_000, timeout: 30_000 },
  );
}

/** GET /healthz → 200; returns true when it answered. */
export function healthz(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.url !== '/healthz') return false;
  res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
  return true;
}

export const PEER_SDL = /* GraphQL */ `
  type Message { id: ID! text: String! }
  type Query { ok: Boolean! }
  type Mutation { send(channelId: ID!, text: String!): Message! }
  type Subscription { messageAdded(channelId: ID!): Message! }
`;

/** Exit cleanly on SIGTERM so the runner's stop() is quick. */
export function exitOnSignal(close: () => Promise<unknown>): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      close().finally(() => process.exit(0));
    });
  }
}
