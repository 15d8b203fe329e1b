import type { Background } from './background.ts';
import type { Config } from './config.ts';
import type { Database, PrismaClient } from './db.ts';
import type { Jobs } from './jobs.ts';
import type { DeliveryState } from './services/delivery.ts';
import type { FileStore } from './storage/index.ts';
import type { Log } from './log.ts';
import type { Metrics } from './metrics.ts';
import type { PubSub } from './pubsub.ts';
import type { RateLimits } from './security/rateLimits.ts';
import type { RedisConnections } from './redis.ts';
import type { Tokens } from './services/auth.ts';
import type { PresenceTracker } from './services/presence.ts';
import type { SendQueue } from './services/sendQueue.ts';
import type { TypingThrottle } from './services/typing.ts';

/**
 * Everything one Parley app owns: created by the app from its config when it
 * starts, handed to services as their first argument and to resolvers through
 * the context. Nothing here is a module singleton, so two apps in one process
 * (tests, or Parley embedded in another Node server) never see each other.
 */
export interface Runtime {
  readonly config: Config;
  readonly log: Log;
  /** Prometheus metrics on the app's own registry (`GET /metrics`). */
  readonly metrics: Metrics;
  readonly db: Database;
  readonly prisma: PrismaClient;
  /** The app's Redis connections when REDIS_URL is set; null when everything is in-process. */
  readonly redis: RedisConnections | null;
  readonly pubsub: PubSub;
  readonly tokens: Tokens;
  readonly presence: PresenceTracker;
  readonly typing: TypingThrottle;
  readonly limits: RateLimits;
  /** Sends waiting for, or in, a group commit (see services/sendQueue.ts). */
  readonly sends: SendQueue;
  /** Work requests start and do not wait for; stop() waits for it. */
  readonly background: Background;
  /** The durable job queue (pg-boss in the app's database): email, push and webhooks. */
  readonly jobs: Jobs;
  /** Web Push keys and webhook lookups (see services/delivery.ts). */
  readonly delivery: DeliveryState;
  /** Where attachments' bytes are kept: local disk or S3 (see storage/index.ts). */
  readonly files: FileStore;
}

/**
 * One `T` per app, made from its runtime on first use: what a module keeps
 * for each app (a cache, a shared reader) without a field of its own here.
 */
export function perRuntime<T>(create: (rt: Runtime) => T): (rt: Runtime) => T {
  const made = new WeakMap<Runtime, T>();
  return (rt) => {
    let value = made.get(rt);
    if (value === undefined) made.set(rt, (value = create(rt)));
    return value;
  };
}
