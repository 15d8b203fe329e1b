// Parley's migration runner: applies the SQL in prisma/migrations the way
// `prisma migrate deploy` does (same folder layout, same `_prisma_migrations`
// table, same advisory lock), without Prisma's native schema engine, which
// cannot be downloaded on every machine. Works on Postgres and on PGlite.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * One database session: a checked-out `pg` client (`PoolClient` or `Client`)
 * or a PGlite instance. Everything the runner does (lock, search_path,
 * transactions) is bound to this one session.
 */
export interface MigrationConnection {
  // `any`: pg and PGlite type their rows differently; the runner checks what it reads.
  query(sql: string, params?: unknown[]): Promise<{ rows: any[] }>;
  /**
   * Runs a script of several statements. PGlite has it; `pg` has not, but its
   * `query` without parameters uses the simple protocol, which accepts many.
   */
  exec?(sql: string): Promise<unknown>;
}

export interface MigrateOptions {
  /** The migrations folder; defaults to the project's `prisma/migrations`. */
  dir?: string;
  /**
   * A Postgres schema to migrate instead of the session's default: it is
   * created if missing and becomes the session's `search_path`.
   */
  schema?: string;
  log?: (line: string) => void;
}

/** One `prisma/migrations/<name>/migration.sql`. */
export interface MigrationFile {
  /** The folder name, e.g. `20251122104300_init`. */
  name: string;
  sql: string;
  /** Prisma's checksum: SHA-256 of the file's contents, lower-case hex. */
  checksum: string;
}

/** A migration could not be applied, or the database's history forbids applying any. */
export class MigrationError extends Error {
  override name = 'MigrationError';
}

/** The project's `prisma/migrations`, independent of the working directory. */
export const defaultMigrationsDir = fileURLToPath(new URL('../prisma/migrations', import.meta.url));

// Prisma Migrate's own lock key, so this runner and `prisma migrate deploy`
// also exclude each other.
const ADVISORY_LOCK_KEY = 72707369;

// Prisma's DDL for the table, verbatim except IF NOT EXISTS.
const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
);`;

// Prisma wraps some generated steps (e.g. rewriting an enum) in their own
// BEGIN; ... COMMIT;, which must not be nested in the runner's transaction.
const OWN_TRANSACTION = /^\s*(?:BEGIN|START\s+TRANSACTION)(?:\s+(?:WORK|TRANSACTION))?\s*;/im;

interface MigrationRow {
  migration_name: string;
  checksum: string;
  finished_at: unknown;
  rolled_back_at: unknown;
}

/** Prisma's migration checksum: SHA-256 of the script, lower-case hex. */
export function migrationChecksum(sql: string): string {
  return crypto.createHash('sha256').update(sql, 'utf8').digest('hex');
}

/**
 * Whether `sql` matches a recorded checksum. Like Prisma, a script whose line
 * endings were changed (Git on Windows) still matches.
 */
function checksumMatches(sql: string, checksum: string): boolean {
  const lf = sql.replace(/\r\n/g, '\n');
  return [sql, lf, lf.replace(/\n/g, '\r\n')].some((variant) => migrationChecksum(variant) === checksum);
}

/**
 * Reads the migrations in `dir` (one folder per migration, each holding a
 * `migration.sql`), in the order they apply: sorted by folder name.
 */
export async function loadMigrations(dir: string = defaultMigrationsDir): Promise<MigrationFile[]> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const file = path.join(dir, name, 'migration.sql');
      const sql = await fs.readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
        throw new MigrationError(`Cannot read ${file}: ${error.message}`);
      });
      return { name, sql, checksum: migrationChecksum(sql) };
    }),
  );
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * Applies the pending migrations from `opts.dir` (default: the project's
 * `prisma/migrations`) and records them in `_prisma_migrations` as Prisma
 * does, so `prisma migrate deploy` accepts the result and vice versa.
 *
 * Holds a session-level advisory lock for the whole run, so concurrent
 * callers (several instances starting at once) apply each migration once.
 * Each migration runs in a transaction together with its record; one that
 * fails is rolled back and nothing is recorded. (A script with its own
 * BEGIN/COMMIT runs as written and, if it fails, is recorded as failed, as
 * Prisma does.) Refuses to apply anything if an applied migration's file was
 * edited or an earlier one is recorded as failed.
 *
 * @returns the names of the migrations this call applied, in order.
 */
export async function migrate(conn: MigrationConnection, opts: MigrateOptions = {}): Promise<{ applied: string[] }> {
  const migrations = await loadMigrations(opts.dir);
  await conn.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCK_KEY]);
  const unlock = () => conn.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCK_KEY]);
  let applied: string[];
  try {
    applied = await applyPending(conn, migrations, opts);
  } catch (error) {
    // Report the failure, not a failed unlock; closing the session frees the lock anyway.
    await unlock().catch(() => {});
    throw error;
  }
  await unlock();
  return { applied };
}

async function applyPending(conn: MigrationConnection, migrations: MigrationFile[], opts: MigrateOptions): Promise<string[]> {
  const log = opts.log ?? (() => {});
  const runScript = (sql: string) => (conn.exec ? conn.exec(sql) : conn.query(sql));
  if (opts.schema) {
    await conn.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(opts.schema)}`);
    await conn.query(`SET search_path TO ${quoteIdent(opts.schema)}`);
  }
  await conn.query(CREATE_MIGRATIONS_TABLE);
  const { rows } = await conn.query('SELECT migration_name, checksum, finished_at, rolled_back_at FROM _prisma_migrations');
  const recorded = rows as MigrationRow[];
  refuseBrokenHistory(recorded, migrations);

  const done = new Set(recorded.filter((r) => r.finished_at !== null && r.rolled_back_at === null).map((r) => r.migration_name));
  const applied: string[] = [];
  for (const migration of migrations) {
    if (done.has(migration.name)) continue;
    log(`Applying migration ${migration.name}`);
    if (OWN_TRANSACTION.test(migration.sql)) await applyOwnTransaction(conn, runScript, migration);
    else await applyInTransaction(conn, runScript, migration);
    applied.push(migration.name);
  }
  log(applied.length ? `Applied ${applied.length} migration(s)` : 'No pending migrations');
  return applied;
}

