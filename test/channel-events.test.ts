import { beforeAll, describe, expect, it } from 'vitest';
import {
  AddReactionDocument,
  ChannelEventsDocument,
  ChannelMessagesDocument,
  DeleteMessageDocument,
  EditMessageDocument,
  JoinChannelDocument,
  LeaveChannelDocument,
  LogInDocument,
  LogOutDocument,
  MarkReadDocument,
  MessageAddedDocument,
  MessageReactionsDocument,
  MessageRepliesDocument,
  RemoveReactionDocument,
  UnreadCountsDocument,
  type ChannelEventsSubscription,
} from '../client/generated/graphql.ts';
import { topics, type ChannelEventPayload } from '../src/pubsub.ts';
import { decodeId } from '../src/schema/ids.ts';
import { authenticate } from '../src/services/auth.ts';
import { streamChannelEvents } from '../src/services/channelStream.ts';
import { appendEvents, publishEvents } from '../src/services/eventLog.ts';
import { connect, ok, refused, subscribe } from './support/client.ts';
import { backendName, waitForSubscribers, type TestServer } from './support/server.ts';
import { channelWith, seedMessages, sendText, startTeam, type TestUser } from './support/world.ts';

let server: TestServer;
let ann: TestUser;
let bob: TestUser;
let cat: TestUser;
let outsider: TestUser;
let workspaceId: string;

beforeAll(async () => {
  ({ server, ann, bob, cat, outsider, workspaceId } = await startTeam());
});

type Event = ChannelEventsSubscription['channelEvents'];
const inner = (data: ChannelEventsSubscription[]): Event[] => data.map((d) => d.channelEvents);

const send = (token: string, channelId: string, text: string, extra: { clientMessageId?: string; threadRootId?: string } = {}) =>
  sendText(server, token, channelId, text, extra);

/** Every event once, consecutive and increasing. */
function expectGapFree(events: Event[]) {
  const seqs = events.map((e) => e.seq);
  for (let i = 1; i < seqs.length; i++) expect(seqs[i], `event ${i} of ${seqs.join(',')}`).toBe(seqs[i - 1]! + 1);
  expect(new Set(events.map((e) => e.cursor)).size).toBe(events.length);
}

