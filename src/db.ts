import fs from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { unaccent } from '@electric-sql/pglite/contrib/unaccent';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { backgroundWork } from './background.ts';
import type { Config } from './config.ts';
import { PrismaClient } from './generated/prisma/client.ts';
import type { PoolStats } from './metrics.ts';
import { migrate } from './migrate.ts';

export type { PrismaClient } from './generated/prisma/client.ts';

export interface Database {
  prisma: PrismaClient;
  /**
   * Runs one SQL statement outside Prisma, for hot paths that need exactly one
   * round trip: on the `pg` pool (Postgres) or the PGlite instance (embedded).
   * On PGlite it waits for an open Prisma interactive transaction to end
   * (PGlite's `query` takes the same mutex as `transaction`), so it never runs
   * inside one. Unqualified names resolve in the configured schema.
   */
  sql<Row>(text: string, params?: unknown[]): Promise<Row[]>;
  /**
   * Runs SQL for a library that brings its own (the job queue): with no
   * parameters the text may hold several statements (one implicit
   * transaction, or its own BEGIN … COMMIT); the last one's rows are returned.
   */
  executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  /** Whether this is the embedded database (PGlite, one connection). */
  readonly embedded: boolean;
  /** How many statements the database runs at once for this app: the pool size (1 on PGlite). */
  readonly connections: number;
  /** Calls `listener` with every SQL statement run (Prisma's and {@link sql}'s); returns an unsubscribe. */
  onQuery(listener: (sql: string) => void): () => void;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  /** The connection pool's state (null for the embedded database, which has none). */
  poolStats(): PoolStats | null;
  close(): Promise<void>;
}

/**
 * Whether the database refused a statement (pg's or PGlite's error with a
 * SQLSTATE and a severity), which means its transaction was rolled back. A
 * lost connection is not one: the statement may have committed.
 */
export function isStatementError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && typeof severity === 'string';
}

/** Splits Prisma's `?schema=` parameter off a Postgres URL (pg does not know it). */
export function parseDatabaseUrl(url: string): { connectionString: string; schema?: string } {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema') ?? undefined;
  parsed.searchParams.delete('schema');
  return { connectionString: parsed.toString(), schema: schema === 'public' ? undefined : schema };
}

/**
 * Opens the database named by the configuration (Postgres when `databaseUrl`
 * is set, otherwise a file-backed PGlite under `dataDir`), applies pending
 * migrations. The client belongs to the caller (one per app).
 */
export async function openDatabase(config: Config, options: DatabaseOptions = {}): Promise<Database> {
  return config.databaseUrl
    ? openPostgres(config.databaseUrl, postgresTimeouts(config), options)
    : openEmbedded(path.join(config.dataDir, 'pglite'), options.log);
}

export interface DatabaseOptions {
  /** Progress (migrations). */
  log?: (line: string) => void;
  /** Failures that no caller awaits, such as an idle pooled connection that broke. */
  logError?: (message: string, error: unknown) => void;
}

/** What bounds a Postgres fault: no request waits on a dead connection for longer than these. */
export interface PostgresTimeouts {
  connectMs: number;
  statementMs: number;
  idleInTransactionMs: number;
}

export function postgresTimeouts(config: Config): PostgresTimeouts {
  return {
    connectMs: config.databaseConnectTimeoutMs,
    statementMs: config.databaseStatementTimeoutMs,
    idleInTransactionMs: config.databaseIdleInTransactionTimeoutMs,
  };
}

/**
 * How much longer than the statement timeout the client waits for an answer.
 * The server's statement_timeout normally ends a slow statement (cleanly); the
 * client's own timeout is for when the server cannot answer at all (a network
 * partition), and gives up on the connection.
 */
const CLIENT_TIMEOUT_MARGIN_MS = 2_000;

const QUERY_EVENTS = [{ emit: 'event' as const, level: 'query' as const }];

/** The Postgres pool's size: {@link Database.sql} and Prisma share it. */
const POOL_SIZE = 10;

/**
 * Fans Prisma's query events and the fast path's statements out to listeners
 * (tests count queries on hot paths). Statements of background work (see
 * src/background.ts) and of the job queue are not a request's and are left out.
 */
