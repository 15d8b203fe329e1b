/**
 * Parley's benchmark suite: `npm run bench` (full) or `npm run bench -- --quick`.
 * Options: --only fanout,sends,connections,history,resume  --peers stock,apollo,mercurius,floor
 * --profile (Parley under --cpu-prof, top self-time functions in the report)
 * --out docs/benchmarks.md
 *
 * Parley is a black box: started as `node --import tsx src/main.ts` with its
 * environment, driven only through its public GraphQL API (plus SQL seeding of
 * its tables for the history and resume scenarios). Every server and every load
 * generator is its own process; the runner only orchestrates and reads /proc.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConnectionsConfig, ConnectionsResult } from './load/connections.ts';
import type { FanoutConfig, FanoutResult } from './load/fanout.ts';
import type { HistoryConfig, HistoryResult } from './load/history.ts';
import type { ResumeConfig, ResumeResult } from './load/resume.ts';
import type { SendsConfig, SendsResult } from './load/sends.ts';
import { runChild } from './lib/child.ts';
import { benchConfig, fanoutRates } from './lib/config.ts';
import type { Target } from './lib/gql.ts';
import { newestProfile, topSelfTime } from './lib/profile.ts';
import { cpuDelta, type CpuUse, cpuSnapshot, installCleanup, killAll, rssKb, type Server, sleep, startServer } from './lib/proc.ts';
import { writeReport } from './lib/report.ts';
import { type PerTarget, type Results, resultsToJson } from './lib/results.ts';
import { BENCH_SCHEMA, benchClient, buildWorld, resetSchema, seedMessages, type World } from './lib/world.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bench = path.join(root, 'bench');
const resultsDir = path.join(bench, 'results');

// ---------- options ----------
const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const option = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
};
const quick = flag('quick');
const profile = flag('profile');
const SCENARIOS = ['fanout', 'sends', 'connections', 'history', 'resume'] as const;
type Scenario = (typeof SCENARIOS)[number];
const only = new Set((option('only') ?? SCENARIOS.join(',')).split(',') as Scenario[]);
const PEERS = ['stock', 'floor', 'mercurius', 'apollo'] as const;
const chosen = (option('peers') ?? PEERS.join(',')).split(',');
const peers = PEERS.filter((p) => chosen.includes(p));
const outFile = path.resolve(root, option('out') ?? 'docs/benchmarks.md');
const config = benchConfig(quick);

const PG_BASE = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const JWT_SECRET = 'parley-bench-secret-0123456789abcdef0123456789';
const LOCAL_ADDRESSES = Array.from({ length: 8 }, (_, i) => `127.0.0.${11 + i}`);

const TARGETS: Record<string, { script: string; port: number; kind: 'parley' | 'peer' }> = {
  parley: { script: path.join(root, 'src/main.ts'), port: 4701, kind: 'parley' },
  stock: { script: path.join(bench, 'peers/stock-yoga.ts'), port: 4702, kind: 'peer' },
  apollo: { script: path.join(bench, 'peers/apollo.ts'), port: 4703, kind: 'peer' },
  mercurius: { script: path.join(bench, 'peers/mercurius.ts'), port: 4704, kind: 'peer' },
  floor: { script: path.join(bench, 'peers/floor.ts'), port: 4705, kind: 'peer' },
};
const targets = ['parley', ...peers];

const log = (line: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);
const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error)).slice(0, 800);

// ---------- servers ----------
let world: World | undefined;

async function start(name: string, scenario: string): Promise<Server> {
  const spec = TARGETS[name]!;
  const databaseUrl = `${PG_BASE}?schema=${BENCH_SCHEMA}`;
  const env: Record<string, string> =
    spec.kind === 'parley'
      ? {
          DATABASE_URL: databaseUrl,
          REDIS_URL,
          JWT_SECRET,
          REDIS_KEY_PREFIX: 'parley-bench:',
          LOG_LEVEL: 'warn',
          RATE_LIMITS: 'off',
          NODE_ENV: 'production',
          DATA_DIR: path.join(resultsDir, 'data'),
        }
      : {
          DATABASE_URL: databaseUrl,
          REDIS_URL,
          NODE_ENV: 'production',
          BENCH_AUTHOR_ID: world?.authorId ?? '',
          BENCH_TOPIC_PREFIX: `parley-bench-peer:${name}:`,
        };
  const profileDir = path.join(resultsDir, 'profiles', scenario);
  const nodeArgs = spec.kind === 'parley' && profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  if (nodeArgs.length) fs.rmSync(profileDir, { recursive: true, force: true });
  const server = await startServer({
    name,
    script: spec.script,
    port: spec.port,
    env,
    nodeArgs,
    logDir: path.join(resultsDir, 'logs'),
    readyPath: spec.kind === 'parley' ? '/readyz' : '/healthz',
  });
  return server;
}

async function stop(server: Server, scenario: string): Promise<void> {
  // Parley under --cpu-prof must exit on its own to write the profile; others need not linger.
  await server.stop(profile && server.name === 'parley' ? 30_000 : 3_000);
  if (profile && server.name === 'parley') {
    const file = newestProfile(path.join(resultsDir, 'profiles', scenario));
    if (file) results.profiles[scenario] = { file: path.relative(root, file), ...topSelfTime(file) };
  }
}

function target(server: Server): Target {
  return { name: server.name, kind: TARGETS[server.name]!.kind, httpUrl: server.httpUrl, wsUrl: server.wsUrl };
}

/** Channel id as the target's API names it: Parley's global id, or the uuid for peers. */
function channelId(name: string, channel: string): string {
  const ref = world!.channels.get(channel);
  if (!ref) throw new Error(`no channel ${channel}`);
  return TARGETS[name]!.kind === 'parley' ? ref.gid : ref.uuid;
}

