import { beforeAll, describe, expect, it } from 'vitest';
import {
  LeaveChannelDocument,
  LogInDocument,
  LogOutDocument,
  SetTypingDocument,
  TypingDocument,
  type TypingSubscription,
} from '../client/generated/graphql.ts';
import { topics } from '../src/pubsub.ts';
import { decodeId } from '../src/schema/ids.ts';
import { TYPING_EXPIRES_MS, TYPING_THROTTLE_MS } from '../src/services/typing.ts';
import { connect, ok, refused, subscribe, type LiveSubscription } from './support/client.ts';
import { backendName, startServer, until, waitForTopic, type TestServer } from './support/server.ts';
import { channelWith, signUpUsers, workspaceWith, type TestUser } from './support/world.ts';

let server: TestServer;
let ann: TestUser;
let bob: TestUser;
let cat: TestUser;
let dan: TestUser;
let outsider: TestUser;
let workspaceId: string;

beforeAll(async () => {
  server = await startServer();
  [ann, bob, cat, dan, outsider] = await signUpUsers(server, 'ann', 'bob', 'cat', 'dan', 'outsider');
  workspaceId = await workspaceWith(server, ann, [bob, cat, dan]);
  await workspaceWith(server, outsider);
});

const typingTopic = (channelId: string) => topics.typing(decodeId(channelId).id);
const setTyping = (user: TestUser, channelId: string) =>
  ok(server, SetTypingDocument, { channelId }, user.token).then((r) => r.setTyping);

/** Subscribes each user to the channel's typing and waits until all are listening. */
async function watchTyping(channelId: string, ...users: TestUser[]): Promise<LiveSubscription<TypingSubscription>[]> {
  const before = server.app.runtime.pubsub.listenerCount(typingTopic(channelId));
  const subs = users.map((user) => subscribe(connect(server, user.token), TypingDocument, { channelId }));
  await waitForTopic(server, typingTopic(channelId), before + users.length);
  return subs;
}

const typists = (sub: LiveSubscription<TypingSubscription>) => sub.events.map((e) => e.typing.user.id);
const from = (user: TestUser) => (event: TypingSubscription) => event.typing.user.id === user.id;

