import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll } from 'vitest';
import { sharedServices, TEST_JWT_SECRET, testConfig, testDatabaseUrl, testDataDir } from './server.ts';

/** A Parley server running as its own process (`npm start`'s entry point). */
export interface Instance {
  name: string;
  child: ChildProcess;
  url: string;
  wsUrl: string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** Everything it has written to stdout and stderr so far. */
  readonly output: string;
}

const root = path.resolve(import.meta.dirname, '../..');
const started = new Set<Instance>();

/**
 * Starts `src/main.ts` on a free port against this file's Postgres schema and
 * the shared Redis, with `env` added, and waits for it to listen. Stopped
 * after the file if still running.
 */
/** Instances this test process started and that are still running: none outlives it, even when a test stops half-way. */
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export function startInstance(name: string, env: Record<string, string> = {}): Promise<Instance> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: testDatabaseUrl(),
      REDIS_URL: sharedServices.redisUrl,
      JWT_SECRET: TEST_JWT_SECRET,
      DATA_DIR: path.join(testDataDir, name),
      LOG_LEVEL: 'info',
      REDIS_KEY_PREFIX: testConfig().redisKeyPrefix,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return new Promise((resolve, reject) => {
    let output = '';
    let listening = false;
    // One that does not start in time is killed, so that it does not outlive the test run.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start: ${output}`));
    }, 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = listening ? null : /listening on (http:\/\/\S+\/graphql)/.exec(output);
      if (match) {
        listening = true;
        clearTimeout(timer);
        const instance = {
          name,
          child,
          url: match[1]!,
          wsUrl: match[1]!.replace(/^http/, 'ws'),
          exited,
          get output() {
            return output;
          },
        };
        started.add(instance);
        resolve(instance);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}: ${output}`));
    });
  });
}

const running = (instance: Instance) => instance.child.exitCode === null && instance.child.signalCode === null;

/** Stops an instance the way an orchestrator does: SIGTERM, then SIGKILL if it has not exited within `ms`. */
export async function stopInstance(instance: Instance, ms = 10_000): Promise<void> {
  if (!running(instance)) return;
  instance.child.kill('SIGTERM');
  const timer = setTimeout(() => instance.child.kill('SIGKILL'), ms);
  await instance.exited;
  clearTimeout(timer);
}

// Gracefully, so that instances leave nothing behind in Redis.
afterAll(async () => {
  await Promise.all([...started].map((instance) => stopInstance(instance)));
});

/**
 * Waits until no subscription is still opening on `instance` (a stream
 * listens in Redis first, then reads where it starts): after this, events
 * committed anywhere reach its open streams.
 */
export async function subscriptionsOpened(instance: Pick<Instance, 'url'>, ms = 10_000): Promise<void> {
  const metrics = instance.url.replace(/\/graphql$/, '/metrics');
  const deadline = Date.now() + ms;
  for (;;) {
    const text = await (await fetch(metrics)).text();
    if (/^parley_subscriptions_starting 0$/m.test(text)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for subscriptions to open on ${instance.url}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
