import { AsyncLocalStorage } from 'node:async_hooks';
import type { Log } from './log.ts';

/** Set while background work runs: its database statements are not a request's (see Database.onQuery). */
export const backgroundWork = new AsyncLocalStorage<true>();

/**
 * Work a request starts but does not wait for (planning notifications after
 * a send, say). Failures are logged, never thrown at the request; stopping
 * the app waits for what is still running, so nothing started is cut off
 * when the database closes.
 */
export class Background {
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly log: Log) {}

  /** Runs `task` now, without the caller waiting; `what` names it in the log if it fails. */
  run(what: string, task: () => Promise<unknown>): void {
    const done: Promise<void> = backgroundWork
      .run(true, task)
      .then(() => undefined)
      .catch((error: unknown) => this.log('error', `${what} failed`, error))
      .finally(() => this.running.delete(done));
    this.running.add(done);
  }

  /** Resolves when everything started so far (and anything it starts) has finished. */
  async drained(): Promise<void> {
    while (this.running.size) await Promise.all(this.running);
  }
}
