import { beforeAll, describe, expect, it } from 'vitest';
import { LogInDocument, LogOutDocument, MessageAddedDocument} from '../client/generated/graphql.ts';
import { connect, ok, subscribe } from './support/client.ts';
import { backendName, waitForSubscribers, type TestServer } from './support/server.ts';
import { channelWith, sendText, startTeam, type TestUser } from './support/world.ts';

let server: TestServer;
let ann: TestUser;
let bob: TestUser;
let cat: TestUser;
let outsider: TestUser;
let workspaceId: string;

beforeAll(async () => {
  ({ server, ann, bob, cat, outsider, workspaceId } = await startTeam());
});

const send = (token: string, channelId: string, text: string, threadRootId?: string) =>
  sendText(server, token, channelId, text, { threadRootId });

describe(`messageAdded over graphql-ws (${backendName})`, () => {
  it('delivers new messages live, in order, to every subscriber of the channel', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const bobSub = subscribe(connect(server, bob.token), MessageAddedDocument, { channelId });
    const annSub = subscribe(connect(server, ann.token), MessageAddedDocument, { channelId });
    await waitForSubscribers(server, channelId, 2);
    const sent = [];
    for (const text of ['one', 'two', 'three']) sent.push(await send(ann.token, channelId, text));
    for (const sub of [bobSub, annSub]) {
      const events = await sub.waitForCount(3);
      expect(events.map((e) => e.messageAdded.id)).toEqual(sent.map((m) => m.id));
      expect(events[0]!.messageAdded).toMatchObject({ text: 'one', author: { id: ann.id }, channel: { id: channelId } });
    }
  });

  it('delivers the message of a client that subscribes on a new connection and posts at once', async () => {
    // The naive client: no waiting for the connection or the subscription; the post can beat both.
    for (let i = 0; i < 5; i++) {
      const channelId = await channelWith(server, workspaceId, ann, [bob]);
      const sub = subscribe(connect(server, bob.token), MessageAddedDocument, { channelId });
      const sent = await send(ann.token, channelId, `right away ${i}`);
      const event = await sub.waitFor((e) => e.messageAdded.id === sent.id, 'the message posted right after subscribing');
      expect(sub.events.indexOf(event)).toBe(0);
    }
  });

  it('streams thread replies too, marked with their root', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const root = await send(ann.token, channelId, 'root');
    const sub = subscribe(connect(server, bob.token), MessageAddedDocument, { channelId });
    await waitForSubscribers(server, channelId);
    await send(ann.token, channelId, 'in thread', root.id);
    const event = await sub.waitFor((e) => e.messageAdded.text === 'in thread', 'the reply');
    expect(event.messageAdded.threadRoot?.id).toBe(root.id);
  });

  it('lets workspace members follow a public channel without joining it', async () => {
    const channelId = await channelWith(server, workspaceId, ann);
    const sub = subscribe(connect(server, cat.token), MessageAddedDocument, { channelId });
    await waitForSubscribers(server, channelId);
    await send(ann.token, channelId, 'for everyone');
    await sub.waitFor((e) => e.messageAdded.text === 'for everyone', 'the public message');
  });

  it('does not mix channels: a subscriber sees only its own channel', async () => {
    const a = await channelWith(server, workspaceId, ann, [bob]);
    const b = await channelWith(server, workspaceId, ann, [bob]);
    const sub = subscribe(connect(server, bob.token), MessageAddedDocument, { channelId: a });
    await waitForSubscribers(server, a);
    await send(ann.token, b, 'elsewhere');
    await send(ann.token, a, 'here');
    await sub.waitFor((e) => e.messageAdded.text === 'here', 'the message of channel a');
    expect(sub.events.map((e) => e.messageAdded.text)).toEqual(['here']);
  });

  it('refuses subscribing to a private or foreign channel with NOT_FOUND', async () => {
    const secret = await channelWith(server, workspaceId, ann, [bob], { private: true });
    for (const user of [cat, outsider]) {
      const sub = subscribe(connect(server, user.token), MessageAddedDocument, { channelId: secret });
      const error = await sub.waitForError();
      expect(JSON.stringify(error)).toContain('NOT_FOUND');
    }
  });

  it('refuses a subscription without a token with UNAUTHENTICATED', async () => {
    const channelId = await channelWith(server, workspaceId, ann);
    const sub = subscribe(connect(server), MessageAddedDocument, { channelId });
    expect(JSON.stringify(await sub.waitForError())).toContain('UNAUTHENTICATED');
  });

  it('closes a connection that presents a bad token with 4401', async () => {
    const channelId = await channelWith(server, workspaceId, ann);
    let closeCode = 0;
    const sub = subscribe(connect(server, 'forged.token.value', { onClose: (code) => (closeCode = code) }), MessageAddedDocument, { channelId });
    await sub.waitForError();
    expect(closeCode).toBe(4401);
  });

  it('re-checks the session: after logOut the open subscription ends and new ones are refused', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const { logIn } = await ok(server, LogInDocument, { input: { email: bob.email, password: bob.password } });
    const client = connect(server, logIn.token);
    const first = subscribe(client, MessageAddedDocument, { channelId });
    await waitForSubscribers(server, channelId);
    await ok(server, LogOutDocument, {}, logIn.token);
    const second = subscribe(client, MessageAddedDocument, { channelId });
    expect(JSON.stringify(await second.waitForError())).toContain('UNAUTHENTICATED');
    expect(JSON.stringify(await first.waitForError())).toContain('UNAUTHENTICATED');
  });
});
