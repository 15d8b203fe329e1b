// Send throughput into one busy channel: starts a Parley instance (its own
// process, `src/main.ts`) on a fresh Postgres schema, then fires SENDS
// sendMessage mutations from CLIENTS concurrent HTTP clients, each waiting for
// its answer before sending again, and prints sends/s and latency percentiles.
//
//   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test npx tsx bench/send-throughput.ts
//
// Without DATABASE_URL it runs on the embedded PGlite database (in a temp folder).
// SENDS (default 2000) and CLIENTS (default 32) tune the load. Compare runs of
// two commits back to back on the same machine: the ratio means something, a
// single absolute figure does not.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

const sends = Number(process.env.SENDS ?? 2000);
const clients = Number(process.env.CLIENTS ?? 32);
const databaseUrl = process.env.DATABASE_URL;
const schema = `bench_${crypto.randomBytes(5).toString('hex')}`;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-bench-'));
const root = path.resolve(import.meta.dirname, '..');

function instanceUrl(): string | undefined {
  if (!databaseUrl) return undefined;
  const url = new URL(databaseUrl);
  url.searchParams.set('schema', schema);
  return url.toString();
}

async function startInstance() {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: instanceUrl() ?? '',
      REDIS_URL: '',
      DATA_DIR: dataDir,
      JWT_SECRET: 'parley-bench-secret-0123456789abcdef0123456789',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+\/graphql)/.exec(output);
      if (match) resolve(match[1]!);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`instance exited with ${code}: ${output}`)));
  });
  return { url, child };
}

async function gql<T>(url: string, query: string, variables: Record<string, unknown>, token?: string): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown[] };
  if (body.errors?.length || !body.data) throw new Error(JSON.stringify(body.errors ?? body));
  return body.data;
}

const SIGN_UP = 'mutation($input: SignUpInput!) { signUp(input: $input) { token user { id } } }';
const CREATE_WORKSPACE = 'mutation($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }';
const INVITE = 'mutation($workspaceId: ID!) { createWorkspaceInvite(workspaceId: $workspaceId) { code } }';
const JOIN = 'mutation($code: String!) { joinWorkspace(code: $code) { id } }';
const CREATE_CHANNEL = 'mutation($input: CreateChannelInput!) { createChannel(input: $input) { id } }';
const SEND = 'mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }';

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function main() {
  const { url, child } = await startInstance();
  try {
    const users: { id: string; token: string }[] = [];
    for (let i = 0; i < clients; i++) {
      const suffix = crypto.randomBytes(4).toString('hex');
      const { signUp } = await gql<{ signUp: { token: string; user: { id: string } } }>(url, SIGN_UP, {
        input: { email: `b${i}-${suffix}@example.com`, handle: `b${i}-${suffix}`, name: `b${i}`, password: `pw-${suffix}-secret` },
      });
      users.push({ id: signUp.user.id, token: signUp.token });
    }
    const owner = users[0]!;
    const { createWorkspace } = await gql<{ createWorkspace: { id: string } }>(
      url, CREATE_WORKSPACE, { input: { name: 'Bench', slug: `bench-${crypto.randomBytes(4).toString('hex')}` } }, owner.token,
    );
    const { createWorkspaceInvite } = await gql<{ createWorkspaceInvite: { code: string } }>(url, INVITE, { workspaceId: createWorkspace.id }, owner.token);
    for (const user of users.slice(1)) await gql(url, JOIN, { code: createWorkspaceInvite.code }, user.token);
    const { createChannel } = await gql<{ createChannel: { id: string } }>(
      url, CREATE_CHANNEL, { input: { workspaceId: createWorkspace.id, name: 'busy', memberIds: users.slice(1).map((u) => u.id) } }, owner.token,
    );
    const channelId = createChannel.id;

    // Warm up: every client once.
    await Promise.all(users.map((user) => gql(url, SEND, { input: { channelId, text: 'warm up' } }, user.token)));

    let next = 0;
    const latencies: number[] = [];
    const started = performance.now();
    await Promise.all(
      users.map(async (user) => {
        while (next < sends) {
          const i = next++;
          const t0 = performance.now();
          await gql(url, SEND, { input: { channelId, text: `message ${i}` } }, user.token);
          latencies.push(performance.now() - t0);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    console.log(
      `${databaseUrl ? 'Postgres' : 'PGlite'}: ${sends} sends from ${clients} clients in ${seconds.toFixed(2)} s = ` +
        `${Math.round(sends / seconds)} sends/s; latency p50 ${percentile(latencies, 50).toFixed(1)} ms, ` +
        `p95 ${percentile(latencies, 95).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms`,
    );
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    fs.rmSync(dataDir, { recursive: true, force: true });
    if (databaseUrl) {
      const admin = new pg.Client({ connectionString: databaseUrl.replace(/\?.*$/, '') });
      await admin.connect();
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    }
  }
}

await main();
