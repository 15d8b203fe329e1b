import crypto from 'node:crypto';
import * as ece from 'http_ece';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeId } from '../src/schema/ids.ts';
import { markNotificationsRead, notify, type NotificationDraft } from '../src/services/notifications.ts';
import { webhookSignature } from '../src/services/webhooks.ts';
import { connectAcknowledged } from './support/client.ts';
import { expectRefusal, post } from './support/raw.ts';
import { startEndpoint, startMailbox } from './support/receivers.ts';
import { backendName, startServer, until, type TestServer } from './support/server.ts';
import { channelWith, sendText, signUpUsers, workspaceWith, type TestUser } from './support/world.ts';

// The push endpoint below is HTTPS with a self-signed certificate.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

const DELAY_MS = 800;
const raw = (id: string) => decodeId(id).id;

let server: TestServer;
let mailbox: Awaited<ReturnType<typeof startMailbox>>;
let ann: TestUser, bob: TestUser, cat: TestUser, dan: TestUser, outsider: TestUser;
let workspaceId: string;
let channelId: string;

beforeAll(async () => {
  mailbox = await startMailbox();
  server = await startServer({
    notifications: { ...(await import('./support/server.ts')).testConfig().notifications, delayMs: DELAY_MS, smtpUrl: mailbox.url, publicUrl: 'http://parley.test' },
  });
  [ann, bob, cat, dan, outsider] = await signUpUsers(server, 'ann', 'bob', 'cat', 'dan', 'outsider');
  workspaceId = await workspaceWith(server, ann, [bob, cat, dan]);
  channelId = await channelWith(server, workspaceId, ann, [bob, cat, dan], { name: 'general' });
}, 60_000);

/** ann mentions `who` in #general with `text`, through the service (as a send would). */
async function mention(who: TestUser, text: string, extra: Partial<NotificationDraft> = {}) {
  const message = await sendText(server, ann.token, channelId, text);
  const [recorded] = await notify(server.app.runtime, [
    {
      userId: raw(who.id),
      type: 'MENTION',
      groupKey: `mention:${raw(message.id)}`,
      workspaceId: raw(workspaceId),
      actorId: raw(ann.id),
      channelId: raw(channelId),
      messageId: raw(message.id),
      ...extra,
    },
  ]);
  return recorded!.notification;
}

const deliveries = (notificationId: string) =>
  server.app.runtime.prisma.notificationDelivery.findMany({ where: { notificationId }, orderBy: { channel: 'asc' } });

async function deliveryOf(notificationId: string, channel: 'EMAIL' | 'PUSH') {
  return (await deliveries(notificationId)).find((d) => d.channel === channel);
}

