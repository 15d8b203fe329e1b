import type { ConnectionsResult } from '../load/connections.ts';
import type { FanoutResult } from '../load/fanout.ts';
import type { HistoryResult } from '../load/history.ts';
import type { ResumeResult } from '../load/resume.ts';
import type { SendsResult } from '../load/sends.ts';
import type { BenchConfig } from './config.ts';
import type { Area, HotFunction } from './profile.ts';
import type { CpuUse } from './proc.ts';

export type Status = { status: 'ok' } | { status: 'failed'; error: string } | { status: 'skipped'; why: string };

export interface PerTarget<T> {
  result?: T;
  cpu?: CpuUse;
  error?: string;
}

export interface Results {
  meta: {
    date: string;
    commit: string;
    branch: string;
    dirty: string[];
    command: string;
    node: string;
    cpuModel: string;
    cores: number;
    memGiB: number;
    loadAvgStart: number[];
    loadAvgEnd?: number[];
    postgres: string;
    redis: string;
    versions: Record<string, string>;
    targets: string[];
    profile: boolean;
    durationSeconds?: number;
  };
  config: BenchConfig;
  setup: Status & { seconds?: number; seedSeconds?: number; historyRows?: number; historyChannelRows?: number };
  fanout?: Status & { byTarget: Record<string, PerTarget<FanoutResult[]>> };
  sends?: Status & {
    byTarget: Record<string, PerTarget<{ hot?: SendsResult; many?: SendsResult }>>;
    pgbench?: { tps: number; clients: number; seconds: number; error?: string };
  };
  connections?: Status & {
    byTarget: Record<string, PerTarget<ConnectionsResult & { rssBeforeKb: number; rssAfterKb: number; bytesPerSocket: number }>>;
  };
  history?: Status & { byTarget: Record<string, PerTarget<HistoryResult>> };
  resume?: Status & { byTarget: Record<string, PerTarget<ResumeResult>> };
  profiles: Record<string, { file: string; totalMs: number; top: HotFunction[]; areas?: Area[] }>;
}

/** JSON that keeps NaN and ±Infinity (a step that lost deliveries has an infinite p99). */
export function resultsToJson(results: Results): string {
  return JSON.stringify(results, (_key, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? String(value) : value), 2);
}

export function resultsFromJson(text: string): Results {
  return JSON.parse(text, (_key, value: unknown) =>
    value === 'NaN' ? Number.NaN : value === 'Infinity' ? Number.POSITIVE_INFINITY : value === '-Infinity' ? Number.NEGATIVE_INFINITY : value,
  ) as Results;
}