describe(`channelEvents: ordered, resumable (${backendName})`, () => {
  it('resumes after a disconnect with exactly the missed events, then goes live, while messages keep coming', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const first = subscribe(connect(server, bob.token), ChannelEventsDocument, { channelId });
    await waitForSubscribers(server, channelId);
    const early = await send(ann.token, channelId, 'before the disconnect');
    const [seen] = inner(await first.waitForCount(1));
    expect(seen).toMatchObject({ type: 'MESSAGE_ADDED', message: { id: early.id }, user: { id: ann.id } });
    first.unsubscribe();

    // While bob is away: 30 messages, an edit and a delete.
    const missed = [];
    for (let i = 1; i <= 30; i++) missed.push(await send(ann.token, channelId, `missed ${i}`));
    await ok(server, EditMessageDocument, { input: { messageId: missed[0]!.id, text: 'missed 1 (edited)' } }, ann.token);
    await ok(server, DeleteMessageDocument, { messageId: missed[1]!.id }, ann.token);

    // Resume, while 20 more are being sent.
    const resumed = subscribe(connect(server, bob.token), ChannelEventsDocument, { channelId, after: seen!.cursor });
    const sending = (async () => {
      for (let i = 1; i <= 20; i++) await send(ann.token, channelId, `live ${i}`);
    })();
    const events = inner(await resumed.waitForCount(52, 15_000));
    await sending;
    expectGapFree(events);
    expect(events[0]!.seq).toBe(seen!.seq + 1);
    expect(events.map((e) => e.type)).toEqual([
      ...Array(30).fill('MESSAGE_ADDED'),
      'MESSAGE_EDITED',
      'MESSAGE_DELETED',
      ...Array(20).fill('MESSAGE_ADDED'),
    ]);
    expect(events.slice(32).map((e) => e.message?.text)).toEqual(Array.from({ length: 20 }, (_, i) => `live ${i + 1}`));
    expect(events[30]!.message).toMatchObject({ id: missed[0]!.id, text: 'missed 1 (edited)' });
    expect(events[31]!.message).toMatchObject({ id: missed[1]!.id, text: '' });
    // Nothing more arrives: no duplicates trailing behind.
    const more = await send(ann.token, channelId, 'last');
    const last = await resumed.waitFor((e) => e.channelEvents.message?.id === more.id, 'the last message');
    expect(resumed.events.indexOf(last)).toBe(52);
  });

  it('replays more than a page of history after an old cursor, and accepts a message edge cursor', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const anchor = await send(ann.token, channelId, 'anchor');
    await seedMessages(server, bob, channelId, Array.from({ length: 250 }, (_, i) => `m${i + 1}`));
    const { channel } = await ok(server, ChannelMessagesDocument, { id: channelId, first: 1 }, bob.token);
    const edgeCursor = channel!.messages.edges[0]!.cursor;
    expect(channel!.messages.edges[0]!.node.id).toBe(anchor.id);
    const sub = subscribe(connect(server, bob.token), ChannelEventsDocument, { channelId, after: edgeCursor });
    const events = inner(await sub.waitForCount(250, 20_000));
    expectGapFree(events);
    expect(events.map((e) => e.message?.text)).toEqual(Array.from({ length: 250 }, (_, i) => `m${i + 1}`));
  });

  it('gives every subscriber the same total order under concurrent senders, equal to the stored order', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob, cat]);
    const subs = [subscribe(connect(server, bob.token), ChannelEventsDocument, { channelId }), subscribe(connect(server, cat.token), ChannelEventsDocument, { channelId })];
    await waitForSubscribers(server, channelId, 2);
    const senders = [ann, bob, cat, ann];
    // Four concurrent senders, each posting in order (through the service: the order is the engine's business).
    await Promise.all(
      senders.map((user, s) => seedMessages(server, user, channelId, Array.from({ length: 100 }, (_, i) => `s${s}-${i}`))),
    );
    const orders = await Promise.all(subs.map(async (sub) => inner(await sub.waitForCount(400, 60_000))));
    for (const events of orders) expectGapFree(events);
    const ids = orders.map((events) => events.map((e) => e.message!.id));
    expect(ids[1]).toEqual(ids[0]);
    // Each sender's own messages keep their order.
    const texts = orders[0]!.map((e) => e.message!.text);
    for (let s = 0; s < 4; s++) {
      expect(texts.filter((t) => t.startsWith(`s${s}-`))).toEqual(Array.from({ length: 100 }, (_, i) => `s${s}-${i}`));
    }
    // The stored history has the same order.
    const stored: string[] = [];
    let after: string | null | undefined;
    for (;;) {
      const { channel } = await ok(server, ChannelMessagesDocument, { id: channelId, first: 100, after }, ann.token);
      stored.push(...channel!.messages.edges.map((e) => e.node.id));
      if (!channel!.messages.pageInfo.hasNextPage) break;
      after = channel!.messages.pageInfo.endCursor;
    }
    expect(stored).toEqual(ids[0]);
  }, 120_000);

  it('refuses garbage cursors and cursors of another channel with BAD_USER_INPUT', async () => {
    const a = await channelWith(server, workspaceId, ann, [bob]);
    const b = await channelWith(server, workspaceId, ann, [bob]);
    const sub = subscribe(connect(server, bob.token), ChannelEventsDocument, { channelId: a });
    await waitForSubscribers(server, a);
    await send(ann.token, a, 'x');
    const [event] = inner(await sub.waitForCount(1));
    for (const after of ['garbage', event!.cursor]) {
      const bad = subscribe(connect(server, bob.token), ChannelEventsDocument, { channelId: after === 'garbage' ? a : b, after });
      expect(JSON.stringify(await bad.waitForError())).toContain('BAD_USER_INPUT');
    }
  });

  it('refuses subscribing to channels the caller cannot read (NOT_FOUND)', async () => {
    const secret = await channelWith(server, workspaceId, ann, [bob], { private: true });
    for (const user of [cat, outsider]) {
      const sub = subscribe(connect(server, user.token), ChannelEventsDocument, { channelId: secret });
      expect(JSON.stringify(await sub.waitForError())).toContain('NOT_FOUND');
    }
  });

  it('stops delivering the moment a member leaves: the leave arrives, then the stream ends with an error', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob], { private: true });
    const sub = subscribe(connect(server, bob.token), ChannelEventsDocument, { channelId });
    const added = subscribe(connect(server, bob.token), MessageAddedDocument, { channelId });
    await waitForSubscribers(server, channelId, 2);
    await ok(server, LeaveChannelDocument, { channelId }, bob.token);
    await send(ann.token, channelId, 'after bob left');
    expect(JSON.stringify(await sub.waitForError())).toContain('FORBIDDEN');
    expect(JSON.stringify(await added.waitForError())).toContain('FORBIDDEN');
    expect(inner(sub.events).map((e) => e.type)).toEqual(['MEMBER_LEFT']);
    expect(added.events).toHaveLength(0);
  });

  it('ends open subscriptions when their session is revoked, and only that session’s', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const { logIn } = await ok(server, LogInDocument, { input: { email: bob.email, password: bob.password } });
    const sub = subscribe(connect(server, logIn.token), ChannelEventsDocument, { channelId });
    // The same person on another device: one watch of their sessions serves both streams.
    const otherDevice = subscribe(connect(server, bob.token), ChannelEventsDocument, { channelId });
    await waitForSubscribers(server, channelId, 2);
    await ok(server, LogOutDocument, {}, logIn.token);
    expect(JSON.stringify(await sub.waitForError())).toContain('UNAUTHENTICATED');
    await send(ann.token, channelId, 'still here');
    await otherDevice.waitForCount(1);
    expect(inner(otherDevice.events).map((e) => e.type)).toEqual(['MESSAGE_ADDED']);
    expect(otherDevice.errors).toHaveLength(0);
    otherDevice.unsubscribe();
  });
});

