import type { Redis, Result } from 'ioredis';
import type { PresenceStore, Transition } from './presenceStore.ts';

// Keys (the prefix is REDIS_KEY_PREFIX):
//   <base>instances   sorted set: instance id -> expiry (ms, Redis's clock)
//   <base>i:<inst>    set: users the instance holds
//   <base>u:<user>    set: instances holding the user; the user is online while it exists
// with <base> = <prefix>{presence}:. Times come from Redis (TIME), so instances' clocks need not agree.
//
// The scripts declare only KEYS[1] and build the other key names at run time
// (the users and instances they touch are known only inside the script). On
// Redis Cluster that works because every key carries the hash tag {presence}
// and so lives in KEYS[1]'s slot; it also means all of presence lives on one
// shard. Redis documents undeclared keys as unsupported in cluster mode, so a
// cluster that enforces declared keys would need one script call per key.
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

/**
 * The scripts, as ioredis commands (`defineCommand`): run by digest, sent in
 * full only when Redis does not know them yet (after a restart or failover).
 */
const SCRIPTS = {
  // ARGV: base, instance, ttl, user → { cameOnline, instanceWasMissing }
  parleyPresenceHold: `${LUA_COMMON}
local inst, ttl, user = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local missing = redis.call('ZADD', KEYS[1], now_ms() + ttl, inst)
redis.call('SADD', base .. 'i:' .. inst, user)
local added = redis.call('SADD', base .. 'u:' .. user, inst)
local came = (added == 1 and redis.call('SCARD', base .. 'u:' .. user) == 1) and 1 or 0
return { came, missing }
`,
  // ARGV: base, instance, user → 1 when nobody holds the user any more
  parleyPresenceDrop: `${LUA_COMMON}
local inst, user = ARGV[2], ARGV[3]
redis.call('SREM', base .. 'i:' .. inst, user)
local removed = redis.call('SREM', base .. 'u:' .. user, inst)
if removed == 1 and redis.call('EXISTS', base .. 'u:' .. user) == 0 then return 1 end
return 0
`,
  // ARGV: base, instance, ttl, limit → { instanceWasMissing, user1, expiry1, user2, expiry2, ... }
  // Each expired instance is dropped by exactly one sweeper: the script is atomic.
  parleyPresenceTick: `${LUA_COMMON}
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
`,
  // ARGV: base, instance → users now offline
  parleyPresenceRelease: `${LUA_COMMON}
local offline = {}
drop_instance(ARGV[2], offline)
return offline
`,
} as const;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    parleyPresenceHold(instances: string, base: string, instance: string, ttl: number, user: string): Result<[number, number], Context>;
    parleyPresenceDrop(instances: string, base: string, instance: string, user: string): Result<number, Context>;
    parleyPresenceTick(instances: string, base: string, instance: string, ttl: number, limit: number): Result<[number, ...string[]], Context>;
    parleyPresenceRelease(instances: string, base: string, instance: string): Result<string[], Context>;
  }
}

/** Instances dropped per tick at most; more wait for the next tick. */
const SWEEP_LIMIT = 20;

/**
 * Many instances: each proves itself alive by renewing its expiry in a
 * sorted set; every instance sweeps expired ones, so the users of an
 * instance that died (even by SIGKILL) go offline on time.
 */
export class RedisStore implements PresenceStore {
  private readonly base: string;
  private readonly instances: string;
  readonly tickMs: number;
  /** How long an instance counts as alive after its last tick. */
  private readonly ttlMs: number;

  /** `redis` is the app's command connection: failures surface in each call, within its command timeout. */
  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly instanceId: string,
    graceMs: number,
  ) {
    for (const [name, lua] of Object.entries(SCRIPTS)) redis.defineCommand(name, { numberOfKeys: 1, lua });
    this.base = `${prefix}{presence}:`;
    this.instances = `${this.base}instances`;
    // A dead instance's users go offline within the grace period: it expires
    // one tick before, and the next tick of any other instance sweeps it.
    this.tickMs = Math.max(25, Math.floor(graceMs / 4));
    this.ttlMs = graceMs - this.tickMs;
  }

  async hold(userId: string) {
    const [came, missing] = await this.redis.parleyPresenceHold(this.instances, this.base, this.instanceId, this.ttlMs, userId);
    return { cameOnline: came === 1, resync: missing === 1 };
  }

  async drop(userId: string) {
    return (await this.redis.parleyPresenceDrop(this.instances, this.base, this.instanceId, userId)) === 1;
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
    const [missing, ...dead] = await this.redis.parleyPresenceTick(this.instances, this.base, this.instanceId, this.ttlMs, SWEEP_LIMIT);
    const offline: Transition[] = [];
    for (let i = 0; i + 1 < dead.length; i += 2) {
      // Last seen at the dead instance's last tick.
      const at = new Date(Math.min(Date.now(), Number(dead[i + 1]) - this.ttlMs));
      offline.push({ userId: dead[i]!, status: 'OFFLINE', at });
    }
    return { resync: missing === 1, offline };
  }

  async release() {
    return this.redis.parleyPresenceRelease(this.instances, this.base, this.instanceId);
  }

  /** The connection belongs to the app. */
  async close() {}
}
