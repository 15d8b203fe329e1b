import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffMigrationsToSchema } from '../scripts/migration-diff-lib.ts';
import { loadMigrations, migrate, MigrationError, type MigrationConnection } from '../src/migrate.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const migrationsDir = path.join(root, 'prisma/migrations');
const schemaPath = path.join(root, 'prisma/schema.prisma');
const databaseUrl = process.env.DATABASE_URL;
const onPostgres = databaseUrl ? 'on Postgres' : 'on Postgres (skipped: DATABASE_URL not set)';

/** The committed migrations, with checksums computed here rather than by the runner. */
async function expectedMigrations(): Promise<{ name: string; checksum: string }[]> {
  const names = (await fs.readdir(migrationsDir, { withFileTypes: true }))
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const bytes = await fs.readFile(path.join(migrationsDir, name, 'migration.sql'));
      return { name, checksum: crypto.createHash('sha256').update(bytes).digest('hex') };
    }),
  );
}

/** The table names schema.prisma declares, plus Prisma's bookkeeping table. */
async function expectedTables(): Promise<string[]> {
  const schema = await fs.readFile(schemaPath, 'utf8');
  return [...schema.matchAll(/^model\s+(\w+)/gm)].map((m) => m[1]!).concat('_prisma_migrations').sort();
}

/** The functions the migrations create (schema.prisma cannot declare them), by schema. */
async function functionsIn(conn: MigrationConnection, schema: string): Promise<string[]> {
  const { rows } = await conn.query(
    `SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 ORDER BY p.proname`,
    [schema],
  );
  return rows.map((r: { proname: string }) => r.proname);
}