/** Runs a load generator against a started server, with CPU accounting around it. */
async function measured<R>(server: Server, script: string, childConfig: unknown, timeoutMs: number): Promise<{ result: R; cpu: CpuUse }> {
  const before = cpuSnapshot(server.pid);
  const t0 = Date.now();
  const run = runChild<R>(path.join(bench, 'load', script), childConfig, timeoutMs);
  const { result, cpuSeconds } = await run.result;
  const after = cpuSnapshot(server.pid);
  return { result, cpu: cpuDelta(before, after, cpuSeconds, (Date.now() - t0) / 1000) };
}

// ---------- scenarios: what one target does in each ----------
type FanoutSlot = PerTarget<FanoutResult[]>;
type SendsSlot = PerTarget<{ hot?: SendsResult; many?: SendsResult }>;
type ConnectionsSlot = PerTarget<ConnectionsResult & { rssBeforeKb: number; rssAfterKb: number; bytesPerSocket: number }>;

async function fanoutOn(server: Server, slot: FanoutSlot): Promise<void> {
  const counts = config.fanout.subscribers;
  const childConfig: FanoutConfig = {
    target: target(server),
    tokens: world!.tokens,
    channelId: channelId(server.name, `fan-${server.name}`),
    subscriberCounts: counts,
    ratesPerCount: counts.map((n) => fanoutRates(config.fanout, n)),
    stepSeconds: config.fanout.stepSeconds,
    drainSeconds: config.fanout.drainSeconds,
    p99LimitMs: config.fanout.p99LimitMs,
    localAddresses: LOCAL_ADDRESSES,
    maxInflight: 256,
  };
  const { result, cpu } = await measured<FanoutResult[]>(server, 'fanout.ts', childConfig, 15 * 60_000);
  slot.result = result;
  slot.cpu = cpu;
  for (const run of result) {
    log(
      `fanout ${server.name} N=${run.subscribers}: p99<${config.fanout.p99LimitMs} ms up to ${run.maxRate} msg/s (${Math.round(run.maxDeliveriesPerSecond)} deliveries/s); lossless up to ${Math.round(run.maxLosslessDeliveriesPerSecond)} deliveries/s`,
    );
  }
}

