/**
 * Soak: a bounded run against a Parley started as a child process on Postgres
 * and Redis. Senders post at a steady rate over HTTP; subscribers follow every
 * channel over graphql-ws (`channelEvents`). Server memory is sampled from
 * `GET /metrics`. At the end every message must have reached every
 * subscriber exactly once and in order; the process exits 1 otherwise.
 *
 *   npm run soak -- [--minutes 3] [--senders 4] [--subscribers 8] [--channels 4] [--rate 40]
 *
 * DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test; the run
 * uses a fresh schema and drops it) and REDIS_URL (default
 * redis://127.0.0.1:6379) name the services.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import {
  ChannelEventsDocument,
  CreateChannelDocument,
  CreateWorkspaceDocument,
  CreateWorkspaceInviteDocument,
  JoinWorkspaceDocument,
  SendMessageDocument,
  SignUpDocument,
} from '../client/generated/graphql.ts';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '3' },
    senders: { type: 'string', default: '4' },
    subscribers: { type: 'string', default: '8' },
    channels: { type: 'string', default: '4' },
    rate: { type: 'string', default: '40' },
  },
});
const minutes = Number(args.minutes);
const senderCount = Number(args.senders);
const subscriberCount = Number(args.subscribers);
const channelCount = Number(args.channels);
/** Messages per second, all senders together. */
const rate = Number(args.rate);
for (const [name, value] of Object.entries({ minutes, senderCount, subscriberCount, channelCount, rate })) {
  if (!(value > 0)) throw new Error(`--${name} must be a positive number`);
}

const databaseUrl = process.env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/test';
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const schema = `soak_${crypto.randomBytes(4).toString('hex')}`;
const root = path.resolve(import.meta.dirname, '..');

interface Server {
  url: string;
  wsUrl: string;
  stop(): Promise<void>;
}

/** Parley as `npm start` runs it, on a free port, in this run's own schema. */
function startParley(): Promise<Server> {
  const url = new URL(databaseUrl);
  url.searchParams.set('schema', schema);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: url.toString(),
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: `${schema}:`,
      JWT_SECRET: crypto.randomBytes(32).toString('hex'),
      DATA_DIR: path.join(root, 'data', schema),
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'info',
      NODE_ENV: 'production',
      RATE_LIMITS: 'off',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Parley did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      // Errors the server logs during the run are shown; the rest is kept quiet.
      for (const line of chunk.toString().split('\n')) if (/"level":"(error|warn)"/.test(line)) console.error(`server: ${line}`);
      const match = /listening on (http:\/\/\S+\/graphql)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({
          url: match[1]!,
          wsUrl: match[1]!.replace(/^http/, 'ws'),
          async stop() {
            child.kill('SIGTERM');
            await exited;
          },
        });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => reject(new Error(`Parley exited:\n${output}`)));
  });
}

async function ok<R, V>(server: Server, document: TypedDocumentNode<R, V>, variables: V, token?: string): Promise<R> {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const body = (await response.json()) as { data?: R; errors?: unknown[] };
  if (body.errors?.length || !body.data) throw new Error(`request failed: ${JSON.stringify(body.errors ?? body)}`);
  return body.data;
}

interface Memory {
  at: number;
  rss: number;
  heapUsed: number;
}

