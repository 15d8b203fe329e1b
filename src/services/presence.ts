import crypto from 'node:crypto';
import os from 'node:os';
import DataLoader from 'dataloader';
import type { Redis } from 'ioredis';
import type { PrismaClient } from '../db.ts';
import type { Log } from '../log.ts';
import { topics, type PresencePayload, type PubSub } from '../pubsub.ts';
import type { Runtime } from '../runtime.ts';
import { requireWorkspaceMember } from './access.ts';
import type { Viewer } from './auth.ts';
import { streamForViewer } from './liveStream.ts';
import { RedisStore } from './presenceRedisStore.ts';
import { MemoryStore, type PresenceStatus, type PresenceStore, type Transition } from './presenceStore.ts';

export type { PresenceStatus } from './presenceStore.ts';

interface LocalUser {
  /** Open authenticated sockets of the user on this instance. */
  sockets: number;
  /** Whether the store knows that this instance holds the user. */
  held: boolean;
  /** Runs out the grace period after the last socket closed. */
  graceTimer: NodeJS.Timeout | null;
  /** When the last socket closed. */
  lastSeen: Date;
  /** A store call for this user is under way; `dirty` asks it to look again. */
  syncing: boolean;
  dirty: boolean;
}

export interface PresenceOptions {
  /** The app's Redis command connection shares presence between instances; null keeps it in memory (one process). */
  redis: Redis | null;
  redisKeyPrefix: string;
  graceMs: number;
  log: Log;
  /** Where transitions are stored (`lastActiveAt`) and announced. */
  prisma: PrismaClient;
  pubsub: PubSub;
}

/**
 * Presence of this instance's users. A user is ONLINE while at least one
 * authenticated socket of theirs is open on any instance, and for a grace
 * period after the last one closes (a reload or a network blip does not flap
 * them offline). Only real transitions are announced, to every workspace the
 * user belongs to, and each one stores `lastActiveAt`.
 */
export class PresenceTracker {
  private readonly users = new Map<string, LocalUser>();
  private readonly syncs = new Set<Promise<void>>();
  private tickTimer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> = Promise.resolve();
  private stopped = false;
  private storeFailing = false;
  private pending: Transition[] = [];
  private flushScheduled = false;
  private announcing: Promise<void> = Promise.resolve();

  private readonly log: Log;

  constructor(
    private readonly store: PresenceStore,
    private readonly options: PresenceOptions,
  ) {
    this.log = options.log;
  }

  // One lookup for all the users a query (or a burst of subscription events) asks about.
  private readonly statusLoader = new DataLoader<string, PresenceStatus>(
    async (userIds) => (await this.store.isOnline(userIds)).map((on) => (on ? 'ONLINE' : 'OFFLINE')),
    { cache: false, batchScheduleFn: (callback) => setImmediate(callback) },
  );

  /** Whether the user is ONLINE (on any instance) or OFFLINE; batched with concurrent calls. */
  status(userId: string): Promise<PresenceStatus> {
    return this.statusLoader.load(userId);
  }

  /** Registers this instance with the store and starts its heartbeat, if the store needs one. */
  async start(): Promise<void> {
    if (this.store.tickMs === null) return;
    // The first tick fails the start when Redis does not answer; later ones retry.
    const { offline } = await this.store.tick();
    this.announce(offline);
    this.scheduleTick();
  }

  /**
   * Counts one authenticated socket of the user. Returns the function to call
   * when it closes (calling it more than once is harmless).
   */
  connect(userId: string): () => void {
    if (this.stopped) return () => {};
    let user = this.users.get(userId);
    if (!user) {
      user = { sockets: 0, held: false, graceTimer: null, lastSeen: new Date(), syncing: false, dirty: false };
      this.users.set(userId, user);
    }
    user.sockets += 1;
    if (user.graceTimer) {
      clearTimeout(user.graceTimer);
      user.graceTimer = null;
    }
    this.sync(userId);
    let closed = false;
    return () => {
      if (closed || this.stopped) return;
      closed = true;
      this.disconnect(userId);
    };
  }

  private disconnect(userId: string): void {
    const user = this.users.get(userId);
    if (!user || user.sockets === 0) return;
    user.sockets -= 1;
    if (user.sockets > 0) return;
    user.lastSeen = new Date();
    user.graceTimer = setTimeout(() => {
      user.graceTimer = null;
      this.sync(userId);
    }, this.options.graceMs);
    user.graceTimer.unref();
  }

  /** Whether each user is online on any instance. */
  isOnline(userIds: readonly string[]): Promise<boolean[]> {
    return this.store.isOnline(userIds);
  }

  /** Brings the store in line with this instance's sockets for one user; one call per user at a time. */
  private sync(userId: string): void {
    const user = this.users.get(userId);
    if (!user || this.stopped) return;
    if (user.syncing) {
      user.dirty = true;
      return;
    }
    user.syncing = true;
    const run = (async () => {
      try {
        do {
          user.dirty = false;
          const wanted = user.sockets > 0 || user.graceTimer !== null;
          if (wanted && !user.held) {
            const { cameOnline, resync } = await this.store.hold(userId);
            user.held = true;
            if (cameOnline) this.announce([{ userId, status: 'ONLINE', at: new Date() }]);
            if (resync) this.resync();
          } else if (!wanted && user.held) {
            const wentOffline = await this.store.drop(userId);
            user.held = false;
            if (wentOffline) this.announce([{ userId, status: 'OFFLINE', at: user.lastSeen }]);
          }
        } while (user.dirty && !this.stopped);
        this.recovered();
      } catch (error) {
        // The next tick tries again.
        this.failing(error);
      } finally {
        user.syncing = false;
      }
      if (user.sockets === 0 && !user.graceTimer && !user.held && this.users.get(userId) === user) {
        this.users.delete(userId);
      }
    })();
    this.syncs.add(run);
    void run.finally(() => this.syncs.delete(run));
  }