function pgbench(clients: number, seconds: number): { tps: number; clients: number; seconds: number; error?: string } {
  const script = path.join(resultsDir, 'pgbench-insert.sql');
  fs.writeFileSync(
    script,
    `\\set c random(1, ${config.sends.manyChannels})\nINSERT INTO ${BENCH_SCHEMA}.pgbench_scratch (channel_id, text) VALUES (:c, 'durable send');\n`,
  );
  const url = new URL(PG_BASE);
  try {
    const out = execFileSync(
      '/usr/bin/pgbench',
      ['-n', '-h', url.hostname, '-p', url.port || '5432', '-U', url.username || 'postgres', '-c', String(clients), '-j', '2', '-T', String(seconds), '-f', script, url.pathname.slice(1)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: (seconds + 60) * 1000 },
    );
    const match = /tps = ([\d.]+) \(without initial connection time\)/.exec(out);
    return { tps: match ? Number(match[1]) : Number.NaN, clients, seconds };
  } catch (error) {
    return { tps: Number.NaN, clients, seconds, error: errorText(error) };
  }
}

async function sendsOn(server: Server, slot: SendsSlot): Promise<void> {
  const { concurrency, seconds, warmupSeconds, manyChannels } = config.sends;
  const ids = (channels: string[]) => channels.map((c) => channelId(server.name, c));
  const { result, cpu } = await measured<Record<string, SendsResult>>(
    server,
    'sends.ts',
    {
      target: target(server),
      token: world!.tokens[0]!,
      runs: {
        hot: ids([`hot-${server.name}`]),
        many: ids(Array.from({ length: manyChannels }, (_, i) => `many-${server.name}-${i}`)),
      },
      concurrency,
      seconds,
      warmupSeconds,
    } satisfies SendsConfig,
    2 * (seconds + warmupSeconds + 120) * 1000,
  );
  slot.result = { hot: result.hot, many: result.many };
  slot.cpu = cpu;
  for (const [label, r] of Object.entries(result)) {
    log(`sends ${server.name} ${label}: ${r.sendsPerSecond.toFixed(0)}/s p99 ${r.latency.p99.toFixed(1)} ms, ${r.errors} errors`);
  }
}

async function connectionsOn(server: Server, slot: ConnectionsSlot): Promise<void> {
  const connections = (count: number, settleSeconds: number) =>
    runChild<ConnectionsResult>(
      path.join(bench, 'load', 'connections.ts'),
      {
        target: target(server),
        tokens: world!.tokens,
        channelId: channelId(server.name, `conn-${server.name}`),
        count,
        perSecond: config.connections.perSecond,
        localAddresses: LOCAL_ADDRESSES,
        settleSeconds,
      } satisfies ConnectionsConfig,
      5 * 60_000,
    );
  // Warm-up, the same for every target: the first sockets and subscriptions
  // load code and fill caches once (modules, query plans); that is not memory per socket.
  const warm = connections(Math.min(100, config.connections.count), 1);
  await Promise.race([warm.event('opened'), warm.result]);
  warm.signal('release');
  await warm.result;
  await sleep(1000);
  const before = cpuSnapshot(server.pid);
  const rssBeforeKb = rssKb(server.pid);
  const t0 = Date.now();
  const run = connections(config.connections.count, config.connections.settleSeconds);
  await Promise.race([run.event('opened'), run.result]);
  const rssAfterKb = rssKb(server.pid);
  run.signal('release');
  const { result, cpuSeconds } = await run.result;
  slot.cpu = cpuDelta(before, cpuSnapshot(server.pid), cpuSeconds, (Date.now() - t0) / 1000);
  const bytesPerSocket = ((rssAfterKb - rssBeforeKb) * 1024) / Math.max(1, result.established);
  slot.result = { ...result, rssBeforeKb, rssAfterKb, bytesPerSocket };
  log(
    `connections ${server.name}: ${result.established}/${result.count} in ${result.establishSeconds.toFixed(1)} s, ${(bytesPerSocket / 1024).toFixed(1)} KiB/socket, ${result.resets} resets, ${result.errors} errors`,
  );
}

