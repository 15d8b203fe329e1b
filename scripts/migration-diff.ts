// Prints the SQL that would bring a database migrated with prisma/migrations
// up to prisma/schema.prisma, or writes it as a new migration:
//
//   npx tsx scripts/migration-diff.ts                  print the difference
//   npx tsx scripts/migration-diff.ts --create <name>  write prisma/migrations/<UTC timestamp>_<name>/migration.sql
//   add --postgres to replay the migrations in a temporary schema in the
//   DATABASE_URL database (default postgresql://postgres@127.0.0.1:5432/test)
//   instead of an in-memory PGlite.
//
// Without --create it exits 2 when there is a difference (as `prisma migrate
// diff --exit-code` does), 0 when the migrations and schema.prisma agree.
import { parseArgs } from 'node:util';
import { createMigration, diffMigrationsToSchema, type DiffOptions } from './migration-diff-lib.ts';

const { values } = parseArgs({
  options: {
    create: { type: 'string' },
    postgres: { type: 'boolean', default: false },
  },
});

const options: DiffOptions = values.postgres
  ? { shadowDatabaseUrl: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test' }
  : {};

if (values.create !== undefined) {
  const dir = await createMigration(values.create, options);
  console.log(dir ? `Created ${dir}` : 'The migrations already match schema.prisma; nothing to create.');
} else {
  const diff = await diffMigrationsToSchema(options);
  if (diff.empty) {
    console.error('The migrations match schema.prisma.');
  } else {
    process.stdout.write(diff.sql);
    process.exitCode = 2;
  }
}