describe(`edits, deletes and threads (${backendName})`, () => {
  it('lets only the author edit, keeping editedAt; deleted messages cannot be edited', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const message = await send(bob.token, channelId, 'typo');
    const { editMessage } = await ok(server, EditMessageDocument, { input: { messageId: message.id, text: 'fixed' } }, bob.token);
    expect(editMessage.text).toBe('fixed');
    expect(editMessage.editedAt).not.toBeNull();
    await refused(server, 'FORBIDDEN', EditMessageDocument, { input: { messageId: message.id, text: 'hijack' } }, ann.token);
    await refused(server, 'NOT_FOUND', EditMessageDocument, { input: { messageId: message.id, text: 'x' } }, outsider.token);
    await refused(server, 'BAD_USER_INPUT', EditMessageDocument, { input: { messageId: message.id, text: '  ' } }, bob.token);
    await ok(server, DeleteMessageDocument, { messageId: message.id }, bob.token);
    await refused(server, 'CONFLICT', EditMessageDocument, { input: { messageId: message.id, text: 'again' } }, bob.token);
  });

  it('lets the author or a workspace admin delete; the text is erased and replies stay', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob, cat]);
    const root = await send(bob.token, channelId, 'secret plan');
    await send(cat.token, channelId, 'reply', { threadRootId: root.id });
    await refused(server, 'FORBIDDEN', DeleteMessageDocument, { messageId: root.id }, cat.token);
    // ann owns the workspace.
    const { deleteMessage } = await ok(server, DeleteMessageDocument, { messageId: root.id }, ann.token);
    expect(deleteMessage).toMatchObject({ text: '', replyCount: 1 });
    expect(deleteMessage.deletedAt).not.toBeNull();
    const again = await ok(server, DeleteMessageDocument, { messageId: root.id }, bob.token);
    expect(again.deleteMessage.deletedAt).toBe(deleteMessage.deletedAt);
    const { message } = await ok(server, MessageRepliesDocument, { id: root.id, first: 10 }, bob.token);
    expect(message!.replies.edges.map((e) => e.node.text)).toEqual(['reply']);
  });
});

