import { beforeAll, describe, expect, it } from 'vitest';
import { MyMembershipDocument } from '../client/generated/graphql.ts';
import { DomainError } from '../src/errors.ts';
import type { Message } from '../src/generated/prisma/client.ts';
import type { Runtime } from '../src/runtime.ts';
import { decodeId } from '../src/schema/ids.ts';
import { authenticate, type Viewer } from '../src/services/auth.ts';
import { sendMessage } from '../src/services/message.ts';
import { ok } from './support/client.ts';
import { backendName, until, type TestServer } from './support/server.ts';
import { channelWith, startTeam, type TestUser } from './support/world.ts';

let server: TestServer;
let rt: Runtime;
let ann: TestUser;
let bob: TestUser;
let cat: TestUser;
let outsider: TestUser;
let workspaceId: string;
const viewers = new Map<TestUser, Viewer>();

beforeAll(async () => {
  ({ server, ann, bob, cat, outsider, workspaceId } = await startTeam());
  rt = server.app.runtime;
  for (const user of [ann, bob, cat, outsider]) viewers.set(user, await authenticate(rt, `Bearer ${user.token}`));
});

/** The database id behind a global ID. */
const dbId = (globalId: string) => decodeId(globalId).id;

/** Sends as `user` to a channel (by global ID) through the service, as the sendMessage resolver does. */
function send(user: TestUser, channelId: string, text: string, extra: { clientMessageId?: string; threadRootId?: string } = {}) {
  return sendMessage(rt, viewers.get(user)!, { channelId: dbId(channelId), text, ...extra });
}

type Settled = { message: Message; error?: undefined } | { message?: undefined; error: unknown };
const settle = (sending: Promise<Message>): Promise<Settled> =>
  sending.then(
    (message) => ({ message }),
    (error: unknown) => ({ error }),
  );
const codeOf = (result: Settled) => (result.error instanceof DomainError ? result.error.extensions.code : result.error ? 'OTHER' : 'OK');

/** Runs `action` and returns what it returned and every SQL statement run meanwhile. */
async function withStatements<T>(action: () => Promise<T>): Promise<{ result: T; statements: string[] }> {
  const statements: string[] = [];
  const stop = rt.db.onQuery((sql) => statements.push(sql));
  try {
    return { result: await action(), statements };
  } finally {
    stop();
  }
}

/**
 * Starts `sends` while another transaction holds the channel's row lock (on
 * PGlite: its only connection), as a long write would: the first sends' batches
 * wait for it, and every later send queues behind them. Once all of them are
 * queued or being written, the lock is let go. Returns each send's outcome,
 * how many writes (statements, hence transactions) carried them, and how many
 * were already being written when the lock was let go (the rest shared one batch).
 */
async function whileChannelIsLocked(channelId: string, sends: (() => Promise<Message>)[]) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const holding = rt.prisma.$transaction(
    async (tx) => {
      await tx.$queryRaw`SELECT 1 FROM "Channel" WHERE id = ${dbId(channelId)}::uuid FOR UPDATE`;
      locked();
      await released;
    },
    { maxWait: 30_000, timeout: 120_000 },
  );
  await isLocked;
  const writesBefore = rt.sends.writes;
  let answered = 0;
  const outcomes = sends.map((start) => settle(start()).finally(() => answered++));
  await until(() => rt.sends.waiting + rt.sends.writing === sends.length, `all ${sends.length} sends to be queued`, 20_000);
  const alreadyWriting = rt.sends.writing;
  // Nothing is answered while the lock is held: on PGlite, the send's statement
  // waits for the open transaction instead of running inside it.
  expect(answered).toBe(0);
  release();
  await holding;
  const results = await Promise.all(outcomes);
  return { results, writes: rt.sends.writes - writesBefore, alreadyWriting };
}

/** A user's database id. */
const uid = (user: TestUser) => dbId(user.id);

/** The channel's last sequence number (creating it and adding members took some). */
const lastSeq = async (channelId: string) => (await rt.prisma.channel.findUniqueOrThrow({ where: { id: dbId(channelId) } })).lastSeq;
const run = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

