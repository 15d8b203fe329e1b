import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Every child this run started; all of them are killed when the run ends, however it ends. */
const children = new Set<ChildProcess>();

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function killAll(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

let cleanupInstalled = false;
/** Kill every tracked child on exit, Ctrl-C or an uncaught error. */
export function installCleanup(onSignal?: () => void): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      killAll();
      try {
        onSignal?.();
      } finally {
        process.exit(130);
      }
    });
  }
}

export interface Server {
  name: string;
  pid: number;
  port: number;
  httpUrl: string;
  wsUrl: string;
  child: ChildProcess;
  /** SIGTERM, then SIGKILL after `graceMs`. Resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  name: string;
  script: string;
  port: number;
  env: Record<string, string>;
  nodeArgs?: string[];
  logDir: string;
  /** Path answering 200 once the server is ready. */
  readyPath?: string;
  timeoutMs?: number;
}

/** Starts `node --import tsx <script>` as its own process and waits until it answers HTTP. */
export async function startServer(options: StartOptions): Promise<Server> {
  fs.mkdirSync(options.logDir, { recursive: true });
  const log = fs.openSync(path.join(options.logDir, `${options.name}.log`), 'a');
  const child = track(
    spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', options.script], {
      env: { ...process.env, ...options.env, PORT: String(options.port), HOST: '127.0.0.1' },
      stdio: ['ignore', log, log],
    }),
  );
  fs.closeSync(log);
  if (child.pid === undefined) throw new Error(`${options.name}: spawn failed`);
  const httpUrl = `http://127.0.0.1:${options.port}/graphql`;
  const readyUrl = `http://127.0.0.1:${options.port}${options.readyPath ?? '/healthz'}`;
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `exited with ${code ?? signal}`));
  for (;;) {
    if (exited) throw new Error(`${options.name} ${exited} before it was ready (see ${options.logDir}/${options.name}.log)`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${options.name} not ready within ${options.timeoutMs ?? 60_000} ms`);
    }
    try {
      const res = await fetch(readyUrl);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  const pid = child.pid;
  return {
    name: options.name,
    pid,
    port: options.port,
    httpUrl,
    wsUrl: httpUrl.replace('http:', 'ws:'),
    child,
    stop: (graceMs = 10_000) =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const CLK_TCK = 100;

/** utime+stime of a process in seconds, or undefined when it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is state (field 3); utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

function comm(pid: string): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function pidsNamed(name: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry) && comm(entry) === name)
    .map(Number);
}

/** Resident set size in kB from /proc/<pid>/status. */
export function rssKb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+)/.exec(status);
  return match ? Number(match[1]) : Number.NaN;
}

export interface CpuSnapshot {
  server: number;
  postgres: Map<number, number>;
  redis: number;
}

export function cpuSnapshot(serverPid: number): CpuSnapshot {
  const postgres = new Map<number, number>();
  for (const pid of pidsNamed('postgres')) postgres.set(pid, cpuSeconds(pid) ?? 0);
  const redis = pidsNamed('redis-server').reduce((sum, pid) => sum + (cpuSeconds(pid) ?? 0), 0);
  return { server: cpuSeconds(serverPid) ?? 0, postgres, redis };
}

export interface CpuUse {
  server: number;
  postgres: number;
  redis: number;
  loadgen: number;
  wallSeconds: number;
}

/**
 * CPU seconds spent between two snapshots. Postgres is the sum over every
 * process named postgres (backends that exited in between are lost; backends
 * that started count from zero). Other users of the machine's Postgres count too.
 */
export function cpuDelta(before: CpuSnapshot, after: CpuSnapshot, loadgen: number, wallSeconds: number): CpuUse {
  let postgres = 0;
  for (const [pid, seconds] of after.postgres) postgres += seconds - (before.postgres.get(pid) ?? 0);
  return {
    server: after.server - before.server,
    postgres,
    redis: after.redis - before.redis,
    loadgen,
    wallSeconds,
  };
}