let historyChannel: { firstSeq: number; lastSeq: number } | undefined;
let resumeChannel: { afterSeq: number; lastSeq: number } | undefined;

async function historyOn(server: Server, slot: PerTarget<HistoryResult>): Promise<void> {
  if (!historyChannel) throw new Error('history channel was not seeded');
  const ref = world!.channels.get('history')!;
  const { result, cpu } = await measured<HistoryResult>(
    server,
    'history.ts',
    {
      httpUrl: server.httpUrl,
      token: world!.tokens[1]!,
      channelGid: ref.gid,
      channelUuid: ref.uuid,
      firstSeq: historyChannel.firstSeq,
      lastSeq: historyChannel.lastSeq,
      queries: config.history.queries,
      maxSeconds: config.history.maxSeconds,
      explainEvery: config.history.explainEvery,
      pgBase: PG_BASE,
      schema: BENCH_SCHEMA,
    } satisfies HistoryConfig,
    10 * 60_000,
  );
  slot.result = result;
  slot.cpu = cpu;
  log(
    `history: ${result.queries} pages; GraphQL p50 ${result.graphql.p50.toFixed(2)} p99 ${result.graphql.p99.toFixed(2)} ms; SQL p50 ${result.sql.p50.toFixed(2)} p99 ${result.sql.p99.toFixed(2)} ms`,
  );
}

async function resumeOn(server: Server, slot: PerTarget<ResumeResult>): Promise<void> {
  if (!resumeChannel) throw new Error('resume channel was not seeded');
  const ref = world!.channels.get('resume')!;
  const { result, cpu } = await measured<ResumeResult>(
    server,
    'resume.ts',
    {
      wsUrl: server.wsUrl,
      token: world!.tokens[2]!,
      channelGid: ref.gid,
      channelUuid: ref.uuid,
      afterSeq: resumeChannel.afterSeq,
      lastSeq: resumeChannel.lastSeq,
      repeats: config.resume.repeats,
      timeoutSeconds: config.resume.timeoutSeconds,
    } satisfies ResumeConfig,
    10 * 60_000,
  );
  slot.result = result;
  slot.cpu = cpu;
  log(`resume: ${result.runs.map((run) => (run.completed ? `${run.ms.toFixed(0)} ms` : 'timed out')).join(', ')}`);
}

const RUNNERS: Record<Scenario, (server: Server, slot: PerTarget<never>) => Promise<void>> = {
  fanout: fanoutOn as never,
  sends: sendsOn as never,
  connections: connectionsOn as never,
  history: historyOn as never,
  resume: resumeOn as never,
};

/**
 * Scenarios that share a server start. Each target is started once for
 * connections, fan-out and sends, in that order: connections first, on the
 * fresh process, because its memory is what is measured. History and resume
 * run on Parley alone. Targets take turns, one server up at a time, so each
 * has the machine to itself apart from its load generator; stock and the
 * floor come first because the goals are stated against them.
 */
const PHASES: { label: string; scenarios: Scenario[]; targets: () => string[] }[] = [
  { label: 'history+resume', scenarios: ['history', 'resume'], targets: () => ['parley'] },
  { label: 'connections+fanout+sends', scenarios: ['connections', 'fanout', 'sends'], targets: () => targets },
];

/** Quick mode stops starting targets after this, so the run ends within five minutes however busy the machine. */
const QUICK_BUDGET_SECONDS = 245;
const runStarted = Date.now();
const overBudget = () => quick && (Date.now() - runStarted) / 1000 > QUICK_BUDGET_SECONDS;