describe(`notification email (${backendName})`, () => {
  it('emails an away person after the delay, with text, HTML and a working unsubscribe link', async () => {
    const notification = await mention(bob, 'hey @bob, the deploy is at 5 <b>sharp</b>');
    expect((await deliveryOf(notification.id, 'EMAIL'))?.status).toBe('PENDING');
    const mail = await mailbox.to(bob.email);
    expect(mail.subject).toMatch(/ann \(@ann-[0-9a-f]+\) mentioned you in #general/);
    expect(mail.text).toContain('the deploy is at 5 <b>sharp</b>');
    expect(mail.text).toMatch(/mentioned you in #general \(Workspace ws-/);
    expect(mail.html).toContain('the deploy is at 5 &lt;b&gt;sharp&lt;/b&gt;');
    const link = /http:\/\/parley\.test(\/notifications\/unsubscribe\?token=[\w.-]+)/.exec(mail.text!)![1]!;
    expect(mail.html).toContain(link);
    await until(async () => (await deliveryOf(notification.id, 'EMAIL'))?.status === 'SENT', 'the email delivery to be SENT');
    expect((await deliveryOf(notification.id, 'EMAIL'))?.attempts).toBe(1);

    const page = await fetch(new URL(link, server.url));
    expect(page.status).toBe(200);
    const preference = await server.app.runtime.prisma.notificationPreference.findUnique({
      where: { userId_type: { userId: raw(bob.id), type: 'MENTION' } },
    });
    expect(preference).toMatchObject({ email: false, inApp: true, push: true });
    // With email off for mentions, a new mention waits for no email.
    const next = await mention(bob, 'another one @bob');
    expect(await deliveryOf(next.id, 'EMAIL')).toBeUndefined();
    expect((await fetch(new URL('/notifications/unsubscribe?token=forged.token', server.url))).status).toBe(400);
  });

  it('sends nothing to someone online, and cancels what is read within the delay', async () => {
    const socket = await connectAcknowledged(server, cat.token);
    const online = await mention(cat, 'cat is here');
    expect((await deliveries(online.id)).map((d) => d.channel)).toEqual(['IN_APP']);
    socket.dispose();

    const read = await mention(dan, 'dan reads this in time');
    expect((await deliveryOf(read.id, 'EMAIL'))?.status).toBe('PENDING');
    await markNotificationsRead(server.app.runtime, raw(dan.id), { ids: [read.id] });
    expect((await deliveryOf(read.id, 'EMAIL'))?.status).toBe('CANCELLED');
    // A later notification of dan's goes out; the read one never did.
    await mention(dan, 'dan, this one is unread');
    const mail = await mailbox.to(dan.email);
    expect(mail.text).toContain('this one is unread');
    expect(mail.text).not.toContain('reads this in time');
    expect(mailbox.countTo(dan.email)).toBe(1);
    expect(mailbox.countTo(cat.email)).toBe(0);
  });

  it('collapses a burst into one notification and one email', async () => {
    const [eve] = await signUpUsers(server, 'eve');
    const shared = await workspaceWith(server, ann, [eve!]);
    const dm = await channelWith(server, shared, ann, [eve!], { private: true });
    const drafts = (messageId: string): NotificationDraft => ({
      userId: raw(eve!.id),
      type: 'DIRECT_MESSAGE',
      groupKey: `dm:${raw(dm)}:${raw(ann.id)}`,
      workspaceId: raw(shared),
      actorId: raw(ann.id),
      channelId: raw(dm),
      messageId,
    });
    for (const text of ['one', 'two', 'three']) {
      const message = await sendText(server, ann.token, dm, `burst ${text}`);
      await notify(server.app.runtime, [drafts(raw(message.id))]);
    }
    const mail = await mailbox.to(eve!.email);
    expect(mail.text).toContain('burst three');
    expect(mail.subject).toContain('(3 times)');
    // A barrier: a later email to someone else has gone out, and still only one reached eve.
    const [fay] = await signUpUsers(server, 'fay');
    await ok(server, fay!, shared);
    expect(mailbox.countTo(eve!.email)).toBe(1);
  });
});

async function ok(target: TestServer, user: TestUser, inWorkspace: string) {
  const { CreateWorkspaceInviteDocument, JoinWorkspaceDocument } = await import('../client/generated/graphql.ts');
  const { ok: run } = await import('./support/client.ts');
  const { createWorkspaceInvite } = await run(target, CreateWorkspaceInviteDocument, { workspaceId: inWorkspace }, ann.token);
  await run(target, JoinWorkspaceDocument, { code: createWorkspaceInvite.code }, user.token);
  const message = await sendText(target, ann.token, await channelWith(target, inWorkspace, ann, [user]), 'barrier');
  await notify(target.app.runtime, [
    { userId: raw(user.id), type: 'MENTION', groupKey: `mention:${raw(message.id)}`, workspaceId: raw(inWorkspace), actorId: raw(ann.id), messageId: raw(message.id) },
  ]);
  await mailbox.to(user.email);
}

/** A browser's push subscription: its P-256 key pair and auth secret. */
function browserSubscription(endpoint: string) {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = crypto.randomBytes(16).toString('base64url');
  return { ecdh, auth, input: { endpoint, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth } } };
}

const REGISTER = `mutation ($input: PushSubscriptionInput!) { registerPushSubscription(input: $input) { id endpoint } }`;

describe(`Web Push (${backendName})`, () => {
  it('pushes an encrypted, VAPID-signed payload to every subscription, and forgets gone ones', async () => {
    const push = await startEndpoint({ tls: true, status: (path) => (path === '/gone' ? 410 : 201) });
    const [gil] = await signUpUsers(server, 'gil');
    await ok(server, gil!, workspaceId);
    const { vapidPublicKey } = (await post(server, '{ vapidPublicKey }')).body.data as { vapidPublicKey: string };
    expect(vapidPublicKey).toMatch(/^[A-Za-z0-9_-]{80,}$/);

    const browser = browserSubscription(`${push.base}/gil`);
    const first = await post(server, REGISTER, { input: browser.input }, { token: gil!.token });
    const again = await post(server, REGISTER, { input: browser.input }, { token: gil!.token });
    const id = (first.body.data as { registerPushSubscription: { id: string } }).registerPushSubscription.id;
    expect((again.body.data as { registerPushSubscription: { id: string } }).registerPushSubscription.id).toBe(id);
    expectRefusal(await post(server, REGISTER, { input: { ...browser.input, endpoint: 'http://insecure.test/x' } }, { token: gil!.token }), 'BAD_USER_INPUT');
    const gone = browserSubscription(`${push.base}/gone`);
    await post(server, REGISTER, { input: gone.input }, { token: gil!.token });
    expectRefusal(await post(server, 'mutation ($id: ID!) { unregisterPushSubscription(id: $id) }', { id }, { token: bob.token }), 'NOT_FOUND');

    const notification = await mention(gil!, 'push me @gil');
    // gil's "barrier" mention from joining may be pushed too, before or after: find this one's.
    const decrypt = (body: Buffer) => JSON.parse(ece.decrypt(body, { version: 'aes128gcm', privateKey: browser.ecdh, authSecret: browser.auth }).toString());
    const request = await push.matching((r) => r.path === '/gil' && decrypt(r.body).notificationId === notification.id, 'the push of the mention');
    expect(request.headers['content-encoding']).toBe('aes128gcm');
    const authorization = /^vapid t=([\w-]+\.[\w-]+\.[\w-]+), k=([\w-]+)$/.exec(String(request.headers.authorization));
    expect(authorization?.[2]).toBe(vapidPublicKey);
    const claims = JSON.parse(Buffer.from(authorization![1]!.split('.')[1]!, 'base64url').toString());
    expect(claims.aud).toBe(push.base);
    const payload = decrypt(request.body);
    expect(payload).toMatchObject({ notificationId: notification.id, type: 'MENTION', body: 'push me @gil' });
    expect(payload.title).toContain('mentioned you in #general');

    await push.at('/gone');
    await until(async () => (await deliveryOf(notification.id, 'PUSH'))?.status === 'SENT', 'the push delivery to be SENT');
    const left = await server.app.runtime.prisma.pushSubscription.findMany({ where: { userId: raw(gil!.id) } });
    expect(left.map((s) => s.endpoint)).toEqual([`${push.base}/gil`]);
    expect(await post(server, 'mutation ($id: ID!) { unregisterPushSubscription(id: $id) }', { id }, { token: gil!.token })).toMatchObject({
      body: { data: { unregisterPushSubscription: true } },
    });
  });
});

const CREATE_WEBHOOK = `mutation ($input: CreateWebhookInput!) { createWebhook(input: $input) { secret webhook { id url events createdAt } } }`;

describe(`webhooks (${backendName})`, () => {
  it('POSTs signed events of public channels and notifications, for admins only', async () => {
    const receiver = await startEndpoint();
    const input = { workspaceId, url: `${receiver.base}/hook`, events: ['MESSAGE_ADDED', 'MENTION'] };
    expectRefusal(await post(server, CREATE_WEBHOOK, { input }, { token: bob.token }), 'FORBIDDEN');
    expectRefusal(await post(server, CREATE_WEBHOOK, { input }, { token: outsider.token }), 'NOT_FOUND');
    expectRefusal(await post(server, CREATE_WEBHOOK, { input: { ...input, events: ['NOPE'] } }, { token: ann.token }), 'BAD_USER_INPUT');
    expectRefusal(await post(server, CREATE_WEBHOOK, { input: { ...input, url: 'ftp://x' } }, { token: ann.token }), 'BAD_USER_INPUT');
    const created = await post(server, CREATE_WEBHOOK, { input }, { token: ann.token });
    const { secret, webhook } = (created.body.data as { createWebhook: { secret: string; webhook: { id: string; events: string[] } } }).createWebhook;
    expect(webhook.events).toEqual(['MESSAGE_ADDED', 'MENTION']);
    const list = await post(server, 'query ($id: ID!) { workspace(id: $id) { webhooks { id } } }', { id: workspaceId }, { token: ann.token });
    expect(list.body.data).toEqual({ workspace: { webhooks: [{ id: webhook.id }] } });
    const asMember = await post(server, 'query ($id: ID!) { workspace(id: $id) { webhooks { id } } }', { id: workspaceId }, { token: bob.token });
    expect(asMember.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    const secretChannel = await channelWith(server, workspaceId, ann, [bob], { private: true });
    await sendText(server, ann.token, secretChannel, 'not for webhooks');
    const sent = await sendText(server, bob.token, channelId, 'hello hooks');
    const request = await receiver.at('/hook');
    const body = request.body.toString();
    const timestamp = Number(request.headers['x-parley-timestamp']);
    expect(Math.abs(timestamp - Date.now() / 1000)).toBeLessThan(60);
    expect(request.headers['x-parley-signature']).toBe(webhookSignature(secret, timestamp, body));
    const event = JSON.parse(body);
    expect(event).toMatchObject({ type: 'MESSAGE_ADDED', workspaceId: raw(workspaceId), data: { channel: { id: raw(channelId), name: 'general' } } });
    expect(event.data.message).toMatchObject({ id: raw(sent.id), text: 'hello hooks', authorId: raw(bob.id) });

    const notification = await mention(cat, 'hooked mention');
    const hooked = await arrivalOf(receiver, (e) => e.type === 'MENTION');
    expect(hooked).toMatchObject({ id: `notification:${notification.id}`, data: { notificationId: notification.id, recipientId: raw(cat.id) } });
    // Every delivery so far: the public channel's messages and the mention, never the private channel's.
    const texts = receiver.requests.items.map((r) => JSON.parse(r.body.toString())).map((e) => e.data.message?.text);
    expect(texts).not.toContain('not for webhooks');
    expect(new Set(receiver.requests.items.map((r) => JSON.parse(r.body.toString()).id)).size).toBe(receiver.requests.items.length);

    expectRefusal(await post(server, 'mutation ($id: ID!) { deleteWebhook(id: $id) }', { id: webhook.id }, { token: bob.token }), 'FORBIDDEN');
    expect((await post(server, 'mutation ($id: ID!) { deleteWebhook(id: $id) }', { id: webhook.id }, { token: ann.token })).body.data).toEqual({ deleteWebhook: true });
  });
});

async function arrivalOf(receiver: Awaited<ReturnType<typeof startEndpoint>>, match: (event: { type: string }) => boolean) {
  const { arrival } = await import('./support/receivers.ts');
  const request = await arrival(receiver.requests, (r) => match(JSON.parse(r.body.toString())), 'a matching webhook event');
  return JSON.parse(request.body.toString());
}