function refuseBrokenHistory(recorded: MigrationRow[], migrations: MigrationFile[]): void {
  const failed = recorded.filter((r) => r.finished_at === null && r.rolled_back_at === null).map((r) => r.migration_name);
  if (failed.length) {
    throw new MigrationError(
      `Migration(s) ${failed.join(', ')} failed earlier and may be partly applied; no migration will be applied until ` +
        'that is resolved. Fix the database, then mark the migration rolled back ' +
        "(`prisma migrate resolve --rolled-back <name>`, or UPDATE _prisma_migrations SET rolled_back_at = now() WHERE migration_name = '<name>').",
    );
  }
  const files = new Map(migrations.map((m) => [m.name, m]));
  const edited = recorded
    .filter((r) => r.rolled_back_at === null)
    .filter((r) => {
      const file = files.get(r.migration_name);
      return file !== undefined && !checksumMatches(file.sql, r.checksum);
    })
    .map((r) => r.migration_name);
  if (edited.length) {
    throw new MigrationError(
      `The checksum of applied migration(s) ${edited.join(', ')} does not match migration.sql: the file was edited after ` +
        'it was applied. Restore the original file and put the change in a new migration.',
    );
  }
}

async function applyInTransaction(
  conn: MigrationConnection,
  runScript: (sql: string) => Promise<unknown>,
  migration: MigrationFile,
): Promise<void> {
  await conn.query('BEGIN');
  try {
    await runScript(migration.sql);
    await conn.query(
      `INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
       VALUES ($1, $2, $3, now(), clock_timestamp(), 1)`,
      [crypto.randomUUID(), migration.checksum, migration.name],
    );
    await conn.query('COMMIT');
  } catch (error) {
    await conn.query('ROLLBACK');
    throw new MigrationError(
      `Migration ${migration.name} failed and was rolled back; nothing was recorded: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * A script with its own BEGIN/COMMIT runs as written, recorded the way Prisma
 * does: started first, finished on success, failed (with logs) otherwise.
 */
async function applyOwnTransaction(
  conn: MigrationConnection,
  runScript: (sql: string) => Promise<unknown>,
  migration: MigrationFile,
): Promise<void> {
  const id = crypto.randomUUID();
  await conn.query('INSERT INTO _prisma_migrations (id, checksum, migration_name) VALUES ($1, $2, $3)', [
    id,
    migration.checksum,
    migration.name,
  ]);
  try {
    await runScript(migration.sql);
  } catch (error) {
    const message = (error as Error).message;
    await conn.query('ROLLBACK'); // ends a transaction the failed script left open
    await conn.query('UPDATE _prisma_migrations SET logs = $2 WHERE id = $1', [id, message]);
    throw new MigrationError(
      `Migration ${migration.name} failed and may be partly applied (it manages its own transactions); ` +
        `it is recorded as failed: ${message}`,
      { cause: error },
    );
  }
  await conn.query('UPDATE _prisma_migrations SET finished_at = now(), applied_steps_count = 1 WHERE id = $1', [id]);
}
