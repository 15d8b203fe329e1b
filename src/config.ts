import path from 'node:path';
import { z } from 'zod';
import { parseLimitSettings, type LimitSettings } from './security/rateLimits.ts';

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
  /** `json` (one JSON object a line) or `pretty` (one readable line); JSON by default in production. */
  logFormat: 'json' | 'pretty';
  /** Postgres: how long opening a connection may take before the request fails, in milliseconds. */
  databaseConnectTimeoutMs: number;
  /** Postgres: the longest one statement may run (the server cancels it), in milliseconds. */
  databaseStatementTimeoutMs: number;
  /** Postgres: how long a transaction may sit idle before the server ends its session, in milliseconds. */
  databaseIdleInTransactionTimeoutMs: number;
  /**
   * How long a user stays ONLINE after their last socket closes (or after the
   * instance holding it dies), in milliseconds.
   */
  presenceGraceMs: number;
  /** Prefix of Parley's Redis keys and pub/sub topics; deployments that share one Redis need different ones. */
  redisKeyPrefix: string;
  /** RATE_LIMITS=off lifts every per-user and per-address limit (for load tests and benchmarks). */
  rateLimits: { enabled: boolean; settings: LimitSettings };
  /** Take the client address from X-Forwarded-For (behind a trusted reverse proxy). */
  trustProxy: boolean;
  websocket: {
    /** Largest frame a client may send, in bytes. */
    maxPayloadBytes: number;
    /** Unsent bytes a socket may have queued before it is closed as too slow a reader. */
    maxBufferedBytes: number;
    /** Open subscriptions per socket (lifted by RATE_LIMITS=off). */
    maxSubscriptionsPerSocket: number;
    /** Open authenticated sockets per user, across this instance (lifted by RATE_LIMITS=off). */
    maxSocketsPerUser: number;
    /** Open sockets per client address on this instance (lifted by RATE_LIMITS=off). */
    maxSocketsPerAddress: number;
    /** A socket without a token is closed after this long without an operation. */
    anonymousIdleMs: number;
  };
  /** Document limits: refused with BAD_USER_INPUT before anything runs (see docs/operations.md). */
  limits: {
    /** Deepest field nesting (MAX_QUERY_DEPTH). */
    depth: number;
    /** Aliases in one operation (MAX_QUERY_ALIASES). */
    aliases: number;
    /** Directives in one operation (MAX_QUERY_DIRECTIVES). */
    directives: number;
    /** Tokens in one document (MAX_QUERY_TOKENS). */
    tokens: number;
    /** Estimated objects an operation may load; lists multiply by first/last (MAX_QUERY_COST). */
    cost: number;
    /** Largest request body, in bytes (MAX_BODY_BYTES). */
    bodyBytes: number;
  };
  /** Whether the schema can be introspected (INTROSPECTION; off in production by default). */
  introspection: boolean;
  /** Whether GET /graphql serves GraphiQL (GRAPHIQL; off in production by default). */
  graphiql: boolean;
  /**
   * PERSISTED_OPERATIONS_ONLY: run only the operations `npm run codegen`
   * hashes into client/generated/persisted-documents.json; refuse any other
   * document (off by default).
   */
  persistedOperationsOnly: boolean;
  /**
   * Origins browsers may call from (CORS_ORIGINS): a list, or '*' for any
   * (the development default). Empty: no cross-origin access (the production default).
   */
  corsOrigins: string[] | '*';
  /**
   * How long a Redis command may take before it fails, in milliseconds. While
   * Redis is unreachable commands fail at once; while it does not answer (a
   * partition) they fail after this long.
   */
  redisCommandTimeoutMs: number;
  /**
   * SEARCH_LANGUAGE: the Postgres text search configuration whose stemming
   * search uses (`english`, `french`, `german`, `simple` for none…); applied
   * at start (src/searchLanguage.ts).
   */
  searchLanguage: string;
  /** Notifications: how they reach people who are away (see docs/notifications.md). */
  notifications: {
    /** How long an away person has to see a notification before email or push goes out, in milliseconds. */
    delayMs: number;
    /** SMTP server for email (smtp:// or smtps://); unset: no email is sent. */
    smtpUrl?: string;
    /** The From address of notification emails. */
    mailFrom: string;
    /** Web Push VAPID keys (URL-safe base64); unset: generated once and kept in dataDir. */
    vapidPublicKey?: string;
    vapidPrivateKey?: string;
    /** The VAPID subject: a mailto: or https: URL push services may contact. */
    vapidSubject: string;
    /** Where people open Parley (links in emails); unset: http://HOST:PORT. */
    publicUrl?: string;
  };
  /** Attachments: their size limit and where their bytes are kept (see README.md, "Attachments"). */
  attachments: {
    /** The largest file, in bytes (MAX_UPLOAD_BYTES). */
    maxUploadBytes: number;
    /** An S3-compatible bucket; unset: files on local disk under dataDir. */
    s3?: S3Config;
  };
}

