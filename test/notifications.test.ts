import { beforeAll, describe, expect, it } from 'vitest';
import {
  ChannelDocument,
  DeleteMessageDocument,
  EditMessageDocument,
  InboxDocument,
  MarkNotificationsReadDocument,
  MarkReadDocument,
  MyMembershipDocument,
  NotificationAddedDocument,
  NotificationNodeDocument,
  NotificationPreferencesDocument,
  NotificationsDocument,
  OpenDirectMessageDocument,
  UpdateMembershipDocument,
  UpdateNotificationPreferencesDocument,
} from '../client/generated/graphql.ts';
import { connect, ok, refused, subscribe } from './support/client.ts';
import { topics } from '../src/pubsub.ts';
import { decodeId } from '../src/schema/ids.ts';
import { backendName, until, waitForTopic, type TestServer } from './support/server.ts';
import { channelWith, sendText, signUpUsers, startTeam, workspaceWith, type TestUser } from './support/world.ts';

let server: TestServer;
let ann: TestUser;
let bob: TestUser;
let cat: TestUser;
let outsider: TestUser;
let workspaceId: string;

beforeAll(async () => {
  ({ server, ann, bob, cat, outsider, workspaceId } = await startTeam());
});

/** The background work of earlier requests (notification planning) has finished. */
const settled = () => server.app.runtime.background.drained();

const notificationsOf = async (user: TestUser, unreadOnly = false) => {
  await settled();
  const data = await ok(server, NotificationsDocument, { first: 100, unreadOnly }, user.token);
  return { list: data.notifications.edges.map((e) => e.node), unread: data.unreadNotificationCount };
};

/** A fresh set of people in a fresh workspace, so counts start at zero. */
async function freshTeam(...names: string[]) {
  const users = await signUpUsers(server, ...names);
  const workspace = await workspaceWith(server, users[0]!, users.slice(1));
  return { users, workspace };
}

async function dm(workspace: string, from: TestUser, to: TestUser[]) {
  const { openDirectMessage } = await ok(server, OpenDirectMessageDocument, { input: { workspaceId: workspace, userIds: to.map((u) => u.id) } }, from.token);
  return openDirectMessage.id;
}

