/**
 * History load generator: `messages(last: 50, before:)` at random depths of a
 * long channel through GraphQL, against the same keyset page in raw SQL via
 * `pg` (timed round trip and EXPLAIN ANALYZE execution time), interleaved so
 * both see the same machine.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { loadMain } from '../lib/child.ts';
import { gqlPost } from '../lib/gql.ts';
import { summarize, type Summary } from '../lib/stats.ts';

export interface HistoryConfig {
  httpUrl: string;
  token: string;
  channelGid: string;
  channelUuid: string;
  /** Seq range of the channel's messages. */
  firstSeq: number;
  lastSeq: number;
  queries: number;
  /** Stop early after this long, whatever the count. */
  maxSeconds: number;
  explainEvery: number;
  pgBase: string;
  schema: string;
}

export interface HistoryResult {
  queries: number;
  graphql: Summary;
  /** Durations named in the Server-Timing header, when the server sends one. */
  serverTiming?: Summary;
  serverTimingHeader?: string;
  sql: Summary;
  sqlExecution: Summary;
  pageSizeOk: boolean;
  cursorFormat: string;
  /**
   * The longest-running statements seen on other connections to this schema
   * while pages were fetched (pg_stat_activity, sampled every 20 ms): what
   * Parley asked Postgres for, seen from outside.
   */
  observedSql: { sql: string; runningMs: number }[];
}

const PAGE = /* GraphQL */ `
  query Page($id: ID!, $before: String) {
    channel(id: $id) {
      messages(last: 50, before: $before) {
        edges { cursor node { id text createdAt author { id name handle } } }
        pageInfo { hasPreviousPage startCursor }
      }
    }
  }
`;

const SQL = `SELECT m.id, m.text, m."createdAt", m.seq, u.id AS "authorId", u.name, u.handle
  FROM "Message" m JOIN "User" u ON u.id = m."authorId"
  WHERE m."channelId" = $1 AND m."threadRootId" IS NULL AND m.seq < $2
  ORDER BY m.seq DESC LIMIT 51`;

type Page = { channel: { messages: { edges: { cursor: string }[] } } };

/** Pothos's prisma cursor on (channelId, seq): base64 of `GPC:T:["S:<uuid>","N:<seq>"]`. */
const cursorFor = (channelUuid: string, seq: number) =>
  Buffer.from(`GPC:T:${JSON.stringify([`S:${channelUuid}`, `N:${seq}`])}`).toString('base64');

function timingMs(header: string | undefined): number | undefined {
  if (!header) return undefined;
  const durations = [...header.matchAll(/dur=([\d.]+)/g)].map((m) => Number(m[1]));
  return durations.length ? Math.max(...durations) : undefined;
}

loadMain<HistoryConfig, HistoryResult>(async (config) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const client = new pg.Client({ connectionString: config.pgBase, options: `-c search_path="${config.schema}"` });
  await client.connect();
  const opts = { token: config.token, agent };
  // Watch the other connections' statements on this schema (Parley's pool) from a second client.
  const watcher = new pg.Client({ connectionString: config.pgBase });
  await watcher.connect();
  const ownPid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const observed = new Map<string, number>();
  let watching = true;
  const watch = (async () => {
    while (watching) {
      const { rows } = await watcher.query<{ query: string; ms: number }>(
        `SELECT query, (EXTRACT(EPOCH FROM clock_timestamp() - query_start) * 1000)::float8 AS ms FROM pg_stat_activity
         WHERE state = 'active' AND pid <> pg_backend_pid() AND pid <> $1 AND position($2 in query) > 0`,
        [ownPid, `"${config.schema}"."Message"`],
      );
      for (const row of rows) observed.set(row.query, Math.max(observed.get(row.query) ?? 0, row.ms));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  // The cursor format must be the one the server hands out, or the test measures nothing.
  const newest = await gqlPost<Page>(config.httpUrl, PAGE, { id: config.channelGid, before: null }, opts);
  const lastCursor = newest.body.data!.channel.messages.edges.at(-1)!.cursor;
  const decoded = Buffer.from(lastCursor, 'base64').toString('utf8');
  if (lastCursor !== cursorFor(config.channelUuid, config.lastSeq)) {
    throw new Error(`unexpected message cursor format: ${decoded} (expected seq ${config.lastSeq})`);
  }
  const graphql: number[] = [];
  const server: number[] = [];
  const sql: number[] = [];
  const execution: number[] = [];
  let pageSizeOk = true;
  let serverTimingHeader: string | undefined;
  const deadline = performance.now() + config.maxSeconds * 1000;
  // Warm both paths a little first.
  for (let i = 0; i < 3; i++) {
    await gqlPost(config.httpUrl, PAGE, { id: config.channelGid, before: cursorFor(config.channelUuid, config.lastSeq - i) }, opts);
    await client.query(SQL, [config.channelUuid, config.lastSeq - i]);
  }
  for (let i = 0; i < config.queries && performance.now() < deadline; i++) {
    // Random depth; at least 50 older messages so every page is full.
    const seq = config.firstSeq + 50 + Math.floor(Math.random() * (config.lastSeq - config.firstSeq - 50));
    const t0 = performance.now();
    const { body, serverTiming } = await gqlPost<Page>(
      config.httpUrl,
      PAGE,
      { id: config.channelGid, before: cursorFor(config.channelUuid, seq) },
      opts,
    );
    graphql.push(performance.now() - t0);
    if (body.data?.channel.messages.edges.length !== 50) pageSizeOk = false;
    const st = timingMs(serverTiming);
    if (st !== undefined) {
      server.push(st);
      serverTimingHeader ??= serverTiming;
    }
    const t1 = performance.now();
    await client.query(SQL, [config.channelUuid, seq]);
    sql.push(performance.now() - t1);
    if (i % config.explainEvery === 0) {
      const plan = await client.query<{ 'QUERY PLAN': { 'Execution Time': number; 'Planning Time': number }[] }>(
        `EXPLAIN (ANALYZE, FORMAT JSON) ${SQL}`,
        [config.channelUuid, seq],
      );
      const first = plan.rows[0]!['QUERY PLAN'][0]!;
      execution.push(first['Execution Time'] + first['Planning Time']);
    }
  }
  watching = false;
  await watch;
  await watcher.end();
  await client.end();
  agent.destroy();
  const observedSql = [...observed.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 2)
    .map(([sql, runningMs]) => ({ sql: sql.length > 1500 ? `${sql.slice(0, 1500)} …` : sql, runningMs }));
  return {
    queries: graphql.length,
    graphql: summarize(graphql),
    ...(server.length ? { serverTiming: summarize(server), serverTimingHeader } : {}),
    sql: summarize(sql),
    sqlExecution: summarize(execution),
    pageSizeOk,
    cursorFormat: decoded.replace(config.channelUuid, '<channel uuid>'),
    observedSql,
  };
});