async function runPhase(phase: (typeof PHASES)[number]): Promise<void> {
  const active = phase.scenarios.filter((s) => only.has(s));
  if (!active.length) return;
  const slots = new Map<Scenario, Record<string, PerTarget<never>>>();
  for (const scenario of active) {
    const byTarget: Record<string, PerTarget<never>> = {};
    slots.set(scenario, byTarget);
    // Visible in the results while it runs, so an interrupted run still reports what it measured.
    (results as unknown as Record<string, unknown>)[scenario] = { status: 'failed', error: 'interrupted', byTarget };
  }
  if (active.includes('sends')) {
    const client = benchClient(PG_BASE);
    await client.connect();
    await client.query(
      'CREATE TABLE IF NOT EXISTS pgbench_scratch (id bigserial PRIMARY KEY, channel_id int NOT NULL, text text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())',
    );
    await client.end();
  }
  for (const name of phase.targets()) {
    for (const scenario of active) slots.get(scenario)![name] = {};
    if (overBudget()) {
      for (const scenario of active) slots.get(scenario)![name]!.error = `not run: quick mode's ${QUICK_BUDGET_SECONDS} s budget was used up`;
      log(`${phase.label}: ${name} skipped (quick-mode time budget)`);
      continue;
    }
    let server: Server | undefined;
    try {
      log(`${phase.label}: ${name}`);
      server = await start(name, phase.label);
      for (const scenario of active) {
        const slot = slots.get(scenario)![name]!;
        try {
          await RUNNERS[scenario](server, slot);
        } catch (error) {
          slot.error = errorText(error);
          log(`${scenario}: ${name} failed: ${slot.error}`);
        }
      }
    } catch (error) {
      for (const scenario of active) slots.get(scenario)![name]!.error ??= errorText(error);
      log(`${phase.label}: ${name} failed: ${errorText(error)}`);
    } finally {
      if (server) await stop(server, phase.label);
    }
  }
  for (const scenario of active) {
    (results as unknown as Record<string, { status: string; error?: string }>)[scenario] = { status: 'ok', byTarget: slots.get(scenario)! } as never;
  }
  if (active.includes('sends')) {
    log('sends: pgbench');
    const tps = pgbench(config.sends.concurrency, Math.max(3, Math.round(config.sends.seconds)));
    log(`pgbench: ${tps.tps} tps`);
    results.sends!.pgbench = tps;
  }
}

// ---------- setup ----------
async function setup(): Promise<void> {
  const t0 = Date.now();
  await resetSchema(PG_BASE);
  const server = await start('parley', 'setup');
  try {
    const names = ['history', 'filler', 'resume'];
    for (const name of targets) {
      names.push(`fan-${name}`, `hot-${name}`, `conn-${name}`);
      for (let i = 0; i < config.sends.manyChannels; i++) names.push(`many-${name}-${i}`);
    }
    log(`setup: ${names.length} channels through the API`);
    world = await buildWorld(server.httpUrl, PG_BASE, names);
  } finally {
    await server.stop();
  }
  if (only.has('history') || only.has('resume')) {
    const s0 = Date.now();
    const client = benchClient(PG_BASE);
    await client.connect();
    try {
      const { history: h, filler, resume: r } = Object.fromEntries(['history', 'filler', 'resume'].map((n) => [n, world!.channels.get(n)!]));
      const { channelRows, totalRows } = config.history;
      log(`setup: seeding ${totalRows.toLocaleString('en')} messages (${channelRows.toLocaleString('en')} in one channel)`);
      const base = await seedMessages(client, h!.uuid, world.authorId, channelRows, { events: false });
      historyChannel = { firstSeq: base + 1, lastSeq: base + channelRows };
      await seedMessages(client, filler!.uuid, world.authorId, totalRows - channelRows - config.resume.missed, { events: false });
      const afterSeq = await seedMessages(client, r!.uuid, world.authorId, config.resume.missed, { events: true });
      resumeChannel = { afterSeq, lastSeq: afterSeq + config.resume.missed };
      await client.query('ANALYZE "Message"');
      await client.query('ANALYZE "ChannelEvent"');
    } finally {
      await client.end();
    }
    results.setup.seedSeconds = (Date.now() - s0) / 1000;
    results.setup.historyRows = config.history.totalRows;
    results.setup.historyChannelRows = config.history.channelRows;
  }
  results.setup.seconds = (Date.now() - t0) / 1000;
}