  /** The store had given this instance up for dead: hold every user again. */
  private resync(): void {
    for (const [userId, user] of this.users) {
      user.held = false;
      this.sync(userId);
    }
  }

  private tick(): Promise<void> {
    this.ticking = (async () => {
      try {
        const { resync, offline } = await this.store.tick();
        this.recovered();
        this.announce(offline);
        if (resync) this.resync();
        else {
          // Retry what failed before: users whose store state lags behind their sockets.
          for (const [userId, user] of this.users) {
            if (!user.syncing && (user.sockets > 0 || user.graceTimer !== null) !== user.held) this.sync(userId);
          }
        }
      } catch (error) {
        this.failing(error);
      }
      this.scheduleTick();
    })();
    return this.ticking;
  }

  private scheduleTick(): void {
    if (this.stopped || this.store.tickMs === null) return;
    this.tickTimer = setTimeout(() => void this.tick(), this.store.tickMs);
    this.tickTimer.unref();
  }

  private failing(error: unknown): void {
    if (this.storeFailing) return;
    this.storeFailing = true;
    this.log('warn', 'presence: the store is unreachable; retrying', error);
  }

  private recovered(): void {
    if (!this.storeFailing) return;
    this.storeFailing = false;
    this.log('info', 'presence: the store answers again');
  }

  /** Queues transitions; they are stored and published in order, in batches. */
  private announce(transitions: Transition[]): void {
    if (transitions.length === 0) return;
    this.pending.push(...transitions);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.announcing = this.announcing.then(async () => {
      // Collect what else happens in this turn of the event loop (a dead instance's users, a resync).
      await new Promise<void>((resolve) => setImmediate(resolve));
      this.flushScheduled = false;
      const batch = this.pending.splice(0);
      try {
        await publishTransitions(this.options, batch);
      } catch (error) {
        this.log('error', `presence: announcing ${batch.length} change(s) failed`, error);
      }
    });
  }

  /**
   * Stops the heartbeat and grace timers and drops everything this instance
   * holds: users with no socket on another instance go OFFLINE now, and that
   * is stored and published before this returns.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    await this.ticking;
    await Promise.all([...this.syncs]);
    const lastSeen = new Map<string, Date>();
    const now = new Date();
    for (const [userId, user] of this.users) {
      if (user.graceTimer) clearTimeout(user.graceTimer);
      lastSeen.set(userId, user.sockets > 0 ? now : user.lastSeen);
    }
    this.users.clear();
    try {
      const offline = await this.store.release();
      this.announce(offline.map((userId) => ({ userId, status: 'OFFLINE', at: lastSeen.get(userId) ?? now })));
    } catch (error) {
      // Other instances sweep this one when its entry expires.
      this.log('warn', 'presence: could not release this instance; others will sweep it', error);
    }
    await this.announcing;
    await this.store.close();
  }
}

/** Stores `lastActiveAt` (never moving it backwards), then publishes each change to the user's workspaces. */
async function publishTransitions(
  { prisma, pubsub }: Pick<PresenceOptions, 'prisma' | 'pubsub'>,
  transitions: Transition[],
): Promise<void> {
  const latest = new Map<string, Date>();
  for (const { userId, at } of transitions) {
    const seen = latest.get(userId);
    if (!seen || seen < at) latest.set(userId, at);
  }
  const userIds = [...latest.keys()];
  const workspaces = new Map<string, string[]>();
  for (let i = 0; i < userIds.length; i += 1000) {
    const ids = userIds.slice(i, i + 1000);
    const times = ids.map((id) => latest.get(id)!.toISOString());
    await prisma.$executeRaw`
      UPDATE "User" AS u SET "lastActiveAt" = v.at
      FROM unnest(${ids}::uuid[], ${times}::timestamptz[]) AS v(id, at)
      WHERE u.id = v.id AND (u."lastActiveAt" IS NULL OR u."lastActiveAt" < v.at)`;
    const rows = await prisma.workspaceMember.findMany({
      where: { userId: { in: ids } },
      select: { userId: true, workspaceId: true },
    });
    for (const { userId, workspaceId } of rows) workspaces.set(userId, [...(workspaces.get(userId) ?? []), workspaceId]);
  }
  // Issued in order on one connection, so subscribers see a user's changes in order.
  await Promise.all(
    transitions.flatMap(({ userId, status, at }) =>
      (workspaces.get(userId) ?? []).map((workspaceId) =>
        pubsub.publish(topics.presence(workspaceId), { userId, status, lastActiveAt: at.toISOString() }),
      ),
    ),
  );
}

/**
 * Starts presence for this instance: in Redis when there is one (so
 * every instance agrees), in memory otherwise.
 */
export async function startPresence(options: PresenceOptions): Promise<PresenceTracker> {
  const instanceId = `${os.hostname()}-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  const store = options.redis
    ? new RedisStore(options.redis, options.redisKeyPrefix, instanceId, options.graceMs)
    : new MemoryStore();
  const started = new PresenceTracker(store, options);
  try {
    await started.start();
  } catch (error) {
    await store.close();
    throw error;
  }
  return started;
}

/**
 * The workspace's presence changes, for its members only (NOT_FOUND
 * otherwise). Ends when the viewer's session is revoked.
 */
export function streamPresence(rt: Runtime, viewer: Viewer, workspaceId: string): Promise<AsyncIterableIterator<PresencePayload>> {
  return streamForViewer(rt, viewer, topics.presence(workspaceId), {
    authorize: () => requireWorkspaceMember(rt, viewer, workspaceId),
    accessLost: 'You are no longer a member of this workspace.',
  });
}
