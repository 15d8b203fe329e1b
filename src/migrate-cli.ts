// `npm run db:migrate`: applies pending migrations to DATABASE_URL (Postgres,
// optionally `?schema=<name>`) or, when it is unset, to the embedded PGlite
// database in `${DATA_DIR ?? './data'}/pglite`.
import fs from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { migrate } from './migrate.ts';

// migrate() reports each migration it applies, then a summary.
const log = (line: string) => console.log(line);

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (url) {
    const parsed = new URL(url);
    const schema = parsed.searchParams.get('schema') ?? undefined;
    parsed.searchParams.delete('schema'); // Prisma's parameter; pg does not know it
    const client = new pg.Client({ connectionString: parsed.toString() });
    await client.connect();
    try {
      await migrate(client, { schema, log });
    } finally {
      await client.end();
    }
  } else {
    const dir = path.join(process.env.DATA_DIR ?? './data', 'pglite');
    fs.mkdirSync(dir, { recursive: true });
    const db = new PGlite(dir);
    try {
      await migrate(db, { log });
    } finally {
      await db.close();
    }
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
