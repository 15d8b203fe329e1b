import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.ts';
import { openDatabase } from './db.ts';
import { applySearchLanguage } from './searchLanguage.ts';
import { createLog, withoutLogFields, type Log, type LogDestination } from './log.ts';
import { Metrics } from './metrics.ts';
import { LocalPubSub, RedisPubSub } from './pubsub.ts';
import { openRedis } from './redis.ts';
import { Background } from './background.ts';
import { openJobs } from './jobs.ts';
import { createDeliveryState, deliveryQueues } from './services/delivery.ts';
import { limitBody } from './security/http.ts';
import { RateLimits } from './security/rateLimits.ts';
import type { Runtime } from './runtime.ts';
import { withRequestIds } from './server/requestId.ts';
import { attachGraphqlWs } from './server/websocket.ts';
import { createYogaServer } from './server/yoga.ts';
import { Tokens, watchRevocations } from './services/auth.ts';
import { cleanUpFiles } from './services/attachments.ts';
import { startPresence } from './services/presence.ts';
import { handleFiles } from './server/files.ts';
import { openFileStore } from './storage/index.ts';
import { createSendQueue } from './services/sendQueue.ts';
import { createTypingThrottle } from './services/typing.ts';

export interface App {
  /** Opens the database (applying migrations) and pub/sub, then listens. */
  start(): Promise<void>;
  /** Stops accepting, closes sockets with 1001, lets in-flight requests finish, releases everything. */
  stop(): Promise<void>;
  /** The bound port (useful with PORT=0) once started. */
  readonly port: number;
  readonly url: string;
  /** The app's state once started (database, pub/sub, presence…). */
  readonly runtime: Runtime;
  /** The app's logger (available before start). */
  readonly log: Log;
}

export interface ParleyOptions {
  /** Where log lines go instead of standard output (embedders, tests). */
  logDestination?: LogDestination;
}

/** How long stop() waits for in-flight requests before cutting connections. */
const DRAIN_MS = 10_000;
/** Pending connections the kernel queues while the event loop is busy (raised by the OS's somaxconn cap). */
const LISTEN_BACKLOG = 4096;
const KEEP_ALIVE_MS = 65_000;
/** How often unsent uploads older than a day (and deleted messages' files) are removed. */
const FILE_CLEANUP_INTERVAL_MS = 3600_000;
/** Room for a multipart upload's other parts (operations, map) beside the file. */
const MULTIPART_OVERHEAD_BYTES = 1024 * 1024;

/**
 * Creates one Parley app: Yoga over HTTP and graphql-ws on the same path.
 * Everything it opens belongs to it, so several apps can run in one process
 * (or inside another Node server) without seeing each other.
 */