/** The channel's messages as stored, in sequence order. */
const stored = (channelId: string) =>
  rt.prisma.message.findMany({ where: { channelId: dbId(channelId) }, orderBy: { seq: 'asc' }, select: { id: true, seq: true, clientMessageId: true } });

describe(`a send is one statement (${backendName})`, () => {
  it('writes a message, a reply with a mention, and answers a retry, each with exactly one statement', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const base = await lastSeq(channelId);
    const first = await withStatements(() => send(ann, channelId, 'hello', { clientMessageId: 'one-statement' }));
    expect(first.statements).toEqual([expect.stringMatching(/send_messages/)]);
    expect(first.result).toMatchObject({ text: 'hello', seq: base + 1, number: 1, clientMessageId: 'one-statement' });

    const reply = await withStatements(() => send(bob, channelId, `@${ann.handle} yes`, { threadRootId: first.result.id }));
    expect(reply.statements).toEqual([expect.stringMatching(/send_messages/)]);
    expect(reply.result).toMatchObject({ seq: base + 2, number: null, threadRootId: first.result.id, replyNumber: 1 });

    const retry = await withStatements(() => send(ann, channelId, 'hello', { clientMessageId: 'one-statement' }));
    expect(retry.statements).toEqual([expect.stringMatching(/send_messages/)]);
    // The first message as it is now: it has a reply.
    expect(retry.result).toEqual({ ...first.result, replyCount: 1 });

    // What it wrote is what the former transaction wrote.
    const event = await rt.prisma.channelEvent.findUniqueOrThrow({ where: { channelId_seq: { channelId: dbId(channelId), seq: base + 2 } } });
    expect(event).toMatchObject({ type: 'MESSAGE_ADDED', messageId: reply.result.id, userId: uid(bob) });
    expect(event.data).toEqual({ threadRootId: first.result.id, replyNumber: 1, mentions: [uid(ann)] });
    expect(event.createdAt).toEqual(reply.result.createdAt);
    const mention = await rt.prisma.mention.findMany({ where: { messageId: reply.result.id } });
    expect(mention).toMatchObject([{ userId: uid(ann), channelId: dbId(channelId), number: null, threadRootId: first.result.id, replyNumber: 1 }]);
  });
});

