import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { DomainError } from '../errors.ts';
import type { Log } from '../log.ts';

/** Every rate limit Parley enforces: how many uses per how many seconds, and of what. */
export const LIMITS = {
  /** logIn attempts per client address. */
  loginIp: { points: 120, seconds: 60, what: 'sign-in attempts from this address' },
  /** Failed logIn attempts per email: backs off a password guesser whatever addresses they use. */
  loginEmail: { points: 10, seconds: 300, what: 'failed sign-in attempts for this email' },
  /** signUp per client address (also what keeps sign-up from being used to sweep for registered emails). */
  signUpIp: { points: 300, seconds: 600, what: 'sign-ups from this address' },
  /** joinWorkspace per user. */
  joinWorkspace: { points: 60, seconds: 60, what: 'workspace joins' },
  /** sendMessage per user. */
  sendMessage: { points: 3000, seconds: 60, what: 'messages' },
  /** setTyping per user (publishing is throttled apart from this: once per 3 s per channel). */
  setTyping: { points: 120, seconds: 60, what: 'typing notices' },
  /** search per user (each runs a ranked full-text query). */
  search: { points: 600, seconds: 60, what: 'searches' },
  /** WebSocket connections per client address. */
  connectIp: { points: 3000, seconds: 60, what: 'WebSocket connections from this address' },
  /** Subscriptions started per socket. */
  subscribe: { points: 1000, seconds: 60, what: 'subscriptions on this connection' },
} as const satisfies Record<string, { points: number; seconds: number; what: string }>;

export type LimitName = keyof typeof LIMITS;
export type LimitSettings = Record<LimitName, { points: number; seconds: number }>;

/** The environment variable that overrides a limit: `RATE_LIMIT_SEND_MESSAGE` for sendMessage. */
export const limitVariable = (name: LimitName) => `RATE_LIMIT_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

/** Parses `RATE_LIMIT_<NAME>=<points>/<seconds>` overrides (e.g. RATE_LIMIT_SEND_MESSAGE=100/10). */
export function parseLimitSettings(env: NodeJS.ProcessEnv): { settings: LimitSettings; problems: string[] } {
  const problems: string[] = [];
  const settings = {} as LimitSettings;
  for (const [name, defaults] of Object.entries(LIMITS) as [LimitName, (typeof LIMITS)[LimitName]][]) {
    const variable = limitVariable(name);
    const value = env[variable];
    settings[name] = { points: defaults.points, seconds: defaults.seconds };
    if (!value) continue;
    const match = /^(\d{1,9})\/(\d{1,7})$/.exec(value.trim());
    if (!match || Number(match[1]) < 1 || Number(match[2]) < 1) {
      problems.push(`${variable}: must be <points>/<seconds>, e.g. ${defaults.points}/${defaults.seconds}`);
      continue;
    }
    settings[name] = { points: Number(match[1]), seconds: Number(match[2]) };
  }
  return { settings, problems };
}

export const rateLimited = (message: string, retryAfter: number) => new DomainError('RATE_LIMITED', message, { retryAfter });

export interface RateLimitOptions {
  enabled: boolean;
  settings: LimitSettings;
  keyPrefix: string;
  /** Shared by every instance when set; otherwise each instance counts alone. */
  redis: Redis | null;
  log: Log;
  /** Called for every refusal (metrics). */
  onRefusal?: (name: LimitName) => void;
}

/**
 * One app's rate limiters: in Redis when it is configured (every instance
 * counts together), in memory otherwise. When Redis fails, a per-instance
 * memory limiter takes over rather than refusing everything or nothing.
 */
export class RateLimits {
  private readonly limiters = new Map<LimitName, RateLimiterAbstract>();

  constructor(private readonly options: RateLimitOptions) {
    if (!options.enabled) return;
    for (const name of Object.keys(LIMITS) as LimitName[]) {
      const { points, seconds } = options.settings[name];
      const keyPrefix = `${options.keyPrefix}rl:${name}`;
      const memory = new RateLimiterMemory({ points, duration: seconds, keyPrefix });
      const limiter = options.redis
        ? new RateLimiterRedis({ storeClient: options.redis, points, duration: seconds, keyPrefix, insuranceLimiter: memory })
        : memory;
      this.limiters.set(name, limiter);
    }
  }

  /** Counts one use of `name` by `key`; past the limit, throws RATE_LIMITED with `retryAfter` in seconds. */
  async consume(name: LimitName, key: string): Promise<void> {
    const limiter = this.limiters.get(name);
    if (!limiter) return;
    try {
      await limiter.consume(key);
    } catch (result) {
      if (!(result instanceof RateLimiterRes)) {
        // The store failed, and so did its insurance: let the request through, loudly.
        this.options.log('error', `rate limiter ${name} failed`, result);
        return;
      }
      throw this.refusal(name, result.msBeforeNext);
    }
  }

  /** Throws RATE_LIMITED if `key` is already past the limit, without counting a use. */
  async check(name: LimitName, key: string): Promise<void> {
    const limiter = this.limiters.get(name);
    if (!limiter) return;
    const state = await limiter.get(key).catch(() => null);
    if (state && state.consumedPoints >= this.options.settings[name].points) throw this.refusal(name, state.msBeforeNext);
  }

  private refusal(name: LimitName, msBeforeNext: number): DomainError {
    this.options.onRefusal?.(name);
    const retryAfter = Math.max(1, Math.ceil(msBeforeNext / 1000));
    return rateLimited(`Too many ${LIMITS[name].what}; try again in ${retryAfter} s.`, retryAfter);
  }
}