export function createParley(config: Config, options: ParleyOptions = {}): App {
  const log = createLog(config, options.logDestination);
  let runtime: Runtime | null = null;
  let port = 0;
  let draining = false;
  // What start() opened, released in reverse order by stop() (or by a start() that fails half-way).
  const disposers: (() => Promise<void>)[] = [];

  async function unwind(): Promise<void> {
    while (disposers.length) {
      const dispose = disposers.pop()!;
      try {
        await dispose();
      } catch (error) {
        log('error', 'shutdown step failed', error);
      }
    }
  }

  async function open(): Promise<void> {
    const metrics = new Metrics();
    const db = await openDatabase(config, {
      log: (line) => log('info', line),
      // A pool's error belongs to no request, whichever one happened to open the connection.
      logError: (message, error) => withoutLogFields(() => log('error', message, error)),
    });
    disposers.push(() => db.close());
    await applySearchLanguage(db, config.searchLanguage, (line) => log('info', line));
    const sends = createSendQueue(db);
    // Sends already queued are written (and answered) before the database closes.
    disposers.push(() => sends.drained());
    const background = new Background(log);
    const jobs = await openJobs(config, db, log);
    // After everything that adds jobs (requests, background work) has stopped; before the database closes.
    disposers.push(() => jobs.stop());
    metrics.watchPool(() => db.poolStats());
    // Closed after everything that uses them (presence releases its users through it on the way out).
    const redis = config.redisUrl ? await openRedis({ ...config, redisUrl: config.redisUrl }, log) : null;
    if (redis) disposers.push(() => redis.close());
    for (const connection of redis ? [redis.command, redis.publisher, redis.subscriber] : []) {
      connection.on('reconnecting', () => metrics.redisReconnects.inc());
    }
    const pubsub = metrics.observePubSub(redis ? new RedisPubSub(redis, config.redisKeyPrefix, log) : new LocalPubSub());
    disposers.push(() => pubsub.close());
    const typing = createTypingThrottle(redis?.command ?? null, config.redisKeyPrefix, log);
    const presence = await startPresence({
      redis: redis?.command ?? null,
      redisKeyPrefix: config.redisKeyPrefix,
      graceMs: config.presenceGraceMs,
      log,
      prisma: db.prisma,
      pubsub,
    });
    // Before pub/sub and the database close: users who go offline with this instance are stored and announced.
    disposers.push(() => presence.stop());
    // After the server stops taking requests, before presence, pub/sub and the database close.
    disposers.push(() => background.drained());
    const limits = new RateLimits({
      enabled: config.rateLimits.enabled,
      settings: config.rateLimits.settings,
      keyPrefix: config.redisKeyPrefix,
      redis: redis?.command ?? null,
      log,
      onRefusal: (limit) => metrics.rateLimited.inc({ limit }),
    });
    const files = await openFileStore(config);
    disposers.push(() => files.close());
    const rt: Runtime = { config, log, metrics, db, prisma: db.prisma, redis, pubsub, tokens: new Tokens(config), presence, typing, limits, sends, background, jobs, delivery: createDeliveryState(config), files };
    const cleanup = setInterval(() => rt.background.run('removing unsent uploads', () => cleanUpFiles(rt)), FILE_CLEANUP_INTERVAL_MS);
    cleanup.unref();
    disposers.push(async () => clearInterval(cleanup));
    await jobs.work(rt, deliveryQueues);
    const revocations = watchRevocations(rt);
    disposers.push(() => revocations.close());
    await revocations.ready;

    const yoga = createYogaServer(rt, { draining: () => draining });
    disposers.push(async () => void (await yoga.dispose()));
    // Idle keep-alive connections outlive a load balancer's (commonly 60 s), so
    // the balancer, not Parley, closes them and never reuses one being closed.
    const server = http.createServer({ keepAliveTimeout: KEEP_ALIVE_MS, headersTimeout: KEEP_ALIVE_MS + 1_000 }, withRequestIds(
        (req, res) => {
          if (handleFiles(rt, req, res)) return;
          // A GraphQL multipart request carries a file: up to MAX_UPLOAD_BYTES (the upload checks the file itself).
          const multipart = req.headers['content-type']?.toLowerCase().startsWith('multipart/form-data');
          const limit = multipart ? Math.max(config.limits.bodyBytes, config.attachments.maxUploadBytes + MULTIPART_OVERHEAD_BYTES) : config.limits.bodyBytes;
          limitBody(limit, req, res, () => void yoga.requestListener(req, res));
        },
        log,
      ),
    );
    const ws = attachGraphqlWs(rt, yoga, server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    disposers.push(() => closeServer(server));
    disposers.push(() => ws.dispose());
    port = (server.address() as AddressInfo).port;
    runtime = rt;
  }

  return {
    log,
    get port() {
      return port;
    },
    get url() {
      return `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}/graphql`;
    },
    get runtime() {
      if (!runtime) throw new Error('not started');
      return runtime;
    },
    async start() {
      try {
        await open();
      } catch (error) {
        await unwind();
        throw error;
      }
      log('info', `listening on ${this.url} (${config.databaseUrl ? 'Postgres' : 'embedded PGlite'}, ${config.redisUrl ? 'Redis' : 'in-process'} pub/sub)`);
    },
    async stop() {
      draining = true;
      runtime = null;
      await unwind();
    },
  };
}

/** Stops accepting and lets in-flight requests finish, cutting what is left after {@link DRAIN_MS}. */
async function closeServer(server: http.Server): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), DRAIN_MS);
  await closed;
  clearTimeout(timer);
}