/** An S3-compatible store (S3_* variables). */
export interface S3Config {
  /** The service's URL (MinIO, R2, …); unset: AWS for the region. */
  endpoint?: string;
  bucket: string;
  region: string;
  /** Unset: the AWS SDK's default credential chain. */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Address buckets as https://host/bucket rather than https://bucket.host (MinIO needs it). */
  forcePathStyle: boolean;
}

/** An empty variable counts as unset, as it does for most tools. */
const optional = <T extends z.ZodTypeAny>(schema: T) =>
  z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

const boolean = z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1');

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
  LOG_FORMAT: optional(z.enum(['json', 'pretty'])),
  DATABASE_CONNECT_TIMEOUT_MS: optional(z.coerce.number().int().min(100).max(600_000)),
  DATABASE_STATEMENT_TIMEOUT_MS: optional(z.coerce.number().int().min(100).max(3_600_000)),
  DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: optional(z.coerce.number().int().min(100).max(3_600_000)),
  PRESENCE_GRACE_MS: optional(z.coerce.number().int().min(100).max(3_600_000)),
  REDIS_KEY_PREFIX: optional(z.string().max(100)),
  RATE_LIMITS: optional(z.enum(['on', 'off'])),
  TRUST_PROXY: optional(z.enum(['true', 'false'])),
  WS_MAX_PAYLOAD_BYTES: optional(z.coerce.number().int().min(65_536).max(16 * 1024 * 1024)),
  WS_MAX_BUFFERED_BYTES: optional(z.coerce.number().int().min(65_536)),
  WS_MAX_SUBSCRIPTIONS_PER_SOCKET: optional(z.coerce.number().int().min(1)),
  WS_MAX_SOCKETS_PER_USER: optional(z.coerce.number().int().min(1)),
  WS_MAX_SOCKETS_PER_ADDRESS: optional(z.coerce.number().int().min(1)),
  WS_ANONYMOUS_IDLE_MS: optional(z.coerce.number().int().min(1_000)),
  MAX_QUERY_DEPTH: optional(z.coerce.number().int().min(1).max(1000)),
  MAX_QUERY_ALIASES: optional(z.coerce.number().int().min(0).max(100_000)),
  MAX_QUERY_DIRECTIVES: optional(z.coerce.number().int().min(0).max(100_000)),
  MAX_QUERY_TOKENS: optional(z.coerce.number().int().min(100).max(10_000_000)),
  MAX_QUERY_COST: optional(z.coerce.number().int().min(1)),
  MAX_BODY_BYTES: optional(z.coerce.number().int().min(1024)),
  INTROSPECTION: optional(boolean),
  GRAPHIQL: optional(boolean),
  PERSISTED_OPERATIONS_ONLY: optional(boolean),
  CORS_ORIGINS: optional(
    z
      .string()
      .transform((value) => value.split(',').map((origin) => origin.trim()).filter(Boolean))
      .pipe(
        z.array(
          z.union([
            z.literal('*'),
            z.string().regex(/^https?:\/\/[^/\s]+$/, 'must be origins like https://app.example.com (scheme and host, no path), or *'),
          ]),
        ),
      ),
  ),
  REDIS_COMMAND_TIMEOUT_MS: optional(z.coerce.number().int().min(50).max(60_000)),
  SEARCH_LANGUAGE: optional(z.string().regex(/^[a-z_]{1,63}$/, 'must be the name of a Postgres text search configuration, e.g. english')),
  NOTIFICATION_DELAY_MS: optional(z.coerce.number().int().min(0).max(7 * 24 * 3600 * 1000)),
  SMTP_URL: optional(z.string().regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL')),
  MAIL_FROM: optional(z.string().min(3)),
  VAPID_PUBLIC_KEY: optional(z.string().regex(/^[A-Za-z0-9_-]+$/, 'must be URL-safe base64')),
  VAPID_PRIVATE_KEY: optional(z.string().regex(/^[A-Za-z0-9_-]+$/, 'must be URL-safe base64')),
  VAPID_SUBJECT: optional(z.string().regex(/^(mailto:|https:\/\/)/, 'must be a mailto: or https:// URL')),
  MAX_UPLOAD_BYTES: optional(z.coerce.number().int().min(1024).max(2 ** 31 - 1)),
  S3_ENDPOINT: optional(z.string().regex(/^https?:\/\/[^\s]+$/, 'must be an http:// or https:// URL')),
  S3_BUCKET: optional(z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name (3 to 63 lower-case letters, digits, "." and "-")')),
  S3_REGION: optional(z.string().regex(/^[a-z0-9-]+$/, 'must be a region name such as us-east-1')),
  S3_ACCESS_KEY_ID: optional(z.string()),
  S3_SECRET_ACCESS_KEY: optional(z.string()),
  S3_FORCE_PATH_STYLE: optional(boolean),
  PUBLIC_URL: optional(z.string().regex(/^https?:\/\/[^\s]+$/, 'must be an http:// or https:// URL')),
});

