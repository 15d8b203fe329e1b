/** Sizes of every scenario, full and quick (`--quick`: under five minutes on two cores). */
export interface BenchConfig {
  quick: boolean;
  fanout: { subscribers: number[]; baseDeliveries: number; growth: number; steps: number; stepSeconds: number; drainSeconds: number; p99LimitMs: number };
  sends: { concurrency: number; seconds: number; warmupSeconds: number; manyChannels: number };
  connections: { count: number; perSecond: number; settleSeconds: number };
  history: { totalRows: number; channelRows: number; queries: number; maxSeconds: number; explainEvery: number };
  resume: { missed: number; repeats: number; timeoutSeconds: number };
}

export function benchConfig(quick: boolean): BenchConfig {
  return quick
    ? {
        quick,
        fanout: { subscribers: [100, 1000], baseDeliveries: 1000, growth: 3, steps: 5, stepSeconds: 1, drainSeconds: 1, p99LimitMs: 100 },
        sends: { concurrency: 32, seconds: 2, warmupSeconds: 0.3, manyChannels: 8 },
        connections: { count: 1000, perSecond: 1000, settleSeconds: 0.5 },
        history: { totalRows: 150_000, channelRows: 100_000, queries: 300, maxSeconds: 8, explainEvery: 10 },
        resume: { missed: 10_000, repeats: 2, timeoutSeconds: 8 },
      }
    : {
        quick,
        fanout: { subscribers: [100, 1000, 5000], baseDeliveries: 1000, growth: 2, steps: 10, stepSeconds: 5, drainSeconds: 3, p99LimitMs: 100 },
        sends: { concurrency: 32, seconds: 10, warmupSeconds: 2, manyChannels: 64 },
        connections: { count: 10_000, perSecond: 1000, settleSeconds: 3 },
        history: { totalRows: 10_000_000, channelRows: 1_000_000, queries: 1000, maxSeconds: 120, explainEvery: 10 },
        resume: { missed: 10_000, repeats: 5, timeoutSeconds: 60 },
      };
}

/** Send rates (messages/s) for N subscribers: deliveries/s growing geometrically from the base. */
export function fanoutRates(config: BenchConfig['fanout'], subscribers: number): number[] {
  return Array.from({ length: config.steps }, (_, k) => {
    const rate = (config.baseDeliveries * config.growth ** k) / subscribers;
    return rate >= 10 ? Math.round(rate) : Math.round(rate * 10) / 10;
  });
}