describe(`notifications from messages (${backendName})`, () => {
  it('tells the other side of a DM, live and in history, never the sender; a burst collapses into one with a count', async () => {
    const { users, workspace } = await freshTeam('dma', 'dmb');
    const [a, b] = users as [TestUser, TestUser];
    const channelId = await dm(workspace, a, [b]);
    const live = subscribe(connect(server, b.token), NotificationAddedDocument, {});
    await waitForTopic(server, topics.user(decodeId(b.id).id));
    const first = await sendText(server, a.token, channelId, 'hello there');
    const added = await live.waitFor((e) => e.notificationAdded.message?.id === first.id, 'notificationAdded for the DM', 10_000);
    expect(added.notificationAdded).toMatchObject({ type: 'DIRECT_MESSAGE', read: false, count: 1, actor: { id: a.id }, channel: { id: channelId } });

    for (let i = 2; i <= 5; i++) await sendText(server, a.token, channelId, `message ${i}`);
    const { list, unread } = await notificationsOf(b);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ type: 'DIRECT_MESSAGE', count: 5, message: { text: 'message 5' } });
    expect(list[0]!.deliveries).toContainEqual({ channel: 'IN_APP', status: 'SENT', attempts: 1 });
    expect(unread).toBe(1);
    expect((await notificationsOf(a)).list).toHaveLength(0);
  });

  it('notifies @-mentioned members only in a channel, once per message, and a thread reply to its followers', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob, cat], { name: 'notify-mentions' });
    const before = (await notificationsOf(cat)).list.length;
    const root = await sendText(server, ann.token, channelId, `hi @${bob.handle} and @${bob.handle} again`);
    const bobs = (await notificationsOf(bob)).list.filter((n) => n.message?.id === root.id);
    expect(bobs.map((n) => n.type)).toEqual(['MENTION']);
    expect((await notificationsOf(cat)).list).toHaveLength(before);

    // cat replies in ann's thread: ann (the root's author) is told; cat is not.
    const reply = await sendText(server, cat.token, channelId, 'a reply', { threadRootId: root.id });
    const anns = (await notificationsOf(ann)).list.filter((n) => n.message?.id === reply.id);
    expect(anns.map((n) => n.type)).toEqual(['THREAD_REPLY']);
    expect((await notificationsOf(cat)).list.filter((n) => n.message?.id === reply.id)).toHaveLength(0);
  });

  it('honours mute and the notify level, and @channel / @here', async () => {
    const { users, workspace } = await freshTeam('lva', 'lvb', 'lvc', 'lvd');
    const [a, b, c, d] = users as [TestUser, TestUser, TestUser, TestUser];
    const group = await dm(workspace, a, [b, c, d]);
    await ok(server, UpdateMembershipDocument, { input: { channelId: group, muted: true } }, b.token);
    await ok(server, UpdateMembershipDocument, { input: { channelId: group, notify: 'MENTIONS' } }, c.token);
    await ok(server, UpdateMembershipDocument, { input: { channelId: group, notify: 'NONE' } }, d.token);
    await sendText(server, a.token, group, 'plain message');
    await sendText(server, a.token, group, `for @${c.handle} and @${d.handle} and @${b.handle}`);
    expect((await notificationsOf(b)).list).toHaveLength(0); // muted
    expect((await notificationsOf(c)).list.map((n) => n.type)).toEqual(['MENTION']); // mentions only
    expect((await notificationsOf(d)).list).toHaveLength(0); // none

    const channelId = await channelWith(server, workspace, a, [b, c, d], { name: 'broadcasts' });
    // Only c has an open socket: @here reaches c alone; @channel reaches every member.
    const socket = connect(server, c.token);
    const seen = subscribe(socket, NotificationAddedDocument, {});
    await until(async () => (await server.app.runtime.presence.isOnline([decodeId(c.id).id]))[0] === true, 'c online', 10_000);
    await waitForTopic(server, topics.user(decodeId(c.id).id));
    const here = await sendText(server, a.token, channelId, 'ping @here');
    await seen.waitFor((e) => e.notificationAdded.message?.id === here.id, 'the @here notification', 10_000);
    for (const user of [b, d]) expect((await notificationsOf(user)).list.filter((n) => n.message?.id === here.id)).toHaveLength(0);
    const everyone = await sendText(server, a.token, channelId, 'ping @channel');
    for (const user of [b, c, d]) {
      expect((await notificationsOf(user)).list.filter((n) => n.message?.id === everyone.id).map((n) => n.type)).toEqual(['MENTION']);
    }
    socket.dispose();
  });

  it('counts a mention an edit adds once, and withdraws a deleted message’s mention, notification and unread count', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob], { name: 'notify-edits' });
    const message = await sendText(server, ann.token, channelId, 'no mention yet');
    const mentionsOf = async () => {
      await settled();
      return (await notificationsOf(bob)).list.filter((n) => n.message?.id === message.id);
    };
    expect(await mentionsOf()).toHaveLength(0);
    await ok(server, EditMessageDocument, { input: { messageId: message.id, text: `now @${bob.handle}` } }, ann.token);
    await ok(server, EditMessageDocument, { input: { messageId: message.id, text: `still @${bob.handle}!` } }, ann.token);
    expect((await mentionsOf()).map((n) => n.type)).toEqual(['MENTION']);
    let { channel } = await ok(server, MyMembershipDocument, { id: channelId }, bob.token);
    expect(channel!.myMembership).toEqual({ unreadCount: 1, mentionCount: 1 });

    await ok(server, DeleteMessageDocument, { messageId: message.id }, ann.token);
    expect(await mentionsOf()).toHaveLength(0);
    ({ channel } = await ok(server, MyMembershipDocument, { id: channelId }, bob.token));
    expect(channel!.myMembership).toEqual({ unreadCount: 0, mentionCount: 0 });
    const { channel: asChannel } = await ok(server, ChannelDocument, { id: channelId }, bob.token);
    expect(asChannel!.unreadCount).toBe(0);
  });

  it('reading the channel reads its notifications; markNotificationsRead counts only the caller’s own', async () => {
    const { users, workspace } = await freshTeam('rda', 'rdb');
    const [a, b] = users as [TestUser, TestUser];
    const channelId = await dm(workspace, a, [b]);
    const last = await sendText(server, a.token, channelId, 'read me');
    expect((await notificationsOf(b)).unread).toBe(1);
    await ok(server, MarkReadDocument, { channelId, messageId: last.id }, b.token);
    expect((await notificationsOf(b)).unread).toBe(0);

    const other = await dm(workspace, b, [a]);
    expect(other).toBe(channelId);
    await sendText(server, a.token, channelId, 'again');
    await sendText(server, b.token, channelId, `hey @${a.handle}`);
    const [mine] = (await notificationsOf(b, true)).list;
    const [theirs] = (await notificationsOf(a, true)).list;
    // Someone else's id changes nothing; the caller's own changes one; all reads the rest (none left).
    expect((await ok(server, MarkNotificationsReadDocument, { ids: [theirs!.id] }, b.token)).markNotificationsRead).toBe(0);
    expect((await ok(server, MarkNotificationsReadDocument, { ids: [mine!.id] }, b.token)).markNotificationsRead).toBe(1);
    expect((await ok(server, MarkNotificationsReadDocument, { ids: [mine!.id] }, b.token)).markNotificationsRead).toBe(0);
    expect((await ok(server, MarkNotificationsReadDocument, { all: true }, a.token)).markNotificationsRead).toBe(1);
    expect((await notificationsOf(a)).unread).toBe(0);
    await refused(server, 'BAD_USER_INPUT', MarkNotificationsReadDocument, {}, a.token);
    await refused(server, 'BAD_USER_INPUT', MarkNotificationsReadDocument, { ids: [mine!.id], all: true }, b.token);
    await refused(server, 'UNAUTHENTICATED', MarkNotificationsReadDocument, { all: true });
    // node(id) shows a notification to its recipient only.
    expect((await ok(server, NotificationNodeDocument, { id: mine!.id }, b.token)).node).toMatchObject({ id: mine!.id });
    for (const user of [a, outsider]) await refused(server, 'NOT_FOUND', NotificationNodeDocument, { id: mine!.id }, user.token);
  });

  it('follows preferences: defaults, turning in-app off for a type, and refusing a type listed twice', async () => {
    const { users, workspace } = await freshTeam('pra', 'prb');
    const [a, b] = users as [TestUser, TestUser];
    const { notificationPreferences } = await ok(server, NotificationPreferencesDocument, {}, b.token);
    expect(notificationPreferences.find((p) => p.type === 'DIRECT_MESSAGE')).toEqual({ type: 'DIRECT_MESSAGE', inApp: true, email: true, push: true });
    expect(notificationPreferences.find((p) => p.type === 'NEW_FOLLOWER')).toEqual({ type: 'NEW_FOLLOWER', inApp: true, email: false, push: false });
    const updated = await ok(server, UpdateNotificationPreferencesDocument, { input: [{ type: 'DIRECT_MESSAGE', inApp: false, email: false, push: false }] }, b.token);
    expect(updated.updateNotificationPreferences.find((p) => p.type === 'DIRECT_MESSAGE')).toEqual({ type: 'DIRECT_MESSAGE', inApp: false, email: false, push: false });
    await refused(server, 'BAD_USER_INPUT', UpdateNotificationPreferencesDocument, { input: [{ type: 'MENTION', inApp: false }, { type: 'MENTION', email: false }] }, b.token);
    expect((await ok(server, NotificationPreferencesDocument, {}, b.token)).notificationPreferences.find((p) => p.type === 'MENTION')!.inApp).toBe(true);
    const channelId = await dm(workspace, a, [b]);
    await sendText(server, a.token, channelId, 'you will not hear of this');
    expect((await notificationsOf(b)).list).toHaveLength(0);
  });

  it('leaves deleted messages out of the inbox’s unread and mention counts', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob], { name: 'inbox-deletes' });
    const inbox = subscribe(connect(server, bob.token), InboxDocument, {});
    await inbox.waitFor((e) => e.inbox.channel?.id === channelId && e.inbox.type === 'INITIAL', 'the initial entry', 10_000);
    await sendText(server, ann.token, channelId, 'stays');
    const doomed = await sendText(server, ann.token, channelId, `goes, @${bob.handle}`);
    await inbox.waitFor((e) => e.inbox.channel?.id === channelId && e.inbox.unreadCount === 2 && e.inbox.mentionCount === 1, 'two unread, one mention', 10_000);
    await ok(server, DeleteMessageDocument, { messageId: doomed.id }, ann.token);
    await inbox.waitFor((e) => e.inbox.channel?.id === channelId && e.inbox.unreadCount === 1 && e.inbox.mentionCount === 0, 'one unread, no mention', 10_000);
    // A new subscription starts from the same counts.
    const fresh = subscribe(connect(server, bob.token), InboxDocument, {});
    const initial = await fresh.waitFor((e) => e.inbox.channel?.id === channelId, 'the initial entry', 10_000);
    expect(initial.inbox).toMatchObject({ type: 'INITIAL', unreadCount: 1, mentionCount: 0 });
  });

  it('keeps the inbox’s notification badge current', async () => {
    const { users, workspace } = await freshTeam('iba', 'ibb');
    const [a, b] = users as [TestUser, TestUser];
    const inbox = subscribe(connect(server, b.token), InboxDocument, {});
    const start = await inbox.waitFor((e) => e.inbox.type === 'NOTIFICATIONS_CHANGED', 'the starting badge', 10_000);
    expect(start.inbox).toMatchObject({ unreadNotificationCount: 0, channel: null });
    const channelId = await dm(workspace, a, [b]);
    const message = await sendText(server, a.token, channelId, 'badge');
    await inbox.waitFor((e) => e.inbox.type === 'NOTIFICATIONS_CHANGED' && e.inbox.unreadNotificationCount === 1, 'the badge at 1', 10_000);
    await ok(server, MarkReadDocument, { channelId, messageId: message.id }, b.token);
    await inbox.waitFor(
      (e) => e.inbox.type === 'NOTIFICATIONS_CHANGED' && e.inbox.unreadNotificationCount === 0 && inbox.events.indexOf(e) > inbox.events.indexOf(start),
      'the badge back at 0',
      10_000,
    );
  });
});
