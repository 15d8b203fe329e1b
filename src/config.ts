import path from 'node:path';
import { z } from 'zod';

/** Parley's configuration, parsed once from the environment. */
export interface Config {
  port: number;
  host: string;
  /** Postgres connection string; unset means the embedded PGlite database. */
  databaseUrl?: string;
  /** Folder for the embedded database and the generated JWT secret. */
  dataDir: string;
  /** Redis for pub/sub and presence; unset means in-process. */
  redisUrl?: string;
  /** Token signing key; unset means one generated once and kept in dataDir. */
  jwtSecret?: string;
  /** How long a token (and its session) stays valid, in seconds. */
  tokenTtlSeconds: number;
  /** Production masks unexpected errors and hides GraphiQL's stack traces. */
  production: boolean;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /**
   * How long a user stays ONLINE after their last socket closes (or after the
   * instance holding it dies), in milliseconds.
   */
  presenceGraceMs: number;
  /** Prefix of Parley's Redis keys; deployments that share one Redis need different ones. */
  redisKeyPrefix: string;
}

/** An empty variable counts as unset, as it does for most tools. */
const optional = <T extends z.ZodTypeAny>(schema: T) =>
  z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

const envSchema = z.object({
  PORT: optional(z.coerce.number().int().min(0).max(65535)),
  HOST: optional(z.string()),
  DATABASE_URL: optional(
    z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL'),
  ),
  DATA_DIR: optional(z.string()),
  REDIS_URL: optional(z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')),
  JWT_SECRET: optional(z.string().min(32, 'must be at least 32 characters')),
  TOKEN_TTL_SECONDS: optional(z.coerce.number().int().min(60)),
  NODE_ENV: optional(z.string()),
  LOG_LEVEL: optional(z.enum(['debug', 'info', 'warn', 'error', 'silent'])),
  PRESENCE_GRACE_MS: optional(z.coerce.number().int().min(100).max(3_600_000)),
  REDIS_KEY_PREFIX: optional(z.string().max(100)),
});

export class ConfigError extends Error {}

/**
 * Parses the environment into a {@link Config}; throws a {@link ConfigError}
 * naming every bad variable, so a typo fails at start and not later.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT ?? 4000,
    host: e.HOST ?? '127.0.0.1',
    databaseUrl: e.DATABASE_URL,
    dataDir: path.resolve(e.DATA_DIR ?? './data'),
    redisUrl: e.REDIS_URL,
    jwtSecret: e.JWT_SECRET,
    tokenTtlSeconds: e.TOKEN_TTL_SECONDS ?? 30 * 24 * 3600,
    production: e.NODE_ENV === 'production',
    logLevel: e.LOG_LEVEL ?? 'info',
    presenceGraceMs: e.PRESENCE_GRACE_MS ?? 5_000,
    redisKeyPrefix: e.REDIS_KEY_PREFIX ?? 'parley:',
  };
}