describe(`reactions (${backendName})`, () => {
  it('groups reactions by emoji with counts and reactedByMe; reacting twice changes nothing', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob, cat]);
    const message = await send(ann.token, channelId, 'react to me');
    const events = subscribe(connect(server, ann.token), ChannelEventsDocument, { channelId });
    await waitForSubscribers(server, channelId);
    await ok(server, AddReactionDocument, { messageId: message.id, emoji: '👍' }, bob.token);
    await ok(server, AddReactionDocument, { messageId: message.id, emoji: '👍' }, bob.token);
    await ok(server, AddReactionDocument, { messageId: message.id, emoji: '👍' }, cat.token);
    await ok(server, AddReactionDocument, { messageId: message.id, emoji: ':tada:' }, cat.token);
    await ok(server, AddReactionDocument, { messageId: message.id, emoji: '👩‍👩‍👧' }, cat.token);
    const { message: seenByBob } = await ok(server, MessageReactionsDocument, { id: message.id }, bob.token);
    expect(seenByBob!.reactions).toEqual([
      { emoji: '👍', count: 2, reactedByMe: true },
      { emoji: ':tada:', count: 1, reactedByMe: false },
      { emoji: '👩‍👩‍👧', count: 1, reactedByMe: false },
    ]);
    const { removeReaction } = await ok(server, RemoveReactionDocument, { messageId: message.id, emoji: '👍' }, bob.token);
    await ok(server, RemoveReactionDocument, { messageId: message.id, emoji: '👍' }, bob.token);
    expect(removeReaction.reactions[0]).toEqual({ emoji: '👍', count: 1, reactedByMe: false });
    const received = inner(await events.waitForCount(5));
    expect(received.map((e) => [e.type, e.emoji, e.user?.id])).toEqual([
      ['REACTION_ADDED', '👍', bob.id],
      ['REACTION_ADDED', '👍', cat.id],
      ['REACTION_ADDED', ':tada:', cat.id],
      ['REACTION_ADDED', '👩‍👩‍👧', cat.id],
      ['REACTION_REMOVED', '👍', bob.id],
    ]);
  });

  it.each([['two emoji', '👍👍'], ['text', 'yes'], ['bad shortcode', ':Not OK:'], ['empty', '']])(
    'refuses %s as an emoji (BAD_USER_INPUT)',
    async (_what, emoji) => {
      const channelId = await channelWith(server, workspaceId, ann);
      const message = await send(ann.token, channelId, 'x');
      await refused(server, 'BAD_USER_INPUT', AddReactionDocument, { messageId: message.id, emoji }, ann.token);
    },
  );

  it('refuses reacting where the caller cannot read (NOT_FOUND) or has not joined (FORBIDDEN)', async () => {
    const secret = await channelWith(server, workspaceId, ann, [bob], { private: true });
    const open = await channelWith(server, workspaceId, ann);
    const hidden = await send(ann.token, secret, 'hidden');
    const visible = await send(ann.token, open, 'visible');
    await refused(server, 'NOT_FOUND', AddReactionDocument, { messageId: hidden.id, emoji: '👀' }, cat.token);
    await refused(server, 'NOT_FOUND', AddReactionDocument, { messageId: hidden.id, emoji: '👀' }, outsider.token);
    await refused(server, 'FORBIDDEN', AddReactionDocument, { messageId: visible.id, emoji: '👀' }, cat.token);
    await ok(server, JoinChannelDocument, { channelId: open }, cat.token);
    await ok(server, AddReactionDocument, { messageId: visible.id, emoji: '👀' }, cat.token);
  });
});

describe(`read state (${backendName})`, () => {
  it('counts unread top-level messages and moves the read position forward only, emitting READ', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const messages = [];
    for (let i = 1; i <= 5; i++) messages.push(await send(ann.token, channelId, `m${i}`));
    await send(ann.token, channelId, 'reply', { threadRootId: messages[0]!.id });
    const unread = async (token: string) => (await ok(server, UnreadCountsDocument, { id: channelId }, token)).channel!;
    expect(await unread(bob.token)).toMatchObject({ unreadCount: 5, myMembership: { unreadCount: 5 } });
    expect((await unread(ann.token)).unreadCount).toBe(0);

    const events = subscribe(connect(server, ann.token), ChannelEventsDocument, { channelId });
    await waitForSubscribers(server, channelId);
    const { markRead } = await ok(server, MarkReadDocument, { channelId, messageId: messages[2]!.id }, bob.token);
    expect(markRead).toMatchObject({ unreadCount: 2, user: { id: bob.id } });
    // Backwards is a no-op, and emits nothing.
    const back = await ok(server, MarkReadDocument, { channelId, messageId: messages[0]!.id }, bob.token);
    expect(back.markRead.unreadCount).toBe(2);
    await ok(server, MarkReadDocument, { channelId, messageId: messages[4]!.id }, bob.token);
    expect((await unread(bob.token)).unreadCount).toBe(0);
    const reads = inner(await events.waitForCount(2));
    expect(reads.map((e) => [e.type, e.user?.id, e.message?.id])).toEqual([
      ['READ', bob.id, messages[2]!.id],
      ['READ', bob.id, messages[4]!.id],
    ]);
  });

  it('refuses marking read a message of another channel, or a channel one is not in', async () => {
    const a = await channelWith(server, workspaceId, ann, [bob]);
    const b = await channelWith(server, workspaceId, ann, [bob]);
    const inB = await send(ann.token, b, 'in b');
    await refused(server, 'NOT_FOUND', MarkReadDocument, { channelId: a, messageId: inB.id }, bob.token);
    await refused(server, 'NOT_FOUND', MarkReadDocument, { channelId: b, messageId: inB.id }, cat.token);
  });
});