// ---------- main ----------
function git(...args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

function version(pkg: string): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(root, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

function tool(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).trim().split('\n')[0] ?? '';
  } catch {
    return '?';
  }
}

const results: Results = {
  meta: {
    date: new Date().toISOString(),
    commit: git('rev-parse', 'HEAD'),
    branch: git('rev-parse', '--abbrev-ref', 'HEAD'),
    dirty: git('status', '--porcelain', '--', 'src', 'prisma').split('\n').filter(Boolean),
    command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
    node: process.version,
    cpuModel: os.cpus()[0]?.model ?? '?',
    cores: os.cpus().length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    loadAvgStart: os.loadavg(),
    postgres: tool('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-Atc', 'select version()']),
    redis: tool('redis-server', ['--version']),
    versions: Object.fromEntries(
      ['graphql', 'graphql-yoga', 'graphql-ws', 'ws', '@apollo/server', 'express', 'mercurius', 'fastify', 'graphql-jit', 'mqemitter-redis', 'graphql-redis-subscriptions', '@prisma/client', 'pg', 'ioredis'].map(
        (p) => [p, version(p)],
      ),
    ),
    targets,
    profile,
  },
  config,
  setup: { status: 'ok' },
  profiles: {},
};

async function main(): Promise<void> {
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.rmSync(path.join(resultsDir, 'logs'), { recursive: true, force: true });
  const started = Date.now();
  log(`${quick ? 'quick' : 'full'} run of ${[...only].join(', ')} against ${targets.join(', ')}`);
  try {
    await setup();
  } catch (error) {
    results.setup = { status: 'failed', error: errorText(error) };
    log(`setup failed: ${errorText(error)}`);
  }
  for (const name of SCENARIOS) {
    if (!only.has(name)) (results as unknown as Record<string, unknown>)[name] = { status: 'skipped', why: 'not selected (--only)', byTarget: {} };
  }
  for (const phase of PHASES) {
    if (results.setup.status !== 'ok') {
      for (const name of phase.scenarios.filter((s) => only.has(s))) {
        (results as unknown as Record<string, unknown>)[name] = { status: 'failed', error: 'setup failed', byTarget: {} };
      }
      continue;
    }
    try {
      await runPhase(phase);
    } catch (error) {
      log(`${phase.label} failed: ${errorText(error)}`);
      for (const name of phase.scenarios.filter((s) => only.has(s))) {
        const current = (results as unknown as Record<string, { byTarget?: object } | undefined>)[name];
        (results as unknown as Record<string, unknown>)[name] = { status: 'failed', error: errorText(error), byTarget: current?.byTarget ?? {} };
      }
    }
  }
  results.meta.loadAvgEnd = os.loadavg();
  results.meta.durationSeconds = (Date.now() - started) / 1000;
}

/** Written however the run ends: a failed or interrupted scenario is reported as such. */
function save(): void {
  const json = `${resultsToJson(results)}\n`;
  fs.writeFileSync(path.join(resultsDir, 'latest.json'), json);
  // Also under the report's name, so several runs' figures can be re-rendered later.
  fs.writeFileSync(path.join(resultsDir, `${path.basename(outFile, '.md')}.json`), json);
  writeReport(results, outFile, path.dirname(outFile));
  log(`wrote ${path.relative(root, outFile)} and bench/results/latest.json in ${results.meta.durationSeconds?.toFixed(0) ?? '?'} s`);
}

installCleanup(() => {
  results.meta.durationSeconds = (Date.now() - Date.parse(results.meta.date)) / 1000;
  for (const name of SCENARIOS) {
    if (!results[name]) (results as unknown as Record<string, unknown>)[name] = { status: 'failed', error: 'interrupted', byTarget: {} };
  }
  save();
});
try {
  await main();
} finally {
  killAll();
  save();
}
