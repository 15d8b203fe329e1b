import crypto from 'node:crypto';
import os from 'node:os';
import DataLoader from 'dataloader';
import { Redis } from 'ioredis';
import { prisma } from '../db.ts';
import { pubsub, topics, type PresencePayload } from '../pubsub.ts';
import { requireWorkspaceMember } from './access.ts';
import type { Viewer } from './auth.ts';
import { streamForViewer } from './liveStream.ts';

export type PresenceStatus = PresencePayload['status'];

type Log = (level: 'info' | 'warn' | 'error', message: string, error?: unknown) => void;

/** A user's change of status, with the time `lastActiveAt` takes. */
interface Transition {
  userId: string;
  status: PresenceStatus;
  at: Date;
}

/**
 * Where it is decided whether a user is online anywhere. This instance tells
 * the store which users it *holds* (has a socket of, or is in their grace
 * period); a user is ONLINE while any live instance holds them.
 */
interface PresenceStore {
  /** This instance holds the user. `cameOnline`: no instance held them before; `resync`: this instance had been given up for dead. */
  hold(userId: string): Promise<{ cameOnline: boolean; resync: boolean }>;
  /** This instance no longer holds the user; true when no instance does any more. */
  drop(userId: string): Promise<boolean>;
  isOnline(userIds: readonly string[]): Promise<boolean[]>;
  /** How often {@link tick} must run; null when it need not. */
  readonly tickMs: number | null;
  /** Proves this instance alive and gives up instances that are not; returns who went offline with them. */
  tick(): Promise<{ resync: boolean; offline: Transition[] }>;
  /** Drops everything this instance holds (graceful stop); returns the users now offline. */
  release(): Promise<string[]>;
  close(): Promise<void>;
}

/** One process: its own memory is the whole truth. */
class MemoryStore implements PresenceStore {
  private readonly held = new Set<string>();
  readonly tickMs = null;

  async hold(userId: string) {
    const cameOnline = !this.held.has(userId);
    this.held.add(userId);
    return { cameOnline, resync: false };
  }
  async drop(userId: string) {
    return this.held.delete(userId);
  }
  async isOnline(userIds: readonly string[]) {
    return userIds.map((id) => this.held.has(id));
  }
  async tick() {
    return { resync: false, offline: [] };
  }
  async release() {
    const users = [...this.held];
    this.held.clear();
    return users;
  }
  async close() {}
}

