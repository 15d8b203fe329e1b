import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobsSchema } from '../src/jobs.ts';
import { startInstance, type Instance } from './support/instances.ts';
import { startMailbox } from './support/receivers.ts';
import { skipWithoutSharedServices, testDatabaseUrl, testSchema, until } from './support/server.ts';
import { channelWith, sendText, signUpUser, workspaceWith, type TestUser } from './support/world.ts';

/*
 * Away delivery across real server processes on Postgres and Redis: a job
 * accepted before a SIGKILL runs after the restart, once; two instances
 * working one queue send each email once.
 */

let db: pg.Client;
let mailbox: Awaited<ReturnType<typeof startMailbox>>;

beforeAll(async () => {
  if (skipWithoutSharedServices) return;
  mailbox = await startMailbox();
  db = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await db.connect();
});
afterAll(async () => {
  await db?.end();
});

/** The email deliveries of `user`'s notifications. */
async function emailDeliveries(user: TestUser) {
  const { rows } = await db.query<{ status: string; attempts: number }>(
    `SELECT d.status, d.attempts FROM "${testSchema}"."NotificationDelivery" d JOIN "${testSchema}"."Notification" n ON n.id = d."notificationId"
     WHERE d.channel = 'EMAIL' AND n."userId" = (SELECT id FROM "${testSchema}"."User" WHERE email = $1)`,
    [user.email],
  );
  return rows;
}

/** Jobs of the delivery queues that have not finished (waiting, running or due for a retry). */
async function unfinishedJobs(): Promise<number> {
  const schema = jobsSchema({ databaseUrl: testDatabaseUrl() });
  const { rows } = await db.query<{ n: string }>(
    `SELECT count(*) AS n FROM "${schema}".job WHERE name LIKE 'notification-%' AND state IN ('created', 'retry', 'active')`,
  );
  return Number(rows[0]!.n);
}

/** ann @-mentions each of `people` in one public channel on `instance` (they are away: no sockets). */
async function mentionAll(instance: Instance, people: number) {
  const ann = await signUpUser(instance, 'ann');
  const others = await Promise.all(Array.from({ length: people }, (_, i) => signUpUser(instance, `p${i}`)));
  const workspaceId = await workspaceWith(instance, ann, others);
  const channelId = await channelWith(instance, workspaceId, ann, others);
  await sendText(instance, ann.token, channelId, `heads up ${others.map((o) => `@${o.handle}`).join(' ')}`);
  return others;
}

const env = (delayMs: number) => ({ SMTP_URL: mailbox.url, NOTIFICATION_DELAY_MS: String(delayMs) });

describe.skipIf(skipWithoutSharedServices)('away delivery across processes', () => {
  it('sends an email queued before a SIGKILL exactly once after the restart', async () => {
    const first = await startInstance('durable', env(4_000));
    const [bob] = await mentionAll(first, 1);
    await until(async () => (await emailDeliveries(bob!)).length === 1 && (await unfinishedJobs()) > 0, 'the email to be queued', 10_000);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(mailbox.countTo(bob!.email)).toBe(0);

    const second = await startInstance('durable', env(4_000));
    const mail = await mailbox.to(bob!.email, 30_000);
    expect(mail.text).toContain('heads up');
    await until(async () => (await unfinishedJobs()) === 0, 'every delivery job to finish', 30_000);
    expect(await emailDeliveries(bob!)).toEqual([{ status: 'SENT', attempts: 1 }]);
    expect(mailbox.countTo(bob!.email)).toBe(1);
    // The next test's instances work the same queue with another delay.
    second.child.kill('SIGTERM');
    await second.exited;
  }, 90_000);

  it('sends each email once with two instances working the queue', async () => {
    const [one] = await Promise.all([startInstance('one', env(500)), startInstance('two', env(500))]);
    const people = await mentionAll(one!, 6);
    await Promise.all(people.map((person) => mailbox.to(person.email, 30_000)));
    await until(async () => (await unfinishedJobs()) === 0, 'every delivery job to finish', 30_000);
    for (const person of people) {
      expect(mailbox.countTo(person.email)).toBe(1);
      expect(await emailDeliveries(person)).toEqual([{ status: 'SENT', attempts: 1 }]);
    }
  }, 90_000);
});
