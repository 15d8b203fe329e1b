/**
 * Idle-connection load generator: opens `count` authenticated sockets at a
 * fixed rate, one messageAdded subscription each, spread over several
 * 127.0.0.x source addresses (one address has ~28k ephemeral ports), then
 * holds them until the runner has read the server's memory.
 */
import { performance } from 'node:perf_hooks';
import { loadMain } from '../lib/child.ts';
import { connectionParams, MESSAGE_ADDED, type Subscriber, subscribe, type Target } from '../lib/gql.ts';
import { summarize, type Summary } from '../lib/stats.ts';

export interface ConnectionsConfig {
  target: Target;
  tokens: string[];
  channelId: string;
  count: number;
  perSecond: number;
  localAddresses: string[];
  settleSeconds: number;
}

export interface ConnectionsResult {
  count: number;
  established: number;
  errors: number;
  /** Sockets closed by the server or reset after they were established, up to the release. */
  resets: number;
  firstError?: string;
  /** From the first open to the last acknowledged subscription. */
  establishSeconds: number;
  achievedPerSecond: number;
  handshake: Summary;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

loadMain<ConnectionsConfig, ConnectionsResult>(async (config, parent) => {
  const subs: Subscriber[] = [];
  const handshakes: number[] = [];
  let established = 0;
  let errors = 0;
  let resets = 0;
  let releasing = false;
  let firstError: string | undefined;
  let lastAck = 0;
  const start = performance.now();
  const waits: Promise<void>[] = [];
  for (let i = 0; i < config.count; i++) {
    const due = start + (i * 1000) / config.perSecond;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const openedAt = performance.now();
    let acked = false;
    const sub = subscribe({
      url: config.target.wsUrl,
      query: MESSAGE_ADDED,
      variables: { channelId: config.channelId },
      connectionParams: connectionParams(config.target.kind, config.tokens[i % config.tokens.length]),
      localAddress: config.localAddresses[i % config.localAddresses.length],
      onNext: () => undefined,
      onClose: (code, reason) => {
        if (acked && !releasing) {
          resets++;
          firstError ??= `closed ${code} ${reason}`;
        }
      },
    });
    subs.push(sub);
    waits.push(
      sub.ready.then(
        () => {
          acked = true;
          established++;
          lastAck = performance.now();
          handshakes.push(lastAck - openedAt);
        },
        (error: unknown) => {
          errors++;
          firstError ??= error instanceof Error ? error.message : String(error);
        },
      ),
    );
  }
  await Promise.all(waits);
  const establishSeconds = (lastAck - start) / 1000;
  // Give the server time to finish registering subscriptions before memory is read.
  await sleep(config.settleSeconds * 1000);
  parent.emit('opened', { established, errors, resets });
  await parent.waitFor('release');
  releasing = true;
  for (const sub of subs) sub.close();
  return {
    count: config.count,
    established,
    errors,
    resets,
    ...(firstError ? { firstError } : {}),
    establishSeconds,
    achievedPerSecond: established / Math.max(establishSeconds, 0.001),
    handshake: summarize(handshakes),
  };
});