async function tablesIn(conn: MigrationConnection, schema: string): Promise<string[]> {
  const { rows } = await conn.query(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name`,
    [schema],
  );
  return rows.map((r: { table_name: string }) => r.table_name).sort();
}

/** Asserts that `_prisma_migrations` records exactly the committed migrations, once each, as Prisma would. */
async function expectRecorded(conn: MigrationConnection): Promise<void> {
  const { rows } = await conn.query(
    `SELECT id, migration_name, checksum, finished_at, rolled_back_at, logs, applied_steps_count
       FROM _prisma_migrations ORDER BY migration_name`,
  );
  const expected = await expectedMigrations();
  expect(rows.map((r: { migration_name: string; checksum: string }) => ({ name: r.migration_name, checksum: r.checksum }))).toEqual(
    expected,
  );
  for (const row of rows) {
    expect(row.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(row.finished_at).not.toBeNull();
    expect(row.rolled_back_at).toBeNull();
    expect(row.logs).toBeNull();
    expect(row.applied_steps_count).toBe(1);
  }
}

/** A migrations folder in the temp directory holding the given scripts, named in order. */
async function tempMigrations(scripts: string[]): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'parley-migrations-'));
  for (const [i, sql] of scripts.entries()) {
    const name = `2025010100000${i}_step${i}`;
    await fs.mkdir(path.join(dir, name));
    await fs.writeFile(path.join(dir, name, 'migration.sql'), sql);
  }
  return dir;
}

const randomSchema = (prefix: string) => `${prefix}_${crypto.randomBytes(6).toString('hex')}`;

describe('migrations and schema.prisma', () => {
  it('agree: the diff from prisma/migrations to schema.prisma is empty (PGlite shadow database)', async () => {
    const diff = await diffMigrationsToSchema({ migrationsDir, schemaPath });
    expect(diff.sql).toBe('');
    expect(diff.empty).toBe(true);
  }, 120_000);

  it('the check is not vacuous: a changed schema.prisma yields unqualified SQL', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'parley-schema-'));
    const changed = path.join(dir, 'schema.prisma');
    const schema = await fs.readFile(schemaPath, 'utf8');
    await fs.writeFile(changed, schema.replace(/^model User \{/m, 'model User {\n  nickname String?'));
    const diff = await diffMigrationsToSchema({ migrationsDir, schemaPath: changed });
    expect(diff.empty).toBe(false);
    expect(diff.sql).toContain('ALTER TABLE "User" ADD COLUMN');
    expect(diff.sql).toContain('"nickname" TEXT');
    expect(diff.sql).not.toContain('"public".');
    await fs.rm(dir, { recursive: true });
  }, 120_000);

  it.skipIf(!databaseUrl)(`agree with the shadow database ${onPostgres}`, async () => {
    const diff = await diffMigrationsToSchema({ migrationsDir, schemaPath, shadowDatabaseUrl: postgresUrl() });
    expect(diff.sql).toBe('');
  }, 120_000);
});

describe('the runner on PGlite', () => {
  it('applies every migration to a fresh database, records it like Prisma, and applies nothing the second time', async () => {
    const db = new PGlite();
    try {
      const expected = await expectedMigrations();
      expect((await migrate(db)).applied).toEqual(expected.map((m) => m.name));
      await expectRecorded(db);
      expect(await tablesIn(db, 'public')).toEqual(await expectedTables());
      expect(await functionsIn(db, 'public')).toEqual(['parley_read_position', 'send_messages', 'send_messages_with_attachments']);
      expect((await migrate(db)).applied).toEqual([]);
      await expectRecorded(db);
    } finally {
      await db.close();
    }
  }, 60_000);

  describe('history checks and failures (one schema per test)', () => {
    let db: PGlite;
    beforeAll(async () => {
      db = new PGlite();
      await db.waitReady;
    });
    afterAll(() => db.close());

    it('refuses a migration whose file no longer matches the recorded checksum', async () => {
      const schema = randomSchema('tampered');
      await migrate(db, { schema });
      const [first] = await expectedMigrations();
      await db.query('UPDATE _prisma_migrations SET checksum = $1 WHERE migration_name = $2', ['0'.repeat(64), first!.name]);
      const run = migrate(db, { schema });
      await expect(run).rejects.toThrow(MigrationError);
      await expect(run).rejects.toThrow(
        new RegExp(`checksum of applied migration\\(s\\) ${first!.name} does not match migration.sql`),
      );
    });

    it('like Prisma, accepts an applied migration whose only change is its line endings', async () => {
      const schema = randomSchema('crlf');
      const dir = await tempMigrations(['CREATE TABLE "A" (id int);\nCREATE TABLE "B" (id int);\n']);
      await migrate(db, { schema, dir });
      const file = path.join(dir, '20250101000000_step0', 'migration.sql');
      await fs.writeFile(file, (await fs.readFile(file, 'utf8')).replace(/\n/g, '\r\n'));
      expect((await migrate(db, { schema, dir })).applied).toEqual([]);
      await fs.rm(dir, { recursive: true });
    });

    it('rolls back a failing migration and records nothing, then applies it once fixed', async () => {
      const schema = randomSchema('failing');
      const dir = await tempMigrations(['CREATE TABLE "A" (id int);', 'CREATE TABLE "B" (id int);\nSELECT * FROM "Missing";']);
      await expect(migrate(db, { schema, dir })).rejects.toThrow(/20250101000001_step1 failed and was rolled back.*"Missing"/);
      expect(await tablesIn(db, schema)).toEqual(['A', '_prisma_migrations']);
      const { rows } = await db.query<{ migration_name: string }>('SELECT migration_name FROM _prisma_migrations');
      expect(rows.map((r) => r.migration_name)).toEqual(['20250101000000_step0']);

      await fs.writeFile(path.join(dir, '20250101000001_step1', 'migration.sql'), 'CREATE TABLE "B" (id int);');
      expect((await migrate(db, { schema, dir })).applied).toEqual(['20250101000001_step1']);
      await fs.rm(dir, { recursive: true });
    });

    it('runs a script with its own BEGIN/COMMIT as written (Prisma emits those for enum rewrites)', async () => {
      const schema = randomSchema('own_tx');
      const dir = await tempMigrations([
        `CREATE TYPE "Color" AS ENUM ('RED', 'BLUE');`,
        [
          '-- AlterEnum',
          'BEGIN;',
          `CREATE TYPE "Color_new" AS ENUM ('RED');`,
          'ALTER TYPE "Color" RENAME TO "Color_old";',
          'ALTER TYPE "Color_new" RENAME TO "Color";',
          'DROP TYPE "Color_old";',
          'COMMIT;',
        ].join('\n'),
      ]);
      expect((await migrate(db, { schema, dir })).applied).toHaveLength(2);
      const { rows } = await db.query<{ finished: boolean; applied_steps_count: number }>(
        'SELECT finished_at IS NOT NULL AS finished, applied_steps_count FROM _prisma_migrations',
      );
      expect(rows).toEqual([
        { finished: true, applied_steps_count: 1 },
        { finished: true, applied_steps_count: 1 },
      ]);
      const labels = await db.query<{ enum_range: string }>(`SELECT enum_range(NULL::"Color")::text AS enum_range`);
      expect(labels.rows[0]!.enum_range).toBe('{RED}');
      await fs.rm(dir, { recursive: true });
    });

    it('records a failed self-managed migration as Prisma does and refuses to go on until it is resolved', async () => {
      const schema = randomSchema('failed');
      const dir = await tempMigrations(['BEGIN;\nCREATE TABLE "A" (id int);\nSELECT * FROM "Missing";\nCOMMIT;']);
      await expect(migrate(db, { schema, dir })).rejects.toThrow(/may be partly applied.*recorded as failed/);
      const { rows } = await db.query<{ finished_at: unknown; logs: string }>('SELECT finished_at, logs FROM _prisma_migrations');
      expect(rows).toHaveLength(1);
      expect(rows[0]!.finished_at).toBeNull();
      expect(rows[0]!.logs).toMatch(/"Missing"/);

      await expect(migrate(db, { schema, dir })).rejects.toThrow(/20250101000000_step0 failed earlier/);
      await db.query('UPDATE _prisma_migrations SET rolled_back_at = now()');
      await fs.writeFile(path.join(dir, '20250101000000_step0', 'migration.sql'), 'CREATE TABLE "A" (id int);');
      expect((await migrate(db, { schema, dir })).applied).toEqual(['20250101000000_step0']);
      await fs.rm(dir, { recursive: true });
    });
  });
});

/** DATABASE_URL without Prisma's `?schema=`, which pg does not understand. */
function postgresUrl(): string {
  const url = new URL(databaseUrl!);
  url.searchParams.delete('schema');
  return url.toString();
}

describe.skipIf(!databaseUrl)(`the runner ${onPostgres}`, () => {
  const clients: pg.Client[] = [];
  const schemas: string[] = [];

  async function connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: postgresUrl() });
    await client.connect();
    clients.push(client);
    return client;
  }

  function freshSchema(prefix: string): string {
    const schema = randomSchema(prefix);
    schemas.push(schema);
    return schema;
  }

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.end()));
    const admin = new pg.Client({ connectionString: postgresUrl() });
    await admin.connect();
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  });

  it('applies every migration to a fresh schema, records it like Prisma, and applies nothing the second time', async () => {
    const schema = freshSchema('migrate_pg');
    const client = await connect();
    const expected = await expectedMigrations();
    expect((await migrate(client, { schema })).applied).toEqual(expected.map((m) => m.name));
    await expectRecorded(client);
    expect(await tablesIn(client, schema)).toEqual(await expectedTables());
    // Created unqualified: in the migrated schema, where its tables are, not in public.
    expect(await functionsIn(client, schema)).toEqual(['parley_read_position', 'send_messages', 'send_messages_with_attachments']);
    expect((await migrate(client, { schema })).applied).toEqual([]);
    await expectRecorded(client);
  });

  it('serialises two instances migrating the same fresh schema at once: exactly one applies', async () => {
    const schema = freshSchema('migrate_race');
    const [a, b] = await Promise.all([connect(), connect()]);
    const results = await Promise.all([migrate(a, { schema }), migrate(b, { schema })]);
    const names = (await expectedMigrations()).map((m) => m.name);
    expect(results.map((r) => r.applied).sort((x, y) => y.length - x.length)).toEqual([names, []]);
    await expectRecorded(a);
    expect(await tablesIn(a, schema)).toEqual(await expectedTables());
  });

  it('refuses a migration whose file no longer matches the recorded checksum', async () => {
    const schema = freshSchema('migrate_tampered');
    const client = await connect();
    await migrate(client, { schema });
    const [first] = await expectedMigrations();
    await client.query('UPDATE _prisma_migrations SET checksum = $1 WHERE migration_name = $2', ['f'.repeat(64), first!.name]);
    await expect(migrate(client, { schema })).rejects.toThrow(
      new RegExp(`checksum of applied migration\\(s\\) ${first!.name} does not match migration.sql: the file was edited`),
    );
  });
});

it('loadMigrations reads the committed folders in order', async () => {
  const names = (await loadMigrations()).map((m) => m.name);
  expect(names).toEqual((await expectedMigrations()).map((m) => m.name));
  expect(names.length).toBeGreaterThan(0);
});
