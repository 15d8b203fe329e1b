import { encodeBase64 } from '@pothos/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ChannelEventsDocument, ChannelMessagesDocument, MessageRepliesDocument, NotificationsDocument, WorkspaceDocument } from '../client/generated/graphql.ts';
import { connect, ok, refused, subscribe } from './support/client.ts';
import { backendName, startServer, type TestServer } from './support/server.ts';
import { channelWith, sendText, signUpUser, workspaceWith, type TestUser } from './support/world.ts';

let server: TestServer;
let ann: TestUser;
let workspaceId: string;
let channelId: string;
let otherChannelId: string;
let messageCursor: string;
let otherCursor: string;
let rootId: string;
beforeAll(async () => {
  server = await startServer();
  ann = await signUpUser(server, 'ann');
  workspaceId = await workspaceWith(server, ann);
  channelId = await channelWith(server, workspaceId, ann);
  otherChannelId = await channelWith(server, workspaceId, ann);
  rootId = (await sendText(server, ann.token, channelId, 'one')).id;
  await sendText(server, ann.token, channelId, 'two');
  await sendText(server, ann.token, otherChannelId, 'elsewhere');
  const page = await ok(server, ChannelMessagesDocument, { id: channelId, first: 10 }, ann.token);
  messageCursor = page.channel!.messages.edges[0]!.cursor;
  const other = await ok(server, ChannelMessagesDocument, { id: otherChannelId, first: 10 }, ann.token);
  otherCursor = other.channel!.messages.edges[0]!.cursor;
});

const uuid = '0197a1b2-0000-7000-8000-000000000000';
/** Cursors that decode but are not Parley's, and plain garbage. */
const wrongCursors: [string, string][] = [
  ['not base64', '%%%'],
  ['base64 of nothing known', encodeBase64('hello')],
  ['a prefix with a broken chunk', encodeBase64('GPC:Q:zzz')],
  ['a bigint that does not parse', encodeBase64('GPC:I:12x')],
  ['JSON that does not parse', encodeBase64('GPC:O:{')],
  ['a tuple of the wrong types', encodeBase64(`GPC:T:${JSON.stringify(['N:1', 'S:x'])}`)],
  ['a string where the sequence goes', encodeBase64(`GPC:T:${JSON.stringify([`S:${uuid}`, 'S:seven'])}`)],
  ['a sequence out of range', encodeBase64(`GPC:T:${JSON.stringify([`S:${uuid}`, 'N:99999999999'])}`)],
  ['a negative sequence', encodeBase64(`GPC:T:${JSON.stringify([`S:${uuid}`, 'N:-1'])}`)],
  ['an object', encodeBase64(`GPC:O:${JSON.stringify({ channelId: uuid })}`)],
  ['an event cursor with extra parts', encodeBase64(`CE:${uuid}:1:2`)],
  ['a very long string', 'A'.repeat(100_000)],
];

describe(`cursors (${backendName})`, () => {
  it.each(wrongCursors)('refuses %s as a message cursor (BAD_USER_INPUT, quoted briefly)', async (_what, after) => {
    const error = await refused(server, 'BAD_USER_INPUT', ChannelMessagesDocument, { id: channelId, first: 5, after }, ann.token);
    expect(error.message).toMatch(/not a cursor/);
    expect(error.message.length).toBeLessThan(200);
    await refused(server, 'BAD_USER_INPUT', ChannelMessagesDocument, { id: channelId, last: 5, before: after }, ann.token);
    await refused(server, 'BAD_USER_INPUT', WorkspaceDocument, { id: workspaceId, first: 5, after }, ann.token);
    await refused(server, 'BAD_USER_INPUT', MessageRepliesDocument, { id: rootId, first: 5, after }, ann.token);
  });

  it('refuses a message cursor of another channel', async () => {
    const error = await refused(server, 'BAD_USER_INPUT', ChannelMessagesDocument, { id: channelId, first: 5, after: otherCursor }, ann.token);
    expect(error.message).toMatch(/another list/);
    await refused(server, 'BAD_USER_INPUT', MessageRepliesDocument, { id: rootId, first: 5, before: otherCursor }, ann.token);
  });

  it('refuses a message cursor on lists keyed by id (loaded with their parent), as the fuzz test once found', async () => {
    const error = await refused(server, 'BAD_USER_INPUT', WorkspaceDocument, { id: workspaceId, first: 5, after: messageCursor }, ann.token);
    expect(error.message).toMatch(/another list/);
    // Root lists too.
    await refused(server, 'BAD_USER_INPUT', NotificationsDocument, { first: 5, after: messageCursor }, ann.token);
  });

  it('refuses wrong cursors as channelEvents(after:) over WebSocket', async () => {
    for (const [, after] of [...wrongCursors, ['another channel', otherCursor] as [string, string]]) {
      const sub = subscribe(connect(server, ann.token), ChannelEventsDocument, { channelId, after });
      expect(JSON.stringify(await sub.waitForError())).toContain('BAD_USER_INPUT');
    }
  });

  it('still pages with its own cursors', async () => {
    const page = await ok(server, ChannelMessagesDocument, { id: channelId, first: 5, after: messageCursor }, ann.token);
    expect(page.channel!.messages.edges.map((e) => e.node.text)).toEqual(['two']);
  });
});
