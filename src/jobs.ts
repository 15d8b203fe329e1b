import PgBoss from 'pg-boss';
import type { Config } from './config.ts';
import { backgroundWork } from './background.ts';
import { parseDatabaseUrl, type Database } from './db.ts';
import type { Log } from './log.ts';
import type { Runtime } from './runtime.ts';

/*
 * The durable job queue: pg-boss in the app's own database (its tables in a
 * schema of their own), so a job accepted before a crash runs after the
 * restart, and with several instances each job is fetched by one of them
 * (FOR UPDATE SKIP LOCKED). A job whose handler throws is retried with
 * exponential backoff; once its retries are used up it stays in pg-boss's
 * `failed` state and a copy goes to the dead-letter queue.
 */

/** Where failed jobs' copies go; nothing works it: operators read it (docs/notifications.md). */
export const DEAD_LETTER_QUEUE = 'dead-letter';

/** One kind of job: its queue's policy and retries, and what runs it. */
export interface JobQueue<Data extends object> {
  name: string;
  /** pg-boss's policy: `short` keeps one waiting job per singletonKey, `stately` one waiting and one running. */
  policy: 'standard' | 'short' | 'stately';
  /** Retries after the first attempt. */
  retryLimit: number;
  /** Seconds before the first retry; doubled each time (with jitter). */
  retryDelaySeconds: number;
  /** How long one attempt may run before it counts as failed (an instance that died mid-job). */
  expireInSeconds: number;
  run(rt: Runtime, data: Data): Promise<void>;
}

// Queues of different job types are kept in one list.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyQueue = JobQueue<any>;

export interface SendOptions {
  /** Not before this time. */
  startAfter?: Date;
  /** With `short` or `stately` queues: a second job with the same key is not added while one waits. */
  singletonKey?: string;
}

/**
 * The pg-boss schema for an app's database: beside the app's schema
 * (`<schema>_jobs`, so tests with a schema each never share a queue), or
 * pg-boss's default `pgboss` for the public schema and the embedded database.
 */
export function jobsSchema(config: Pick<Config, 'databaseUrl'>): string {
  const schema = config.databaseUrl ? parseDatabaseUrl(config.databaseUrl).schema : undefined;
  return schema ? `${schema}_jobs` : 'pgboss';
}

/** How often an idle worker asks for jobs; sends from this instance wake its worker at once. */
const POLLING_INTERVAL_SECONDS = 1;

/**
 * The app's job queue. {@link openJobs} installs (or migrates) pg-boss's
 * tables; {@link Jobs.work} starts the workers once the Runtime exists.
 */
export class Jobs {
  private readonly workers = new Map<string, string>();
  private stopped = false;

  constructor(
    private readonly boss: PgBoss,
    private readonly log: Log,
  ) {}

  /** Creates the queues (idempotent) and starts a worker for each. */
  async work(rt: Runtime, queues: readonly AnyQueue[]): Promise<void> {
    const existing = new Set((await this.boss.getQueues()).map((q) => q.name));
    if (!existing.has(DEAD_LETTER_QUEUE)) await this.createQueue({ name: DEAD_LETTER_QUEUE, policy: 'standard' });
    for (const queue of queues) {
      const options = {
        name: queue.name,
        policy: queue.policy,
        retryLimit: queue.retryLimit,
        retryDelay: queue.retryDelaySeconds,
        retryBackoff: true,
        expireInSeconds: queue.expireInSeconds,
        deadLetter: DEAD_LETTER_QUEUE,
      };
      if (existing.has(queue.name)) await this.boss.updateQueue(queue.name, options);
      else await this.createQueue(options);
      const id = await this.boss.work<object>(queue.name, { pollingIntervalSeconds: POLLING_INTERVAL_SECONDS, batchSize: 1 }, async ([job]) => {
        if (!job) return;
        try {
          await backgroundWork.run(true, () => queue.run(rt, job.data));
        } catch (error) {
          this.log('warn', `job ${queue.name} ${job.id} failed; pg-boss retries it with backoff`, error);
          throw error;
        }
      });
      this.workers.set(queue.name, id);
    }
  }

  /**
   * Another instance may create the same queue at the same moment: its DDL
   * can then fail here (or deadlock with ours), so a failure is retried until
   * the queue exists.
   */
  private async createQueue(options: PgBoss.Queue): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.boss.createQueue(options.name, options);
        return;
      } catch (error) {
        if (await this.boss.getQueue(options.name)) return;
        if (attempt >= 5) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt + Math.random() * 100));
      }
    }
  }

  /**
   * Adds a job; resolves with its id once it is stored, or null when a job
   * with the same singletonKey is already waiting. A job due now wakes this
   * instance's worker.
   */
  async send(queue: string, data: object, options: SendOptions = {}): Promise<string | null> {
    const id = await this.boss.send(queue, data, {
      ...(options.startAfter ? { startAfter: options.startAfter } : {}),
      ...(options.singletonKey ? { singletonKey: options.singletonKey } : {}),
    });
    const worker = this.workers.get(queue);
    if (id && worker && !this.stopped && (!options.startAfter || options.startAfter.getTime() <= Date.now())) {
      this.boss.notifyWorker(worker);
    }
    return id;
  }

  /** A job's state (tests and operators). */
  async state(queue: string, id: string): Promise<string | null> {
    const job = await this.boss.getJobById(queue, id);
    return job?.state ?? null;
  }

  /**
   * Stops fetching and waits (up to `timeoutMs`) for running jobs; jobs
   * still running then are marked failed, so they are retried.
   */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopped = true;
    await this.boss.stop({ graceful: true, wait: true, timeout: timeoutMs, close: false });
  }
}

/** Opens pg-boss over the app's database connection (the pg pool, or PGlite through `executeSql`). */
export async function openJobs(config: Config, db: Database, log: Log): Promise<Jobs> {
  const boss = new PgBoss({
    db: { executeSql: (text, values) => db.executeSql(text, values) },
    schema: jobsSchema(config),
    // No cron schedules: nothing needs the clock monitor's queries.
    schedule: false,
    supervise: true,
    migrate: true,
    maintenanceIntervalSeconds: 60,
  });
  boss.on('error', (error) => log('error', 'job queue maintenance failed', error));
  await boss.start();
  return new Jobs(boss, log);
}
