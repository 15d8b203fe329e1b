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
    .waitFor((e) => e.inbox.channel?.id === channelId && sub.events.indexOf(e) >= seen, `an inbox entry for ${channelId}`)
    .then((e) => ({ ...e.inbox, index: sub.events.indexOf(e) }));
}

describe(`inbox: one live stream for the sidebar (${backendName})`, () => {
  it('starts with every channel’s counts, then follows unread and mention counts, new DMs and leaving', async () => {
    const general = await channelWith(server, workspaceId, ann, [bob], { name: 'inbox-general' });
    await send(ann.token, general, 'one unread before subscribing');
    const inbox = subscribe(connect(server, bob.token), InboxDocument, {});
    const initial = await inbox.waitFor((e) => e.inbox.channel?.id === general, 'the initial entry');
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
    expect(inbox.events.slice(entry.index + 1).some((e) => e.inbox.channel?.id === general)).toBe(false);
    // The own message in general produced no entry of its own.
    expect(inbox.events.filter((e) => e.inbox.channel?.id === general).map((e) => e.inbox.type)).toEqual([
      'INITIAL',
      'UNREAD_CHANGED',
      'UNREAD_CHANGED',
      'UNREAD_CHANGED',
      'CHANNEL_REMOVED',
    ]);
  });

  it('follows threads: replies to your message, your replies and mentions; reading a reply clears the thread', async () => {
    const cat = (await signUpUsers(server, 'cat'))[0];
    const ws = await workspaceWith(server, ann, [bob, cat]);
    const channelId = await channelWith(server, ws, ann, [bob, cat]);
    const root = await ok(server, SendMessageDocument, { input: { channelId, text: 'bob’s question' } }, bob.token);
    const bobInbox = subscribe(connect(server, bob.token), InboxDocument, {});
    const catInbox = subscribe(connect(server, cat.token), InboxDocument, {});
    await bobInbox.waitFor((e) => e.inbox.channel?.id === channelId, 'bob’s initial entry');
    await catInbox.waitFor((e) => e.inbox.channel?.id === channelId, 'cat’s initial entry');
    const forThread = (sub: typeof bobInbox, from: number) =>
      sub
        .waitFor((e) => e.inbox.thread?.id === root.sendMessage.id && sub.events.indexOf(e) >= from, 'a thread entry')
        .then((e) => ({ ...e.inbox, index: sub.events.indexOf(e) }));

    const reply = (text: string) =>
      ok(server, SendMessageDocument, { input: { channelId, text, threadRootId: root.sendMessage.id } }, ann.token).then((r) => r.sendMessage);
    await reply('first answer');
    let entry = await forThread(bobInbox, 0);
    expect(entry).toMatchObject({ type: 'THREAD_FOLLOWED', unreadCount: 1, mentionCount: 0, channel: { id: channelId } });
    const second = await reply(`second answer, @${cat.handle} knows more`);
    entry = await forThread(bobInbox, entry.index + 1);
    expect(entry).toMatchObject({ type: 'UNREAD_CHANGED', unreadCount: 2 });
    const catEntry = await forThread(catInbox, 0);
    expect(catEntry).toMatchObject({ type: 'THREAD_FOLLOWED', unreadCount: 2, mentionCount: 1 });

    await ok(server, MarkReadDocument, { channelId, messageId: second.id }, bob.token);
    entry = await forThread(bobInbox, entry.index + 1);
    expect(entry).toMatchObject({ type: 'UNREAD_CHANGED', unreadCount: 0 });
    // Replies do not count as unread in the channel itself.
    const { channel } = await ok(server, MyMembershipDocument, { id: channelId }, bob.token);
    expect(channel!.myMembership!.unreadCount).toBe(0);

    // A new subscription starts with the followed threads that have something unread.
    const later = subscribe(connect(server, cat.token), InboxDocument, {});
    const initial = await later.waitFor((e) => e.inbox.thread?.id === root.sendMessage.id, 'cat’s initial thread entry');
    expect(initial.inbox).toMatchObject({ type: 'INITIAL', unreadCount: 2, mentionCount: 1 });
  });

  it('refuses the inbox without a token', async () => {
    const sub = subscribe(connect(server), InboxDocument, {});
    expect(JSON.stringify(await sub.waitForError())).toContain('UNAUTHENTICATED');
  });
});
