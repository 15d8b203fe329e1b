/**
 * Fan-out load generator: N subscribers on one channel, then one open-loop
 * sender at fixed rates, one step per rate, until deliveries go missing or
 * the p99 of send→receipt latency passes ten times the limit. Each message's
 * text carries its send time (this process's clock), so latency is measured
 * at receipt with no clock skew.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { loadMain } from '../lib/child.ts';
import { connectionParams, gqlPost, MESSAGE_ADDED, sendRequest, type Subscriber, subscribe, type Target } from '../lib/gql.ts';
import { percentileCurve, summarize } from '../lib/stats.ts';

export interface FanoutConfig {
  target: Target;
  tokens: string[];
  channelId: string;
  /** Subscriber counts, run one after the other in this process. */
  subscriberCounts: number[];
  /** Send rates for each count, in the same order. */
  ratesPerCount: number[][];
  stepSeconds: number;
  /** How long to wait after the last send for stragglers. */
  drainSeconds: number;
  p99LimitMs: number;
  localAddresses: string[];
  /** Sends in flight beyond this mean the target cannot take the rate: the step fails. */
  maxInflight: number;
}

export interface FanoutStep {
  rate: number;
  sent: number;
  sendErrors: number;
  expected: number;
  received: number;
  deliveriesPerSecond: number;
  latency: { n: number; p50: number; p99: number; max: number; mean: number };
  sendAck: { p50: number; p99: number };
  curve: number[];
  /** p99 under the limit and nothing lost. */
  pass: boolean;
  /** Everything delivered, no send errors, sender kept up (latency aside). */
  lossless: boolean;
  why?: string;
}

