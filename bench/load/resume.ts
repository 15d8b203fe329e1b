/**
 * Resume load generator: a client that missed `missed` events subscribes to
 * channelEvents(after:) with the cursor of the last event it saw; timed from
 * the subscribe frame to the receipt of the newest event. Checks for gaps and
 * duplicates on the way.
 */
import { performance } from 'node:perf_hooks';
import { loadMain } from '../lib/child.ts';
import { subscribe } from '../lib/gql.ts';
import { summarize, type Summary } from '../lib/stats.ts';

export interface ResumeConfig {
  wsUrl: string;
  token: string;
  channelGid: string;
  channelUuid: string;
  afterSeq: number;
  lastSeq: number;
  repeats: number;
  timeoutSeconds: number;
}

export interface ResumeRun {
  ms: number;
  received: number;
  gaps: number;
  duplicates: number;
  completed: boolean;
}

export interface ResumeResult {
  missed: number;
  runs: ResumeRun[];
  time: Summary;
  firstError?: string;
}

const QUERY = 'subscription Resume($c: ID!, $after: String) { channelEvents(channelId: $c, after: $after) { seq type message { id text } } }';

loadMain<ResumeConfig, ResumeResult>(async (config) => {
  const runs: ResumeRun[] = [];
  let firstError: string | undefined;
  const after = Buffer.from(`CE:${config.channelUuid}:${config.afterSeq}`).toString('base64');
  for (let r = 0; r < config.repeats; r++) {
    let expected = config.afterSeq + 1;
    let received = 0;
    let gaps = 0;
    let duplicates = 0;
    let t0 = 0;
    const run = await new Promise<ResumeRun>((resolve) => {
      const timer = setTimeout(() => {
        sub.close();
        resolve({ ms: Number.POSITIVE_INFINITY, received, gaps, duplicates, completed: false });
      }, config.timeoutSeconds * 1000);
      const sub = subscribe({
        url: config.wsUrl,
        query: QUERY,
        variables: { c: config.channelGid, after },
        connectionParams: { authorization: `Bearer ${config.token}` },
        onNext: (frame) => {
          const match = /"seq":(\d+)/.exec(frame);
          if (!match) return;
          const seq = Number(match[1]);
          received++;
          if (seq < expected) duplicates++;
          else {
            if (seq > expected) gaps++;
            expected = seq + 1;
          }
          if (seq >= config.lastSeq) {
            const ms = performance.now() - t0;
            clearTimeout(timer);
            sub.close();
            resolve({ ms, received, gaps, duplicates, completed: true });
          }
        },
        onError: (error) => {
          firstError ??= error.message;
        },
      });
      // The clock starts when the subscribe frame goes out (right after the ack).
      sub.ready.then(
        () => (t0 = performance.now()),
        (error: unknown) => {
          firstError ??= String(error);
        },
      );
    });
    runs.push(run);
    // One run that did not finish in time is the answer; do not wait again.
    if (!run.completed) break;
  }
  return {
    missed: config.lastSeq - config.afterSeq,
    runs,
    time: summarize(runs.map((run) => run.ms)),
    ...(firstError ? { firstError } : {}),
  };
});