describe(`a stream opening while messages commit (${backendName})`, () => {
  /** Reads `count` events from `stream`, or what arrived within 10 s. */
  const read = async (stream: AsyncIterableIterator<ChannelEventPayload>, count: number) => {
    const received: number[] = [];
    const reading = (async () => {
      for (let i = 0; i < count; i++) received.push((await stream.next()).value!.seq);
    })();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([reading, new Promise<void>((resolve) => (timer = setTimeout(resolve, 10_000)))]);
    clearTimeout(timer);
    return received;
  };

  it('loses no event that commits just after the stream read where it starts, whose publishes arrive out of order', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const id = decodeId(channelId).id;
    const rt = server.app.runtime;
    const viewer = await authenticate(rt, `Bearer ${bob.token}`);
    const annId = decodeId(ann.id).id;
    const topic = topics.channel(id);
    // Forces the interleaving that concurrent writers can produce: right
    // after the stream's start is read (its access check), two events commit
    // and the later one's publish arrives first; the earlier one's after.
    let first: ChannelEventPayload | undefined;
    const prisma = rt.prisma;
    const queryRaw = prisma.$queryRaw.bind(prisma);
    Object.defineProperty(prisma, '$queryRaw', {
      configurable: true,
      value: async (...args: Parameters<typeof queryRaw>) => {
        const result = await queryRaw(...args);
        if (!first && String(args[0]).includes('"isMember"')) {
          const [a, b] = await rt.prisma.$transaction((tx) =>
            appendEvents(tx, id, [
              { type: 'MEMBER_JOINED', userId: annId },
              { type: 'MEMBER_JOINED', userId: annId },
            ]),
          );
          first = a;
          await rt.pubsub.publish(topic, b!);
        }
        return result;
      },
    });
    let stream: AsyncIterableIterator<ChannelEventPayload>;
    try {
      stream = await streamChannelEvents(rt, viewer, id);
    } finally {
      delete (prisma as { $queryRaw?: unknown }).$queryRaw;
    }
    try {
      expect(first, 'the access check ran through the hooked $queryRaw').toBeDefined();
      await rt.pubsub.publish(topic, first!);
      expect(await read(stream, 2)).toEqual([first!.seq, first!.seq + 1]);
    } finally {
      await stream.return!();
    }
  });

  it('starts after what committed while it was setting up, and ignores those events’ late publishes', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const id = decodeId(channelId).id;
    const rt = server.app.runtime;
    const viewer = await authenticate(rt, `Bearer ${bob.token}`);
    const annId = decodeId(ann.id).id;
    const topic = topics.channel(id);
    // Two events commit while the stream's listener is being set up; the later one's publish arrives then, the earlier one's after.
    let early: ChannelEventPayload[] = [];
    const pubsub = rt.pubsub;
    const own = (Object.getPrototypeOf(pubsub) as typeof pubsub).listen;
    const listen = ((...args: Parameters<typeof own>) => own.apply(pubsub, args)) as typeof own;
    pubsub.listen = ((t: typeof topic, listener: (payload: ChannelEventPayload) => void, options) => {
      const listening = listen(t, listener, options);
      if (t !== topic) return listening;
      const arrived = new Promise<void>((resolve) => {
        const probe = listen(topic, () => {
          resolve();
          void probe.close();
        });
        void probe.ready.then(async () => {
          early = await rt.prisma.$transaction((tx) =>
            appendEvents(tx, id, [
              { type: 'MEMBER_JOINED', userId: annId },
              { type: 'MEMBER_JOINED', userId: annId },
            ]),
          );
          await rt.pubsub.publish(topic, early[1]!);
        });
      });
      return { ...listening, ready: Promise.all([listening.ready, arrived]).then(() => undefined) };
    }) as typeof pubsub.listen;
    let stream: AsyncIterableIterator<ChannelEventPayload>;
    try {
      stream = await streamChannelEvents(rt, viewer, id);
    } finally {
      delete (pubsub as Partial<typeof pubsub>).listen;
    }
    try {
      await rt.pubsub.publish(topic, early[0]!);
      const [next] = await rt.prisma.$transaction((tx) => appendEvents(tx, id, [{ type: 'MEMBER_JOINED', userId: annId }]));
      await publishEvents(rt, [next!]);
      // The first event is the one committed after the stream opened: neither early event, nor a duplicate.
      expect(await read(stream, 1)).toEqual([early[1]!.seq + 1]);
    } finally {
      await stream.return!();
    }
  });
});

