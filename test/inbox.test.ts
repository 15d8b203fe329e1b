import { beforeAll, describe, expect, it } from 'vitest';
import {
  InboxDocument,
  LeaveChannelDocument,
  MarkReadDocument,
  MyMembershipDocument,
  OpenDirectMessageDocument,
  SendMessageDocument,
  type InboxSubscription,
} from '../client/generated/graphql.ts';
import { connect, ok, subscribe, type LiveSubscription } from './support/client.ts';
import { backendName, startServer, type TestServer } from './support/server.ts';
import { channelWith, signUpUsers, workspaceWith, type TestUser } from './support/world.ts';

let server: TestServer;
let ann: TestUser;
let bob: TestUser;
let workspaceId: string;

beforeAll(async () => {
  server = await startServer();
  [ann, bob] = await signUpUsers(server, 'ann', 'bob');
  workspaceId = await workspaceWith(server, ann, [bob]);
});

const send = (token: string, channelId: string, text: string) =>
  ok(server, SendMessageDocument, { input: { channelId, text } }, token).then((r) => r.sendMessage);

/** The next inbox entry for a channel after those already seen. */
function nextFor(sub: LiveSubscription<InboxSubscription>, channelId: string, seen: number) {
  return sub
    .waitFor((e) => e.inbox.channel.id === channelId && sub.events.indexOf(e) >= seen, `an inbox entry for ${channelId}`)
    .then((e) => ({ ...e.inbox, index: sub.events.indexOf(e) }));
}

describe(`inbox: one live stream for the sidebar (${backendName})`, () => {
  it('starts with every channel’s counts, then follows unread and mention counts, new DMs and leaving', async () => {
    const general = await channelWith(server, workspaceId, ann, [bob], { name: 'inbox-general' });
    await send(ann.token, general, 'one unread before subscribing');
    const inbox = subscribe(connect(server, bob.token), InboxDocument, {});
    const initial = await inbox.waitFor((e) => e.inbox.channel.id === general, 'the initial entry');
    expect(initial.inbox).toMatchObject({ type: 'INITIAL', unreadCount: 1, mentionCount: 0 });
    let seen = inbox.events.length;

    await send(ann.token, general, 'another');
    let entry = await nextFor(inbox, general, seen);
    expect(entry).toMatchObject({ type: 'UNREAD_CHANGED', unreadCount: 2, mentionCount: 0 });
    seen = entry.index + 1;

    const mention = await send(ann.token, general, `hey @${bob.handle}, look`);
    entry = await nextFor(inbox, general, seen);
    expect(entry).toMatchObject({ type: 'UNREAD_CHANGED', unreadCount: 3, mentionCount: 1 });
    seen = entry.index + 1;
    const { channel } = await ok(server, MyMembershipDocument, { id: general }, bob.token);
    expect(channel!.myMembership).toEqual({ unreadCount: 3, mentionCount: 1 });

    await ok(server, MarkReadDocument, { channelId: general, messageId: mention.id }, bob.token);
    entry = await nextFor(inbox, general, seen);
    expect(entry).toMatchObject({ type: 'UNREAD_CHANGED', unreadCount: 0, mentionCount: 0 });
    seen = entry.index + 1;

    // Bob's own message changes nothing for him.
    await send(bob.token, general, 'my own');
    const { openDirectMessage } = await ok(server, OpenDirectMessageDocument, { input: { workspaceId, userIds: [bob.id] } }, ann.token);
    entry = await nextFor(inbox, openDirectMessage.id, seen);
    expect(entry).toMatchObject({ type: 'CHANNEL_ADDED', unreadCount: 0, channel: { kind: 'DIRECT' } });
    seen = entry.index + 1;
    await send(ann.token, openDirectMessage.id, 'psst');
    entry = await nextFor(inbox, openDirectMessage.id, seen);
    expect(entry).toMatchObject({ type: 'UNREAD_CHANGED', unreadCount: 1 });
    seen = entry.index + 1;

    await ok(server, LeaveChannelDocument, { channelId: general }, bob.token);
    entry = await nextFor(inbox, general, seen);
    expect(entry).toMatchObject({ type: 'CHANNEL_REMOVED' });
    // Nothing about the channel after leaving it.
    await send(ann.token, general, 'after bob left');
    await send(ann.token, openDirectMessage.id, 'still here');
    await nextFor(inbox, openDirectMessage.id, entry.index + 1);
    expect(inbox.events.slice(entry.index + 1).some((e) => e.inbox.channel.id === general)).toBe(false);
    // The own message in general produced no entry of its own.
    expect(inbox.events.filter((e) => e.inbox.channel.id === general).map((e) => e.inbox.type)).toEqual([
      'INITIAL',
      'UNREAD_CHANGED',
      'UNREAD_CHANGED',
      'UNREAD_CHANGED',
      'CHANNEL_REMOVED',
    ]);
  });

  it('refuses the inbox without a token', async () => {
    const sub = subscribe(connect(server), InboxDocument, {});
    expect(JSON.stringify(await sub.waitForError())).toContain('UNAUTHENTICATED');
  });
});