export interface FanoutResult {
  subscribers: number;
  connectSeconds: number;
  connectErrors: number;
  warmupMissing: number;
  steps: FanoutStep[];
  /** Highest rate whose step passed (p99 under the limit, nothing lost), or 0. */
  maxRate: number;
  /** Deliveries/s at that rate. */
  maxDeliveriesPerSecond: number;
  /** Best deliveries/s of a lossless step whatever its latency (the search goes on past the p99 limit up to 10× it). */
  maxLosslessDeliveriesPerSecond: number;
  firstError?: string;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type OneConfig = Omit<FanoutConfig, 'subscriberCounts' | 'ratesPerCount'> & { subscribers: number; rates: number[] };

loadMain<FanoutConfig, FanoutResult[]>(async (config) => {
  const results: FanoutResult[] = [];
  for (const [i, subscribers] of config.subscriberCounts.entries()) {
    results.push(await runOne({ ...config, subscribers, rates: config.ratesPerCount[i] ?? [] }));
    await sleep(300);
  }
  return results;
});

async function runOne(config: OneConfig): Promise<FanoutResult> {
  const { target } = config;
  const agent = new http.Agent({ keepAlive: true, maxSockets: config.maxInflight });
  const sendToken = config.tokens[0];
  let onReceipt: (frame: string, index: number) => void = () => undefined;
  let connectErrors = 0;
  let firstError: string | undefined;
  const noteError = (error: Error) => {
    connectErrors++;
    firstError ??= error.message;
  };

  // Connect at most 200 handshakes at a time, spread over source addresses.
  const t0 = performance.now();
  const subs: Subscriber[] = [];
  const pending: Promise<void>[] = [];
  for (let i = 0; i < config.subscribers; i++) {
    const sub = subscribe({
      url: target.wsUrl,
      query: MESSAGE_ADDED,
      variables: { channelId: config.channelId },
      connectionParams: connectionParams(target.kind, config.tokens[i % config.tokens.length]),
      localAddress: config.localAddresses[i % config.localAddresses.length],
      onNext: (frame) => onReceipt(frame, i),
      onError: noteError,
    });
    subs.push(sub);
    pending.push(sub.ready.catch(noteError));
    if (pending.length >= 200) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  const connectSeconds = (performance.now() - t0) / 1000;

  const send = async (text: string) => {
    const request = sendRequest(target.kind, config.channelId, text);
    await gqlPost(target.httpUrl, request.query, request.variables, { token: sendToken, agent });
  };

  // Warm the send path (first requests compile queries, open pool connections).
  for (let i = 0; i < 3; i++) await send('warmup').catch(noteError);

  // Barrier: every subscriber has seen one message before anything is timed
  // (subscriptions are registered asynchronously after the subscribe frame).
  const seen = new Uint8Array(config.subscribers);
  let warm = 0;
  onReceipt = (frame, index) => {
    if (frame.includes('warmup') && !seen[index]) {
      seen[index] = 1;
      warm++;
    }
  };
  const barrierDeadline = performance.now() + 30_000;
  while (warm < config.subscribers && performance.now() < barrierDeadline) {
    await send('warmup').catch(noteError);
    const resendAt = performance.now() + 2000;
    while (warm < config.subscribers && performance.now() < Math.min(resendAt, barrierDeadline)) await sleep(20);
  }
  const warmupMissing = Math.max(0, config.subscribers - warm);
  await sleep(300);

  const steps: FanoutStep[] = [];
  for (const [stepIndex, rate] of config.rates.entries()) {
    const latencies: number[] = [];
    const acks: number[] = [];
    let received = 0;
    let lastReceipt = 0;
    const tag = `s${stepIndex}:`;
    onReceipt = (frame) => {
      const at = frame.indexOf(tag);
      if (at < 0) return;
      const end = frame.indexOf(';', at);
      const sentAt = Number(frame.slice(at + tag.length, end));
      const now = performance.now();
      latencies.push(now - sentAt);
      received++;
      lastReceipt = now;
    };
    let sent = 0;
    let sendErrors = 0;
    let inflight = 0;
    let saturated = false;
    let stepError: string | undefined;
    const total = Math.max(1, Math.round(rate * config.stepSeconds));
    const start = performance.now();
    const intervalMs = 1000 / rate;
    // Open loop: send i at start + i*interval, whatever the target's speed.
    for (let i = 0; i < total; i++) {
      const due = start + i * intervalMs;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      if (inflight >= config.maxInflight) {
        saturated = true;
        break;
      }
      inflight++;
      const sentAt = performance.now();
      sent++;
      send(`${tag}${sentAt};`)
        .then(() => acks.push(performance.now() - sentAt))
        .catch((error: unknown) => {
          sendErrors++;
          stepError ??= error instanceof Error ? error.message : String(error);
        })
        .finally(() => inflight--);
    }
    const expected = sent * config.subscribers;
    const drainDeadline = performance.now() + config.drainSeconds * 1000;
    while ((received < expected - sendErrors * config.subscribers || inflight > 0) && performance.now() < drainDeadline) {
      await sleep(20);
    }
    const latency = summarize(latencies);
    const deliveredOk = expected - sendErrors * config.subscribers;
    const lost = deliveredOk - received;
    // Missing deliveries count as beyond the limit for the p99.
    const p99 = lost > expected * 0.01 ? Number.POSITIVE_INFINITY : latency.p99;
    const ackSummary = summarize(acks);
    let why: string | undefined;
    if (saturated) why = `sender saturated (${config.maxInflight} sends in flight)`;
    else if (sendErrors) why = `${sendErrors} send errors: ${stepError}`;
    else if (lost > 0) why = `${lost} of ${expected} deliveries missing after ${config.drainSeconds}s drain`;
    const lossless = why === undefined;
    if (lossless && !(p99 < config.p99LimitMs)) why = `p99 ${p99.toFixed(1)} ms ≥ ${config.p99LimitMs} ms`;
    // Over the step's own length at least: a burst that lands quickly is not a higher sustained rate.
    const elapsed = Math.max(lastReceipt, start + config.stepSeconds * 1000) - start;
    steps.push({
      rate,
      sent,
      sendErrors,
      expected,
      received,
      deliveriesPerSecond: received / (elapsed / 1000),
      latency,
      sendAck: { p50: ackSummary.p50, p99: ackSummary.p99 },
      curve: percentileCurve(latencies),
      pass: why === undefined,
      lossless,
      ...(why ? { why } : {}),
    });
    onReceipt = () => undefined;
    if (!lossless || !(p99 < 10 * config.p99LimitMs)) break;
    await sleep(100);
  }
  for (const sub of subs) sub.close();
  agent.destroy();
  const passed = steps.filter((step) => step.pass);
  const best = passed[passed.length - 1];
  const lossless = steps.filter((step) => step.lossless);
  return {
    subscribers: config.subscribers,
    connectSeconds,
    connectErrors,
    warmupMissing,
    steps,
    maxRate: best?.rate ?? 0,
    maxDeliveriesPerSecond: best?.deliveriesPerSecond ?? 0,
    maxLosslessDeliveriesPerSecond: Math.max(0, ...lossless.map((step) => step.deliveriesPerSecond)),
    ...(firstError ? { firstError } : {}),
  };
}