/** Document-size defaults: generous for Parley's own clients, far below what hurts the server. */
export const DEFAULT_LIMITS = {
  depth: 12,
  aliases: 30,
  directives: 50,
  tokens: 5_000,
  cost: 50_000,
  bodyBytes: 1024 * 1024,
} as const;

export class ConfigError extends Error {}

/**
 * Parses the environment into a {@link Config}; throws a {@link ConfigError}
 * naming every bad variable, so a typo fails at start and not later.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  const limits = parseLimitSettings(env);
  if (!parsed.success || limits.problems.length) {
    const problems = [
      ...(parsed.error?.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`) ?? []),
      ...limits.problems,
    ];
    throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const e = parsed.data;
  const s3Problems = [
    ...(!e.S3_BUCKET && (e.S3_ENDPOINT || e.S3_ACCESS_KEY_ID || e.S3_SECRET_ACCESS_KEY || e.S3_REGION)
      ? ['S3_BUCKET: must be set when other S3_ variables are']
      : []),
    ...(!e.S3_ACCESS_KEY_ID !== !e.S3_SECRET_ACCESS_KEY ? ['S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY: set both or neither'] : []),
  ];
  if (s3Problems.length) throw new ConfigError(`Invalid configuration:\n  ${s3Problems.join('\n  ')}`);
  const production = e.NODE_ENV === 'production';
  return {
    port: e.PORT ?? 4000,
    host: e.HOST ?? '127.0.0.1',
    databaseUrl: e.DATABASE_URL,
    dataDir: path.resolve(e.DATA_DIR ?? './data'),
    redisUrl: e.REDIS_URL,
    jwtSecret: e.JWT_SECRET,
    tokenTtlSeconds: e.TOKEN_TTL_SECONDS ?? 30 * 24 * 3600,
    production,
    logLevel: e.LOG_LEVEL ?? 'info',
    logFormat: e.LOG_FORMAT ?? (e.NODE_ENV === 'production' ? 'json' : 'pretty'),
    databaseConnectTimeoutMs: e.DATABASE_CONNECT_TIMEOUT_MS ?? 5_000,
    databaseStatementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS ?? 10_000,
    databaseIdleInTransactionTimeoutMs: e.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS ?? 30_000,
    presenceGraceMs: e.PRESENCE_GRACE_MS ?? 5_000,
    redisKeyPrefix: e.REDIS_KEY_PREFIX ?? 'parley:',
    rateLimits: { enabled: e.RATE_LIMITS !== 'off', settings: limits.settings },
    trustProxy: e.TRUST_PROXY === 'true',
    websocket: {
      maxPayloadBytes: e.WS_MAX_PAYLOAD_BYTES ?? 1024 * 1024,
      maxBufferedBytes: e.WS_MAX_BUFFERED_BYTES ?? 4 * 1024 * 1024,
      maxSubscriptionsPerSocket: e.WS_MAX_SUBSCRIPTIONS_PER_SOCKET ?? 100,
      maxSocketsPerUser: e.WS_MAX_SOCKETS_PER_USER ?? 500,
      maxSocketsPerAddress: e.WS_MAX_SOCKETS_PER_ADDRESS ?? 5000,
      anonymousIdleMs: e.WS_ANONYMOUS_IDLE_MS ?? 30_000,
    },
    limits: {
      depth: e.MAX_QUERY_DEPTH ?? DEFAULT_LIMITS.depth,
      aliases: e.MAX_QUERY_ALIASES ?? DEFAULT_LIMITS.aliases,
      directives: e.MAX_QUERY_DIRECTIVES ?? DEFAULT_LIMITS.directives,
      tokens: e.MAX_QUERY_TOKENS ?? DEFAULT_LIMITS.tokens,
      cost: e.MAX_QUERY_COST ?? DEFAULT_LIMITS.cost,
      bodyBytes: e.MAX_BODY_BYTES ?? DEFAULT_LIMITS.bodyBytes,
    },
    introspection: e.INTROSPECTION ?? !production,
    graphiql: e.GRAPHIQL ?? !production,
    persistedOperationsOnly: e.PERSISTED_OPERATIONS_ONLY ?? false,
    corsOrigins: e.CORS_ORIGINS ? (e.CORS_ORIGINS.includes('*') ? '*' : e.CORS_ORIGINS) : production ? [] : '*',
    redisCommandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS ?? 2_000,
    searchLanguage: e.SEARCH_LANGUAGE ?? 'english',
    notifications: {
      delayMs: e.NOTIFICATION_DELAY_MS ?? 60_000,
      smtpUrl: e.SMTP_URL,
      mailFrom: e.MAIL_FROM ?? 'Parley <no-reply@localhost>',
      vapidPublicKey: e.VAPID_PUBLIC_KEY,
      vapidPrivateKey: e.VAPID_PRIVATE_KEY,
      vapidSubject: e.VAPID_SUBJECT ?? 'mailto:no-reply@localhost',
      publicUrl: e.PUBLIC_URL?.replace(/\/+$/, ''),
    },
    attachments: {
      maxUploadBytes: e.MAX_UPLOAD_BYTES ?? 26_214_400,
      s3: e.S3_BUCKET
        ? {
            endpoint: e.S3_ENDPOINT?.replace(/\/+$/, ''),
            bucket: e.S3_BUCKET,
            region: e.S3_REGION ?? 'us-east-1',
            accessKeyId: e.S3_ACCESS_KEY_ID,
            secretAccessKey: e.S3_SECRET_ACCESS_KEY,
            forcePathStyle: e.S3_FORCE_PATH_STYLE ?? false,
          }
        : undefined,
    },
  };
}