describe(`typing (${backendName})`, () => {
  it('tells the other members who is typing, with an expiry, and does not echo it to the typist', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob, cat]);
    const [annSub, bobSub, catSub] = await watchTyping(channelId, ann, bob, cat);
    const before = Date.now();
    expect(await setTyping(ann, channelId)).toBe(true);

    for (const sub of [bobSub!, catSub!]) {
      const { typing } = await sub.waitFor(from(ann), 'ann typing');
      expect(typing).toMatchObject({ user: { id: ann.id, handle: ann.handle }, channel: { id: channelId } });
      const expiresIn = Date.parse(typing.expiresAt) - before;
      expect(expiresIn).toBeGreaterThanOrEqual(TYPING_EXPIRES_MS);
      expect(expiresIn).toBeLessThan(TYPING_EXPIRES_MS + 2_000);
    }
    // Bob's typing reaches ann after anything of her own would have.
    await setTyping(bob, channelId);
    await annSub!.waitFor(from(bob), 'bob typing');
    expect(typists(annSub!)).toEqual([bob.id]);
  });

  it('throttles each user per channel: repeated calls succeed without announcing again', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob, cat]);
    const other = await channelWith(server, workspaceId, ann, [bob]);
    const [bobSub] = await watchTyping(channelId, bob);
    const [bobOther] = await watchTyping(other, bob);

    for (let i = 0; i < 3; i++) expect(await setTyping(ann, channelId)).toBe(true);
    await setTyping(cat, channelId);
    await bobSub!.waitFor(from(cat), 'cat typing');
    expect(typists(bobSub!)).toEqual([ann.id, cat.id]);
    // Another channel has its own window.
    await setTyping(ann, other);
    await bobOther!.waitFor(from(ann), 'ann typing in the other channel');
  });

  it('announces again once the throttle window has passed, so continuous typing shows continuously', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const [bobSub] = await watchTyping(channelId, bob);
    await setTyping(ann, channelId);
    const first = await bobSub!.waitFor(from(ann), 'the first announcement');
    // Ann keeps typing: her client calls setTyping every few keystrokes.
    await until(
      async () => {
        await setTyping(ann, channelId);
        return bobSub!.events.length >= 2;
      },
      'the second announcement',
      TYPING_THROTTLE_MS + 3_000,
    );
    const [, second] = bobSub!.events;
    const gap = Date.parse(second!.typing.expiresAt) - Date.parse(first.typing.expiresAt);
    // expiresAt is stamped after the throttle's round trip to Redis, so two
    // stamps can be a few milliseconds closer than the window itself.
    expect(gap).toBeGreaterThanOrEqual(TYPING_THROTTLE_MS - 50);
    // The first event was still valid when the second arrived: no flicker.
    expect(gap).toBeLessThan(TYPING_EXPIRES_MS);
    expect(bobSub!.events).toHaveLength(2);
  });

  it('lets workspace members watch a public channel they have not joined', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const [danSub] = await watchTyping(channelId, dan);
    await setTyping(bob, channelId);
    await danSub!.waitFor(from(bob), 'bob typing, seen by a non-member');
  });

  it('refuses typing where you are not a member: FORBIDDEN in a public channel, NOT_FOUND where you cannot read, UNAUTHENTICATED without a token', async () => {
    const open = await channelWith(server, workspaceId, ann, [bob]);
    const secret = await channelWith(server, workspaceId, ann, [bob], { private: true });
    await refused(server, 'FORBIDDEN', SetTypingDocument, { channelId: open }, cat.token);
    await refused(server, 'NOT_FOUND', SetTypingDocument, { channelId: secret }, cat.token);
    await refused(server, 'NOT_FOUND', SetTypingDocument, { channelId: open }, outsider.token);
    await refused(server, 'UNAUTHENTICATED', SetTypingDocument, { channelId: open });
    await refused(server, 'NOT_FOUND', SetTypingDocument, { channelId: workspaceId }, ann.token);
    await refused(server, 'BAD_USER_INPUT', SetTypingDocument, { channelId: 'not-an-id' }, ann.token);
  });

  it('refuses watching a channel you cannot read (NOT_FOUND) or without a token (UNAUTHENTICATED)', async () => {
    const secret = await channelWith(server, workspaceId, ann, [bob], { private: true });
    for (const user of [cat, outsider]) {
      const sub = subscribe(connect(server, user.token), TypingDocument, { channelId: secret });
      expect(JSON.stringify(await sub.waitForError())).toContain('NOT_FOUND');
    }
    const anonymous = subscribe(connect(server), TypingDocument, { channelId: secret });
    expect(JSON.stringify(await anonymous.waitForError())).toContain('UNAUTHENTICATED');
  });

  it('ends the subscription when you leave a private channel', async () => {
    const secret = await channelWith(server, workspaceId, ann, [bob], { private: true });
    const [bobSub] = await watchTyping(secret, bob);
    await ok(server, LeaveChannelDocument, { channelId: secret }, bob.token);
    expect(JSON.stringify(await bobSub!.waitForError())).toContain('FORBIDDEN');
  });

  it('keeps the subscription when you leave a public channel you can still read', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob, cat]);
    const [bobSub] = await watchTyping(channelId, bob);
    await ok(server, LeaveChannelDocument, { channelId }, bob.token);
    await setTyping(cat, channelId);
    await bobSub!.waitFor(from(cat), 'cat typing after bob left');
    expect(bobSub!.errors).toHaveLength(0);
  });

  it('ends the subscription when the session is revoked', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const { logIn } = await ok(server, LogInDocument, { input: { email: bob.email, password: bob.password } });
    const [bobSub] = await watchTyping(channelId, { ...bob, token: logIn.token });
    await ok(server, LogOutDocument, {}, logIn.token);
    expect(JSON.stringify(await bobSub!.waitForError())).toContain('UNAUTHENTICATED');
  });

  it('delivers one typing event to many subscribers with a number of queries that does not grow with them', async () => {
    const costOf = async (subscribers: number) => {
      const channelId = await channelWith(server, workspaceId, ann, [bob, cat, dan]);
      const watchers = [cat, dan];
      const subs = await watchTyping(channelId, ...Array.from({ length: subscribers }, (_, i) => watchers[i % watchers.length]!));
      // Every subscription has passed its access check once it has delivered an event.
      await setTyping(bob, channelId);
      await Promise.all(subs.map((sub) => sub.waitForCount(1)));
      const statements: string[] = [];
      const stop = server.app.runtime.db.onQuery((sql) => statements.push(sql));
      try {
        await setTyping(ann, channelId);
        await Promise.all(subs.map((sub) => sub.waitForCount(2)));
      } finally {
        stop();
      }
      for (const sub of subs) sub.unsubscribe();
      return statements;
    };
    const few = await costOf(2);
    const many = await costOf(20);
    expect(many.length, many.join('\n')).toBe(few.length);
  });
});
