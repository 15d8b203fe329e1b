import { fork } from 'node:child_process';
import { track } from './proc.ts';

/** What a load generator sends its parent. */
type FromChild =
  | { type: 'result'; result: unknown; cpuSeconds: number }
  | { type: 'error'; message: string }
  | { type: 'event'; name: string; data: unknown };

export interface ChildRun<R> {
  pid: number;
  result: Promise<{ result: R; cpuSeconds: number }>;
  /** Tell the child to go on (for scenarios with phases). */
  signal(name: string): void;
  /** Resolves with the data of the child's next event of that name. */
  event(name: string): Promise<unknown>;
}

/**
 * Runs a load generator in its own process (`node --import tsx <script>`),
 * hands it `config`, and kills it when `timeoutMs` runs out.
 */
export function runChild<R>(script: string, config: unknown, timeoutMs: number): ChildRun<R> {
  const child = track(fork(script, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' }));
  const waiters = new Map<string, (data: unknown) => void>();
  const early = new Map<string, unknown>();
  const result = new Promise<{ result: R; cpuSeconds: number }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('message', (raw) => {
      const message = raw as FromChild;
      if (message.type === 'result') {
        clearTimeout(timer);
        resolve({ result: message.result as R, cpuSeconds: message.cpuSeconds });
        child.disconnect();
      } else if (message.type === 'error') {
        clearTimeout(timer);
        reject(new Error(message.message));
      } else {
        const waiter = waiters.get(message.name);
        if (waiter) {
          waiters.delete(message.name);
          waiter(message.data);
        } else early.set(message.name, message.data);
      }
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code ?? sig} before reporting`));
    });
  });
  child.send({ type: 'config', config });
  return {
    pid: child.pid ?? -1,
    result,
    signal: (name) => child.connected && child.send({ type: 'signal', name }),
    event: (name) =>
      new Promise((resolve) => {
        if (early.has(name)) {
          resolve(early.get(name));
          early.delete(name);
        } else waiters.set(name, resolve);
      }),
  };
}

/** Child side: what a load generator can do besides returning its result. */
export interface Parent {
  emit(name: string, data: unknown): void;
  waitFor(name: string): Promise<void>;
}

/** Child side: receive the config, run, report the result and own CPU seconds, exit. */
export function loadMain<C, R>(run: (config: C, parent: Parent) => Promise<R>): void {
  const signals = new Map<string, () => void>();
  const seen = new Set<string>();
  const parent: Parent = {
    emit: (name, data) => process.send?.({ type: 'event', name, data }),
    waitFor: (name) =>
      new Promise((resolve) => {
        if (seen.has(name)) resolve();
        else signals.set(name, resolve);
      }),
  };
  process.on('message', (raw) => {
    const message = raw as { type: 'config'; config: C } | { type: 'signal'; name: string };
    if (message.type === 'signal') {
      seen.add(message.name);
      signals.get(message.name)?.();
      return;
    }
    run(message.config, parent).then(
      (result) => {
        const usage = process.cpuUsage();
        process.send?.({ type: 'result', result, cpuSeconds: (usage.user + usage.system) / 1e6 }, () => process.exit(0));
      },
      (error: unknown) => {
        process.send?.({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) }, () =>
          process.exit(1),
        );
      },
    );
  });
}