/** A Lua script run by its digest, sent in full only when Redis does not know it yet. */
class LuaScript {
  private readonly sha: string;
  constructor(private readonly source: string) {
    this.sha = crypto.createHash('sha1').update(source).digest('hex');
  }
  async run(redis: Redis, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

// Keys, all under one hash tag so that the scripts also run on Redis Cluster:
//   <base>instances   sorted set: instance id -> expiry (ms, Redis's clock)
//   <base>i:<inst>    set: users the instance holds
//   <base>u:<user>    set: instances holding the user; the user is online while it exists
// Times come from Redis (TIME), so instances' clocks need not agree.
const LUA_COMMON = `
local base = ARGV[1]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function drop_instance(inst, offline)
  redis.call('ZREM', KEYS[1], inst)
  local ikey = base .. 'i:' .. inst
  for _, user in ipairs(redis.call('SMEMBERS', ikey)) do
    local ukey = base .. 'u:' .. user
    redis.call('SREM', ukey, inst)
    if redis.call('EXISTS', ukey) == 0 then table.insert(offline, user) end
  end
  redis.call('DEL', ikey)
end
`;

// ARGV: base, instance, ttl, user → { cameOnline, instanceWasMissing }
const HOLD = new LuaScript(`${LUA_COMMON}
local inst, ttl, user = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local missing = redis.call('ZADD', KEYS[1], now_ms() + ttl, inst)
redis.call('SADD', base .. 'i:' .. inst, user)
local added = redis.call('SADD', base .. 'u:' .. user, inst)
local came = (added == 1 and redis.call('SCARD', base .. 'u:' .. user) == 1) and 1 or 0
return { came, missing }
`);

// ARGV: base, instance, user → 1 when nobody holds the user any more
const DROP = new LuaScript(`${LUA_COMMON}
local inst, user = ARGV[2], ARGV[3]
redis.call('SREM', base .. 'i:' .. inst, user)
local removed = redis.call('SREM', base .. 'u:' .. user, inst)
if removed == 1 and redis.call('EXISTS', base .. 'u:' .. user) == 0 then return 1 end
return 0
`);

// ARGV: base, instance, ttl, limit → { instanceWasMissing, user1, expiry1, user2, expiry2, ... }
// Each expired instance is dropped by exactly one sweeper: the script is atomic.
const TICK = new LuaScript(`${LUA_COMMON}
local inst, ttl, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local now = now_ms()
local result = { redis.call('ZADD', KEYS[1], now + ttl, inst) }
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'WITHSCORES', 'LIMIT', 0, limit)
for i = 1, #dead, 2 do
  local offline = {}
  drop_instance(dead[i], offline)
  for _, user in ipairs(offline) do
    table.insert(result, user)
    table.insert(result, dead[i + 1])
  end
end
return result
`);

// ARGV: base, instance → users now offline
const RELEASE = new LuaScript(`${LUA_COMMON}
local offline = {}
drop_instance(ARGV[2], offline)
return offline
`);

/** Instances dropped per tick at most; more wait for the next tick. */
const SWEEP_LIMIT = 20;

/**
 * Many instances: each proves itself alive by renewing its expiry in a
 * sorted set; every instance sweeps expired ones, so the users of an
 * instance that died (even by SIGKILL) go offline on time.
 */
class RedisStore implements PresenceStore {
  private readonly redis: Redis;
  private readonly base: string;
  private readonly instances: string;
  readonly tickMs: number;
  /** How long an instance counts as alive after its last tick. */
  private readonly ttlMs: number;

  constructor(url: string, prefix: string, private readonly instanceId: string, graceMs: number) {
    this.redis = new Redis(url, { maxRetriesPerRequest: 3 });
    // ioredis reconnects by itself; failed calls are reported where they are made.
    this.redis.on('error', () => {});
    this.base = `${prefix}{presence}:`;
    this.instances = `${this.base}instances`;
    // A dead instance's users go offline within the grace period: it expires
    // one tick before, and the next tick of any other instance sweeps it.
    this.tickMs = Math.max(25, Math.floor(graceMs / 4));
    this.ttlMs = graceMs - this.tickMs;
  }

  async hold(userId: string) {
    const [came, missing] = (await HOLD.run(this.redis, [this.instances], [this.base, this.instanceId, this.ttlMs, userId])) as [
      number,
      number,
    ];
    return { cameOnline: came === 1, resync: missing === 1 };
  }

  async drop(userId: string) {
    return (await DROP.run(this.redis, [this.instances], [this.base, this.instanceId, userId])) === 1;
  }

  async isOnline(userIds: readonly string[]) {
    if (userIds.length === 0) return [];
    const results = await this.redis.pipeline(userIds.map((id) => ['exists', `${this.base}u:${id}`])).exec();
    return (results ?? []).map(([error, count]) => {
      if (error) throw error;
      return count === 1;
    });
  }

  async tick() {
    const [missing, ...dead] = (await TICK.run(this.redis, [this.instances], [
      this.base,
      this.instanceId,
      this.ttlMs,
      SWEEP_LIMIT,
    ])) as [number, ...string[]];
    const offline: Transition[] = [];
    for (let i = 0; i + 1 < dead.length; i += 2) {
      // Last seen at the dead instance's last tick.
      const at = new Date(Math.min(Date.now(), Number(dead[i + 1]) - this.ttlMs));
      offline.push({ userId: dead[i]!, status: 'OFFLINE', at });
    }
    return { resync: missing === 1, offline };
  }

  async release() {
    return (await RELEASE.run(this.redis, [this.instances], [this.base, this.instanceId])) as string[];
  }

  async close() {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

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
  /** Redis shares presence between instances; unset keeps it in memory (one process). */
  redisUrl?: string;
  redisKeyPrefix: string;
  graceMs: number;
  log: Log;
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

  constructor(
    private readonly store: PresenceStore,
    private readonly graceMs: number,
    private readonly log: Log,
  ) {}

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
    }, this.graceMs);
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
        await publishTransitions(batch);
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
    if (tracker === this) tracker = null;
  }
}

/** Stores `lastActiveAt` (never moving it backwards), then publishes each change to the user's workspaces. */
async function publishTransitions(transitions: Transition[]): Promise<void> {
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

/** The tracker of this process, set by {@link startPresence}. */
let tracker: PresenceTracker | null = null;

/**
 * Starts presence for this instance: in Redis when `redisUrl` is set (so
 * every instance agrees), in memory otherwise.
 */
export async function startPresence(options: PresenceOptions): Promise<PresenceTracker> {
  const instanceId = `${os.hostname()}-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  const store = options.redisUrl
    ? new RedisStore(options.redisUrl, options.redisKeyPrefix, instanceId, options.graceMs)
    : new MemoryStore();
  const started = new PresenceTracker(store, options.graceMs, options.log);
  try {
    await started.start();
  } catch (error) {
    await store.close();
    throw error;
  }
  tracker = started;
  return started;
}

// One lookup for all the users a query (or a burst of subscription events) asks about.
const statusLoader = new DataLoader<string, PresenceStatus>(
  async (userIds) => {
    const online = tracker ? await tracker.isOnline(userIds) : userIds.map(() => false);
    return online.map((on) => (on ? 'ONLINE' : 'OFFLINE'));
  },
  { cache: false, batchScheduleFn: (callback) => setImmediate(callback) },
);

/** Whether the user is ONLINE (on any instance) or OFFLINE; batched with concurrent calls. */
export function presenceStatus(userId: string): Promise<PresenceStatus> {
  return statusLoader.load(userId);
}

/**
 * The workspace's presence changes, for its members only (NOT_FOUND
 * otherwise). Ends when the viewer's session is revoked.
 */
export function streamPresence(viewer: Viewer, workspaceId: string): Promise<AsyncIterableIterator<PresencePayload>> {
  return streamForViewer(viewer, topics.presence(workspaceId), {
    authorize: () => requireWorkspaceMember(viewer, workspaceId),
  });
}