async function sampleMemory(server: Server, start: number): Promise<Memory> {
  const text = await (await fetch(server.url.replace(/graphql$/, 'metrics'))).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { at: (Date.now() - start) / 1000, rss: value('process_resident_memory_bytes'), heapUsed: value('nodejs_heap_size_used_bytes') };
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

/** What one subscriber saw on one channel. */
interface Received {
  seqs: number[];
  messageIds: string[];
  ended: unknown;
}

async function main(): Promise<void> {
  console.log(`soak: ${minutes} min, ${senderCount} senders, ${subscriberCount} subscribers, ${channelCount} channels, ${rate} msg/s`);
  const server = await startParley();
  const clients: Client[] = [];
  try {
    const suffix = crypto.randomBytes(3).toString('hex');
    const signUp = async (name: string) => {
      const handle = `${name}-${suffix}`;
      const { signUp } = await ok(server, SignUpDocument, {
        input: { email: `${handle}@soak.example`, password: `pw-${handle}-secret`, name, handle },
      });
      return { id: signUp.user.id, token: signUp.token };
    };
    const senders = await Promise.all(Array.from({ length: senderCount }, (_, i) => signUp(`sender${i}`)));
    const subscribers = await Promise.all(Array.from({ length: subscriberCount }, (_, i) => signUp(`reader${i}`)));
    const owner = senders[0]!;
    const { createWorkspace } = await ok(server, CreateWorkspaceDocument, { input: { name: 'Soak', slug: `soak-${suffix}` } }, owner.token);
    const { createWorkspaceInvite } = await ok(server, CreateWorkspaceInviteDocument, { workspaceId: createWorkspace.id }, owner.token);
    for (const user of [...senders.slice(1), ...subscribers]) {
      await ok(server, JoinWorkspaceDocument, { code: createWorkspaceInvite.code }, user.token);
    }
    const members = [...senders.slice(1), ...subscribers].map((u) => u.id);
    const channels: string[] = [];
    for (let i = 0; i < channelCount; i++) {
      const { createChannel } = await ok(
        server,
        CreateChannelDocument,
        { input: { workspaceId: createWorkspace.id, name: `soak-${i}`, private: false, memberIds: members } },
        owner.token,
      );
      channels.push(createChannel.id);
    }

    // Every subscriber follows every channel on its own socket.
    const received = new Map<string, Received>();
    /** Milliseconds from starting a send to a subscriber receiving it, for every delivery of the run. */
    const lags: number[] = [];
    const sentAt = new Map<string, number>();
    const waiters: (() => void)[] = [];
    const notify = () => {
      for (const waiter of waiters.splice(0)) waiter();
    };
    for (const [s, subscriber] of subscribers.entries()) {
      const client = createClient({
        url: server.wsUrl,
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${subscriber.token}` },
        retryAttempts: 0,
        lazy: false,
        onNonLazyError: () => {},
      });
      clients.push(client);
      for (const channelId of channels) {
        const mine: Received = { seqs: [], messageIds: [], ended: null };
        received.set(`${s}\0${channelId}`, mine);
        client.subscribe<{ channelEvents: { seq: number; type: string; message: { id: string; text: string } | null } }>(
          { query: print(ChannelEventsDocument), variables: { channelId } },
          {
            next: ({ data }) => {
              const event = data?.channelEvents;
              if (!event || event.type !== 'MESSAGE_ADDED' || !event.message) return;
              mine.seqs.push(event.seq);
              mine.messageIds.push(event.message.id);
              const sent = sentAt.get(event.message.text);
              if (sent !== undefined) lags.push(Date.now() - sent);
              notify();
            },
            error: (error) => {
              mine.ended = error;
              notify();
            },
            complete: () => {
              mine.ended ??= 'completed';
              notify();
            },
          },
        );
      }
    }
    /** Whether every subscriber's stream of each channel holds every message sent to that channel. */
    const everyoneHas = (sentTo: Map<string, string[]>) =>
      [...received.entries()].every(([key, r]) => {
        const have = new Set(r.messageIds);
        return (sentTo.get(key.split('\0')[1]!) ?? []).every((id) => have.has(id));
      });
    const waitUntil = async (condition: () => boolean, what: string, ms: number) => {
      const deadline = Date.now() + ms;
      while (!condition()) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out waiting for ${what}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, 1_000));
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    };

    // Warm-up messages until every subscriber has seen one on every channel:
    // then every stream is live, and whatever is sent afterwards must arrive.
    const warmup = new Set<string>();
    const sawWarmup = () => [...received.values()].some((r) => !r.messageIds.some((id) => warmup.has(id)));
    for (let round = 0; sawWarmup() || round === 0; round++) {
      if (round === 30) throw new Error('the subscriptions did not become live');
      for (const channelId of channels) {
        const { sendMessage } = await ok(server, SendMessageDocument, { input: { channelId, text: 'warm-up' } }, owner.token);
        warmup.add(sendMessage.id);
      }
      await waitUntil(() => !sawWarmup(), 'every subscriber to see a warm-up message', 2_000).catch(() => {});
    }
    const sent = new Map<string, string[]>(channels.map((c) => [c, []]));

    const start = Date.now();
    const memory: Memory[] = [await sampleMemory(server, start)];
    const sampler = setInterval(() => {
      sampleMemory(server, start).then((m) => memory.push(m), () => {});
    }, 5_000);
    const endAt = start + minutes * 60_000;
    let failures = 0;
    const interval = (1000 * senderCount) / rate;
    await Promise.all(
      senders.map(async (sender, n) => {
        let next = Date.now() + (interval * n) / senderCount;
        for (let i = 0; Date.now() < endAt; i++) {
          const wait = next - Date.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          next += interval;
          const channelId = channels[(n + i) % channels.length]!;
          const text = `${n}:${i}`;
          sentAt.set(text, Date.now());
          try {
            const { sendMessage } = await ok(
              server,
              SendMessageDocument,
              { input: { channelId, text, clientMessageId: `soak-${n}-${i}` } },
              sender.token,
            );
            sent.get(channelId)!.push(sendMessage.id);
          } catch (error) {
            failures++;
            console.error(`send failed: ${String(error)}`);
          }
        }
      }),
    );
    const all = new Set([...sent.values()].flat());
    // What counts from here on: the messages of the run, not the warm-up.
    for (const r of received.values()) {
      const keep = r.messageIds.map((id, i) => (warmup.has(id) ? -1 : i)).filter((i) => i >= 0);
      r.seqs = keep.map((i) => r.seqs[i]!);
      r.messageIds = keep.map((i) => r.messageIds[i]!);
    }
    await waitUntil(() => everyoneHas(sent), 'every subscriber to receive every message', 60_000).catch((error: Error) =>
      console.error(error.message),
    );
    clearInterval(sampler);
    memory.push(await sampleMemory(server, start));

    // Exactly once and in order: each subscriber's stream of a channel holds
    // each sent message once, with consecutive sequence numbers, and every
    // subscriber of a channel saw the same order.
    const problems: string[] = [];
    for (const channelId of channels) {
      const expected = new Set(sent.get(channelId));
      let order: string | null = null;
      for (let s = 0; s < subscribers.length; s++) {
        const r = received.get(`${s}\0${channelId}`)!;
        const where = `subscriber ${s}, channel ${channels.indexOf(channelId)}`;
        if (r.ended) problems.push(`${where}: stream ended: ${JSON.stringify(r.ended)}`);
        if (new Set(r.messageIds).size !== r.messageIds.length) problems.push(`${where}: duplicates`);
        const missing = [...expected].filter((id) => !r.messageIds.includes(id));
        if (missing.length) problems.push(`${where}: ${missing.length} missing`);
        if (r.messageIds.length !== expected.size) problems.push(`${where}: ${r.messageIds.length} received, ${expected.size} sent`);
        if (r.seqs.some((seq, i) => i > 0 && seq !== r.seqs[i - 1]! + 1)) problems.push(`${where}: sequence numbers not consecutive`);
        const seen = r.messageIds.join(',');
        if (order === null) order = seen;
        else if (seen !== order) problems.push(`${where}: a different order than subscriber 0`);
      }
    }

    lags.sort((a, b) => a - b);
    const deliveries = lags.length;
    const runSeconds = (endAt - start) / 1000;
    const elapsed = (Date.now() - start) / 1000;
    const middle = memory.reduce((best, m) =>
      Math.abs(m.at - elapsed / 2) < Math.abs(best.at - elapsed / 2) ? m : best,
    );
    const first = memory[0]!;
    const last = memory[memory.length - 1]!;
    const maxRss = Math.max(...memory.map((m) => m.rss));
    console.log(`\nsent ${all.size} messages in ${runSeconds.toFixed(0)} s (${(all.size / runSeconds).toFixed(1)}/s), ${failures} failed sends`);
    console.log(`deliveries ${deliveries} (expected ${(all.size) * subscribers.length})`);
    console.log(`send → receive: p50 ${percentile(lags, 50)} ms, p99 ${percentile(lags, 99)} ms, max ${lags[lags.length - 1]} ms`);
    console.log(`server memory (${memory.length} samples every 5 s):`);
    for (const [name, m] of [['start', first], ['middle', middle], ['end', last]] as const) {
      console.log(`  ${name.padEnd(6)} t=${m.at.toFixed(0).padStart(4)} s  rss ${mib(m.rss)}  heap used ${mib(m.heapUsed)}`);
    }
    console.log(`  max rss ${mib(maxRss)}`);
    console.log(`  heap used per sample (MiB): ${memory.map((m) => (m.heapUsed / 1024 / 1024).toFixed(0)).join(' ')}`);
    if (problems.length || failures) {
      console.error(`\nFAILED:\n  ${[...problems.slice(0, 20), failures ? `${failures} sends failed` : ''].filter(Boolean).join('\n  ')}`);
      process.exitCode = 1;
    } else {
      console.log('\nOK: every message reached every subscriber exactly once, in order');
    }
  } finally {
    for (const client of clients) await client.dispose();
    await server.stop();
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
}

await main();