describe(`group commit (${backendName})`, () => {
  it('commits concurrent sends to one channel in fewer transactions than sends, gap-free, in the stored order', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob, cat]);
    const senders = [ann, bob, cat];
    const total = 40;
    const base = await lastSeq(channelId);
    const { results, writes, alreadyWriting } = await whileChannelIsLocked(
      channelId,
      Array.from({ length: total }, (_, i) => () => send(senders[i % 3]!, channelId, `m${i}`)),
    );
    expect(results.map(codeOf)).toEqual(Array(total).fill('OK'));
    // The sends that waited shared one batch; those already being written had one each.
    expect(writes).toBe(alreadyWriting + 1);
    expect(writes).toBeLessThan(total);

    const messages = results.map((r) => r.message!);
    const seqs = messages.map((m) => m.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(run(base + 1, total));
    // Within the shared batch, arrival order is sequence order.
    const batched = messages.slice(alreadyWriting).map((m) => m.seq);
    expect(batched).toEqual([...batched].sort((a, b) => a - b));
    const bySeq = [...messages].sort((a, b) => a.seq - b.seq);
    expect((await stored(channelId)).map((m) => m.id)).toEqual(bySeq.map((m) => m.id));
    expect(bySeq.map((m) => m.number)).toEqual(run(1, total));
    const events = await rt.prisma.channelEvent.findMany({ where: { channelId: dbId(channelId), type: 'MESSAGE_ADDED' }, orderBy: { seq: 'asc' } });
    expect(events.map((e) => [e.seq, e.messageId])).toEqual(bySeq.map((m) => [m.seq, m.id]));
    expect(await rt.prisma.channel.findUniqueOrThrow({ where: { id: dbId(channelId) } })).toMatchObject({ lastSeq: base + total, messageCount: total });
  });

  it('gives one message for concurrent retries of one clientMessageId, in one batch and across batches, burning no seq', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const elsewhere = await channelWith(server, workspaceId, ann, [bob]);
    const base = await lastSeq(channelId);
    const { results, alreadyWriting } = await whileChannelIsLocked(channelId, [
      ...Array.from({ length: 6 }, () => () => send(ann, channelId, 'retried', { clientMessageId: 'flaky-1' })),
      // Bob's key is his own; ann's key in another channel, in the same batch as her retries, is a conflict.
      () => send(bob, channelId, 'his own', { clientMessageId: 'flaky-1' }),
      () => send(ann, elsewhere, 'same key elsewhere', { clientMessageId: 'flaky-1' }),
    ]);
    // Ann's first send was written alone, before the batch that held the rest.
    expect(alreadyWriting).toBeGreaterThanOrEqual(1);
    expect(results.map(codeOf)).toEqual([...Array(7).fill('OK'), 'CONFLICT']);
    const anns = results.slice(0, 6).map((r) => r.message!);
    expect(new Set(anns.map((m) => m.id)).size).toBe(1);
    expect(results[6]!.message!.id).not.toBe(anns[0]!.id);
    const rows = await stored(channelId);
    expect(rows.map((m) => m.seq)).toEqual([base + 1, base + 2]);
    expect(rows.map((m) => m.id).sort()).toEqual([anns[0]!.id, results[6]!.message!.id].sort());
    expect(await lastSeq(channelId)).toBe(base + 2);
    expect(await stored(elsewhere)).toEqual([]);
  });

  it('fails only the bad sends of a batch, each with its own code, and writes the others gap-free', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const secret = await channelWith(server, workspaceId, ann, [bob], { private: true });
    const otherRoot = await send(ann, await channelWith(server, workspaceId, ann), 'a root elsewhere');
    await send(ann, secret, 'used here first', { clientMessageId: 'taken' });
    const base = await lastSeq(channelId);
    const { results, writes } = await whileChannelIsLocked(channelId, [
      () => send(ann, channelId, 'good 1'),
      () => send(bob, channelId, 'good 2'),
      () => send(ann, channelId, 'good 3'),
      () => send(cat, channelId, 'not joined'),
      () => send(outsider, channelId, 'not in the workspace'),
      () => send(cat, secret, 'private'),
      () => send(ann, channelId, 'reply across channels', { threadRootId: otherRoot.id }),
      () => send(ann, channelId, 'key of another channel', { clientMessageId: 'taken' }),
      () => send(bob, channelId, 'good 4'),
      () => send(ann, channelId, 'good 5'),
    ]);
    expect(results.map(codeOf)).toEqual(['OK', 'OK', 'OK', 'FORBIDDEN', 'NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND', 'CONFLICT', 'OK', 'OK']);
    expect((results[3]!.error as Error).message).toBe('Join the channel before posting in it.');
    // Refusals are outcomes of the one statement, not failed statements: nothing was written twice.
    expect(writes).toBeLessThan(results.length);
    const good = results.filter((r) => r.message).map((r) => r.message!);
    expect(good.map((m) => m.seq).sort((a, b) => a - b)).toEqual(run(base + 1, 5));
    expect((await stored(channelId)).map((m) => m.id)).toEqual([...good].sort((a, b) => a.seq - b.seq).map((m) => m.id));
  });

  it('writes the rest of a batch the database refuses one by one, so only the refused send fails', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const base = await lastSeq(channelId);
    const { results, writes, alreadyWriting } = await whileChannelIsLocked(channelId, [
      () => send(ann, channelId, 'good 1'),
      () => send(bob, channelId, 'good 2'),
      () => send(ann, channelId, 'good 3'),
      () => send(bob, channelId, 'good 4'),
      // Postgres text cannot hold U+0000, so the statement carrying it fails. The service
      // refuses such text before queueing it: this goes straight to the queue, as only a bug could.
      () =>
        rt.sends
          .submit({ channelId: dbId(channelId), authorId: viewers.get(ann)!.userId, text: 'nul \u0000 inside', clientMessageId: null, threadRootId: null, handles: [] })
          .then((outcome) => (outcome.status === 'sent' ? outcome.message : Promise.reject(new Error(outcome.status)))),
      () => send(bob, channelId, 'good 5'),
    ]);
    expect(results.map(codeOf)).toEqual(['OK', 'OK', 'OK', 'OK', 'OTHER', 'OK']);
    // The shared batch failed as a whole, then each of its sends was written alone.
    expect(writes).toBe(alreadyWriting + 1 + (results.length - alreadyWriting));
    const good = results.filter((r) => r.message).map((r) => r.message!);
    expect(good.map((m) => m.seq).sort((a, b) => a - b)).toEqual(run(base + 1, 5));
    expect((await stored(channelId)).map((m) => m.id)).toEqual([...good].sort((a, b) => a.seq - b.seq).map((m) => m.id));
  });

  it('numbers concurrent thread replies in sequence order and keeps follows, mentions and unread counts right', async () => {
    const channelId = await channelWith(server, workspaceId, bob, [ann, cat]);
    const root = await send(bob, channelId, 'a question');
    const replies = 12;
    const { results } = await whileChannelIsLocked(channelId, [
      ...Array.from({ length: replies }, (_, i) => () =>
        send(i % 2 ? cat : ann, channelId, i === 5 ? `reply ${i}, @${bob.handle} and @${ann.handle}` : `reply ${i}`, { threadRootId: root.id }),
      ),
      () => send(ann, channelId, `top-level, @${bob.handle}`),
      () => send(ann, channelId, 'another top-level'),
    ]);
    expect(results.map(codeOf)).toEqual(Array(replies + 2).fill('OK'));
    const sent = results.map((r) => r.message!);
    const threaded = sent.slice(0, replies).sort((a, b) => a.seq - b.seq);
    expect(threaded.map((m) => m.replyNumber)).toEqual(Array.from({ length: replies }, (_, i) => i + 1));
    expect(threaded.every((m) => m.threadRootId === root.id && m.number === null)).toBe(true);
    expect(await rt.prisma.message.findUniqueOrThrow({ where: { id: root.id } })).toMatchObject({ replyCount: replies });

    const lastReplyOf = (user: TestUser) => Math.max(...threaded.filter((m) => m.authorId === uid(user)).map((m) => m.replyNumber!));
    const follows = await rt.prisma.threadMembership.findMany({ where: { rootId: root.id }, select: { userId: true, lastReadReplyNumber: true } });
    expect(new Map(follows.map((f) => [f.userId, f.lastReadReplyNumber]))).toEqual(
      new Map([
        [uid(bob), 0],
        [uid(ann), lastReplyOf(ann)],
        [uid(cat), lastReplyOf(cat)],
      ]),
    );
    // Reply 5 is cat's: bob is mentioned; ann is mentioned too (not the author).
    const mentions = await rt.prisma.mention.findMany({ where: { messageId: sent[5]!.id }, orderBy: { userId: 'asc' } });
    expect(mentions.map((m) => m.userId)).toEqual([uid(ann), uid(bob)].sort());
    expect(mentions.every((m) => m.replyNumber === sent[5]!.replyNumber && m.threadRootId === root.id)).toBe(true);

    // Top-level: bob has two unread (one mentions him); ann read up to her own last message.
    const membership = async (user: TestUser) => (await ok(server, MyMembershipDocument, { id: channelId }, user.token)).channel!.myMembership;
    expect(await membership(bob)).toEqual({ unreadCount: 2, mentionCount: 1 });
    expect(await membership(ann)).toEqual({ unreadCount: 0, mentionCount: 0 });
    expect(await membership(cat)).toEqual({ unreadCount: 3, mentionCount: 0 });
  });
});
