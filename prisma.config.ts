import { defineConfig } from 'prisma/config';

// Prisma 7 CLI configuration. The CLI's schema engine cannot be downloaded on
// offline machines: migrations are committed SQL applied by `npm run db:migrate`
// (src/migrate.ts), and `prisma migrate deploy` accepts the same folder.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://localhost:5432/parley' },
});