function queryListeners(client: PrismaClient<'query'>) {
  const listeners = new Set<(sql: string) => void>();
  const emit = (sql: string) => {
    if (listeners.size === 0 || backgroundWork.getStore()) return;
    for (const listener of listeners) listener(sql);
  };
  client.$on('query', (event) => emit(event.query));
  return {
    emit,
    onQuery: (listener: (sql: string) => void) => {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}

async function openPostgres(url: string, timeouts: PostgresTimeouts, options: DatabaseOptions): Promise<Database> {
  const { connectionString, schema } = parseDatabaseUrl(url);
  const logError = options.logError ?? (() => {});
  const connection: pg.ClientConfig = {
    connectionString,
    connectionTimeoutMillis: timeouts.connectMs,
    // Notices a peer that vanished without closing (a partition) on idle connections too.
    keepAlive: true,
    // Raw SQL and the migrations resolve unqualified names in the chosen schema.
    ...(schema ? { options: `-c search_path="${schema}"` } : {}),
  };
  // Migrations may legitimately run long (an index on a big table) or wait
  // for another instance's migration lock: no statement timeout for them.
  const migrationClient = new pg.Client(connection);
  migrationClient.on('error', (error) => logError('Postgres connection for migrations failed', error));
  await migrationClient.connect();
  try {
    await migrate(migrationClient, { schema, log: options.log });
  } finally {
    await migrationClient.end();
  }
  const pool = new pg.Pool({
    ...connection,
    max: POOL_SIZE,
    statement_timeout: timeouts.statementMs,
    query_timeout: timeouts.statementMs + CLIENT_TIMEOUT_MARGIN_MS,
    idle_in_transaction_session_timeout: timeouts.idleInTransactionMs,
  });
  // A pooled connection that breaks while idle (server restart, network cut)
  // is dropped by the pool; without a listener the error would end the process.
  pool.on('error', (error) => logError('idle Postgres connection failed; the pool replaces it', error));
  const client = new PrismaClient({ adapter: new PrismaPg(pool, { schema }), log: QUERY_EVENTS });
  const { emit, onQuery } = queryListeners(client);
  return {
    prisma: client,
    sql: async <Row>(text: string, params: unknown[] = []) => {
      emit(text);
      return (await pool.query(text, params)).rows as Row[];
    },
    executeSql: async (text, values) => {
      if (values?.length) return pool.query(text, values);
      const client = await pool.connect();
      try {
        const result = (await client.query(text)) as pg.QueryResult | pg.QueryResult[];
        return Array.isArray(result) ? (result.at(-1) ?? { rows: [] }) : result;
      } catch (error) {
        // A script that failed after its BEGIN leaves the session in an aborted transaction.
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    embedded: false,
    connections: POOL_SIZE,
    onQuery,
    ping: async () => {
      await pool.query('SELECT 1');
    },
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    close: async () => {
      await client.$disconnect();
      await pool.end();
    },
  };
}

async function openEmbedded(dir: string, log?: (line: string) => void): Promise<Database> {
  fs.mkdirSync(dir, { recursive: true });
  // unaccent: search folds accents (prisma/migrations/20261124110000_search).
  const pglite = new PGlite(dir, { extensions: { unaccent } });
  await pglite.waitReady;
  await migrate(pglite, { log });
  const client = new PrismaClient({ adapter: new PrismaPGlite(pglite), log: QUERY_EVENTS });
  const { emit, onQuery } = queryListeners(client);
  return {
    prisma: client,
    sql: async <Row>(text: string, params: unknown[] = []) => {
      emit(text);
      return (await pglite.query<Row>(text, params)).rows;
    },
    executeSql: async (text, values) => {
      if (values?.length) return pglite.query(text, values);
      // PGlite's query() takes one statement; exec() runs a script in one round trip.
      try {
        return (await pglite.exec(text)).at(-1) ?? { rows: [] };
      } catch (error) {
        // A script that failed after its BEGIN leaves the session in an aborted transaction.
        if (pglite.isInTransaction()) await pglite.exec('ROLLBACK').catch(() => {});
        throw error;
      }
    },
    embedded: true,
    connections: 1,
    onQuery,
    ping: async () => {
      await pglite.query('SELECT 1');
    },
    poolStats: () => null,
    close: async () => {
      await client.$disconnect();
      await pglite.close();
    },
  };
}
