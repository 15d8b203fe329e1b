import fs from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import type { Config } from './config.ts';
import { PrismaClient } from './generated/prisma/client.ts';
import { migrate } from './migrate.ts';

export type { PrismaClient } from './generated/prisma/client.ts';

/**
 * The one Prisma client of this process. Set by {@link openDatabase}; ESM live
 * bindings let every importer see it.
 */
export let prisma: PrismaClient;

export interface Database {
  prisma: PrismaClient;
  /** Calls `listener` with every SQL statement Prisma runs; returns an unsubscribe. */
  onQuery(listener: (sql: string) => void): () => void;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
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
 * migrations, and makes the client the process's {@link prisma}.
 */
export async function openDatabase(config: Config, options: { log?: (line: string) => void } = {}): Promise<Database> {
  const db = config.databaseUrl
    ? await openPostgres(config.databaseUrl, options.log)
    : await openEmbedded(path.join(config.dataDir, 'pglite'), options.log);
  prisma = db.prisma;
  return db;
}

const QUERY_EVENTS = [{ emit: 'event' as const, level: 'query' as const }];

/** Fans Prisma's query events out to listeners (tests count queries on hot paths). */
function queryListeners(client: PrismaClient<'query'>) {
  const listeners = new Set<(sql: string) => void>();
  client.$on('query', (event) => {
    for (const listener of listeners) listener(event.query);
  });
  return (listener: (sql: string) => void) => {
    listeners.add(listener);
    return () => void listeners.delete(listener);
  };
}

async function openPostgres(url: string, log?: (line: string) => void): Promise<Database> {
  const { connectionString, schema } = parseDatabaseUrl(url);
  const poolConfig: pg.PoolConfig = {
    connectionString,
    max: 10,
    // Raw SQL and the migrations resolve unqualified names in the chosen schema.
    ...(schema ? { options: `-c search_path="${schema}"` } : {}),
  };
  const migrationClient = new pg.Client(poolConfig);
  await migrationClient.connect();
  try {
    await migrate(migrationClient, { schema, log });
  } finally {
    await migrationClient.end();
  }
  const pool = new pg.Pool(poolConfig);
  const client = new PrismaClient({ adapter: new PrismaPg(pool, { schema }), log: QUERY_EVENTS });
  return {
    prisma: client,
    onQuery: queryListeners(client),
    ping: async () => {
      await pool.query('SELECT 1');
    },
    close: async () => {
      await client.$disconnect();
      await pool.end();
    },
  };
}

async function openEmbedded(dir: string, log?: (line: string) => void): Promise<Database> {
  fs.mkdirSync(dir, { recursive: true });
  const pglite = new PGlite(dir);
  await pglite.waitReady;
  await migrate(pglite, { log });
  const client = new PrismaClient({ adapter: new PrismaPGlite(pglite), log: QUERY_EVENTS });
  return {
    prisma: client,
    onQuery: queryListeners(client),
    ping: async () => {
      await pglite.query('SELECT 1');
    },
    close: async () => {
      await client.$disconnect();
      await pglite.close();
    },
  };
}
