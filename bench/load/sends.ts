/**
 * Durable-send load generator: C closed-loop senders, each waiting for its
 * acknowledgement (which every target gives only after its commit) before the
 * next send, into one hot channel or spread over many.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { loadMain } from '../lib/child.ts';
import { gqlPost, sendRequest, type Target } from '../lib/gql.ts';
import { summarize, type Summary } from '../lib/stats.ts';

export interface SendsConfig {
  target: Target;
  token: string;
  /** Runs one after the other in this process, e.g. hot: [one channel], many: [64 channels]. */
  runs: Record<string, string[]>;
  concurrency: number;
  seconds: number;
  warmupSeconds: number;
}

export interface SendsResult {
  sends: number;
  errors: number;
  firstError?: string;
  sendsPerSecond: number;
  latency: Summary;
}

type OneConfig = Omit<SendsConfig, 'runs'> & { channelIds: string[] };

loadMain<SendsConfig, Record<string, SendsResult>>(async (config) => {
  const results: Record<string, SendsResult> = {};
  for (const [label, channelIds] of Object.entries(config.runs)) results[label] = await runOne({ ...config, channelIds });
  return results;
});

async function runOne(config: OneConfig): Promise<SendsResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: config.concurrency });
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let sends = 0;
  const begin = performance.now();
  const measureFrom = begin + config.warmupSeconds * 1000;
  const end = measureFrom + config.seconds * 1000;
  let counter = 0;
  const worker = async (w: number) => {
    for (;;) {
      const started = performance.now();
      if (started >= end) return;
      const channelId = config.channelIds[(w + counter++) % config.channelIds.length]!;
      const request = sendRequest(config.target.kind, channelId, `durable send ${w} ${counter}`);
      try {
        await gqlPost(config.target.httpUrl, request.query, request.variables, { token: config.token, agent });
        const done = performance.now();
        // Completions inside the window count, however long ago they started.
        if (done >= measureFrom && done <= end) {
          sends++;
          latencies.push(done - started);
        }
      } catch (error) {
        errors++;
        firstError ??= error instanceof Error ? error.message : String(error);
        if (errors > 1000) return;
      }
    }
  };
  await Promise.all(Array.from({ length: config.concurrency }, (_, w) => worker(w)));
  agent.destroy();
  return {
    sends,
    errors,
    ...(firstError ? { firstError } : {}),
    sendsPerSecond: sends / config.seconds,
    latency: summarize(latencies),
  };
}
