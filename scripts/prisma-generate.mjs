// Runs `prisma generate` on machines that cannot download Prisma's native
// schema engine: generate never uses that engine, but the CLI checks that the
// binary exists, so point it at any existing file when none is configured.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const env = { ...process.env };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= process.execPath;
env.PRISMA_HIDE_UPDATE_MESSAGE = '1';
// The pothos generator is a bin of @pothos/plugin-prisma.
env.PATH = `${path.resolve('node_modules/.bin')}${path.delimiter}${env.PATH ?? ''}`;
const cli = require.resolve('prisma/build/index.js');
const result = spawnSync(process.execPath, [cli, 'generate', '--no-hints'], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