describe(`a subscriber that falls far behind (${backendName})`, () => {
  it('is paged from the log instead of buffered, and still gets every event once, in order', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const viewer = await authenticate(server.app.runtime, `Bearer ${bob.token}`);
    // At the service level, with a tiny buffer, and not reading while 30 messages arrive.
    const stream = await streamChannelEvents(server.app.runtime, viewer, decodeId(channelId).id, { maxPending: 5 });
    for (let i = 1; i <= 30; i++) await send(ann.token, channelId, `burst ${i}`);
    const statements: string[] = [];
    const stop = server.app.runtime.db.onQuery((sql) => statements.push(sql));
    const received: ChannelEventPayload[] = [];
    try {
      for (let i = 0; i < 30; i++) received.push((await stream.next()).value!);
    } finally {
      stop();
      await stream.return!();
    }
    expect(received.map((e) => e.seq)).toEqual(Array.from({ length: 30 }, (_, i) => received[0]!.seq + i));
    expect(received.every((e) => e.type === 'MESSAGE_ADDED')).toBe(true);
    // The overflow made it read the events from the log.
    expect(statements.some((sql) => /FROM .*"ChannelEvent"/.test(sql))).toBe(true);
  });
});

describe(`gaps in what pub/sub delivers (${backendName})`, () => {
  const pageReads = async () => (await server.app.runtime.metrics.logPageReads.get()).values.reduce((sum, v) => sum + v.value, 0);

  /** `count` streams of bob's on a new channel, each started (nothing to replay). */
  async function streams(count: number) {
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const id = decodeId(channelId).id;
    const rt = server.app.runtime;
    const viewer = await authenticate(rt, `Bearer ${bob.token}`);
    const opened = await Promise.all(Array.from({ length: count }, () => streamChannelEvents(rt, viewer, id)));
    return { id, rt, opened, annId: decodeId(ann.id).id };
  }

  /** Commits `count` events to the channel's log without publishing them. */
  const commit = (rt: typeof server.app.runtime, id: string, annId: string, count: number) =>
    rt.prisma.$transaction((tx) => appendEvents(tx, id, Array.from({ length: count }, () => ({ type: 'MEMBER_JOINED' as const, userId: annId }))));

  /** The next `count` events of a stream, one after the other (a stream has one reader). */
  const nextEvents = async (stream: AsyncIterableIterator<ChannelEventPayload>, count: number) => {
    const events: ChannelEventPayload[] = [];
    for (let i = 0; i < count; i++) events.push((await stream.next()).value!);
    return events;
  };
  const nextSeqs = async (stream: AsyncIterableIterator<ChannelEventPayload>, count: number) =>
    (await nextEvents(stream, count)).map((e) => e.seq);

  it('puts publishes that arrive out of order back in order without reading the log', async () => {
    const { id, rt, opened, annId } = await streams(3);
    try {
      const events = await commit(rt, id, annId, 3);
      const before = await pageReads();
      for (const event of [events[2]!, events[0]!, events[1]!]) await rt.pubsub.publish(topics.channel(id), event);
      for (const stream of opened) expect(await nextSeqs(stream, 3)).toEqual(events.map((e) => e.seq));
      expect(await pageReads()).toBe(before);
    } finally {
      await Promise.all(opened.map((s) => s.return!()));
    }
  });

  it('fills a lost publish from the log with one read for all the streams, which then share each event', async () => {
    const { id, rt, opened, annId } = await streams(40);
    try {
      const events = await commit(rt, id, annId, 3);
      const before = await pageReads();
      // The first two are never published: every stream sees the third early, waits, then reads the log.
      await rt.pubsub.publish(topics.channel(id), events[2]!);
      const received = await Promise.all(opened.map((stream) => nextEvents(stream, 3)));
      for (const got of received) expect(got.map((e) => e.seq)).toEqual(events.map((e) => e.seq));
      expect(await pageReads()).toBe(before + 1);
      // The same payload objects for every stream: shared execution keys on them.
      for (const got of received) expect(got[0]).toBe(received[0]![0]);
    } finally {
      await Promise.all(opened.map((s) => s.return!()));
    }
  });

  it('shares a page that was read already only with streams it covers; one that needs more reads again', async () => {
    const { id, rt, opened, annId } = await streams(1);
    const viewer = await authenticate(rt, `Bearer ${bob.token}`);
    const [early] = opened as [AsyncIterableIterator<ChannelEventPayload>];
    const more: AsyncIterableIterator<ChannelEventPayload>[] = [];
    try {
      const [first, second] = await commit(rt, id, annId, 2);
      const before = await pageReads();
      await rt.pubsub.publish(topics.channel(id), second!);
      expect(await nextSeqs(early, 2)).toEqual([first!.seq, second!.seq]);
      expect(await pageReads()).toBe(before + 1);
      // A stream resuming from the same place, needing nothing newer: the page just read serves it.
      const covered = await streamChannelEvents(rt, viewer, id, { afterSeq: first!.seq - 1 });
      more.push(covered);
      expect(await nextSeqs(covered, 2)).toEqual([first!.seq, second!.seq]);
      expect(await pageReads()).toBe(before + 1);
      // Once a third event has committed, a stream resuming from there needs it too: that page does not reach it.
      const [third] = await commit(rt, id, annId, 1);
      const later = await streamChannelEvents(rt, viewer, id, { afterSeq: first!.seq - 1 });
      more.push(later);
      expect(await nextSeqs(later, 3)).toEqual([first!.seq, second!.seq, third!.seq]);
      expect(await pageReads()).toBe(before + 2);
    } finally {
      await Promise.all([...opened, ...more].map((s) => s.return!()));
    }
  });
});

describe(`streams starting together (${backendName})`, () => {
  it('share one statement for their access checks and start, and each gets its own answer', async () => {
    const rt = server.app.runtime;
    const openId = await channelWith(server, workspaceId, ann, []);
    const open = decodeId(openId).id;
    const secret = decodeId(await channelWith(server, workspaceId, ann, [cat], { private: true })).id;
    await send(ann.token, openId, 'already there');
    const [bobViewer, catViewer] = await Promise.all([bob, cat].map((u) => authenticate(rt, `Bearer ${u.token}`)));
    const statements: string[] = [];
    const stop = rt.db.onQuery((sql) => statements.push(sql));
    const asked = [
      ...Array.from({ length: 20 }, () => streamChannelEvents(rt, bobViewer!, open)),
      streamChannelEvents(rt, bobViewer!, secret), // private, bob is not in it
      streamChannelEvents(rt, catViewer!, secret),
      streamChannelEvents(rt, bobViewer!, '00000000-0000-7000-8000-000000000000'), // no such channel
      streamChannelEvents(rt, bobViewer!, 'not-a-uuid'),
    ];
    const settled = await Promise.allSettled(asked);
    stop();
    try {
      const codes = settled.map((s) => (s.status === 'fulfilled' ? 'ok' : (s.reason as { extensions?: { code?: string } }).extensions?.code));
      expect(codes).toEqual([...Array(20).fill('ok'), 'NOT_FOUND', 'ok', 'NOT_FOUND', 'NOT_FOUND']);
      const starts = statements.filter((sql) => sql.includes('"isMember"'));
      expect(starts.length, 'statements that checked access').toBeGreaterThan(0);
      expect(starts.length).toBeLessThanOrEqual(3);
      // Each started after what was there: the next message is the first event each one gets.
      const next = await send(ann.token, openId, 'after');
      const firsts = await Promise.all(settled.slice(0, 20).map(async (s) => ((s as PromiseFulfilledResult<AsyncIterableIterator<ChannelEventPayload>>).value.next())));
      for (const first of firsts) expect(first.value!.messageId).toBe(decodeId(next.id).id);
    } finally {
      for (const s of settled) if (s.status === 'fulfilled') await s.value.return!();
    }
  });
});
