import crypto from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ChannelMessagesDocument,
  CommentOnPostDocument,
  CreatePostDocument,
  DeleteMessageDocument,
  DeletePostDocument,
  EditMessageDocument,
  LeaveChannelDocument,
  OpenDirectMessageDocument,
  SearchChannelsDocument,
  SearchDocument,
  SearchUsersDocument,
  SendMessageDocument,
  UploadFileDocument,
} from '../client/generated/graphql.ts';
import { print } from 'graphql';
import { decodeId } from '../src/schema/ids.ts';
import { ok, refused } from './support/client.ts';
import { backendName } from './support/server.ts';
import { channelWith, seedMessages, sendText, startTeam, type Team } from './support/world.ts';

let team: Team;
let general: string;
let secret: string;

/** A word no other test uses, so each test sees only its own rows. */
const tag = () => `z${crypto.randomBytes(5).toString('hex')}`;

const searchAs = async (token: string, query: string, extra: { first?: number; after?: string; workspaceId?: string } = {}) =>
  (await ok(team.server, SearchDocument, { workspaceId: extra.workspaceId ?? team.workspaceId, query, first: extra.first, after: extra.after }, token)).search;

const texts = (result: Awaited<ReturnType<typeof searchAs>>) => result.edges.map((e) => e.node.text);

beforeAll(async () => {
  team = await startTeam();
  const { ann, bob, cat } = team;
  general = await channelWith(team.server, team.workspaceId, ann, [bob, cat], { name: 'general' });
  secret = await channelWith(team.server, team.workspaceId, ann, [bob], { name: 'secret', private: true });
}, 60_000);

describe(`search: words, phrases and ranking (${backendName})`, () => {
  it('finds messages by stemmed words, case- and accent-insensitively, with highlighted snippets', async () => {
    const t = tag();
    await sendText(team.server, team.ann.token, general, `She runs to the Crème Brûlée stand ${t}`);
    const stemmed = await searchAs(team.bob.token, `running ${t}`);
    expect(texts(stemmed)).toEqual([`She runs to the Crème Brûlée stand ${t}`]);
    expect(stemmed.edges[0]!.snippet).toContain('<mark>runs</mark>');
    expect(stemmed.edges[0]!.node).toMatchObject({ __typename: 'Message', author: { handle: team.ann.handle }, channel: { name: 'general' } });
    expect(texts(await searchAs(team.bob.token, `creme brulee ${t.toUpperCase()}`))).toHaveLength(1);
    expect(texts(await searchAs(team.bob.token, `walking ${t}`))).toEqual([]);
  });

  it('matches "quoted phrases" in order only, and excludes -words', async () => {
    const t = tag();
    await sendText(team.server, team.ann.token, general, `quick brown fox ${t}`);
    await sendText(team.server, team.ann.token, general, `brown quick fox ${t}`);
    expect(texts(await searchAs(team.bob.token, `"quick brown" ${t}`))).toEqual([`quick brown fox ${t}`]);
    expect(texts(await searchAs(team.bob.token, `"brown quick" ${t}`))).toEqual([`brown quick fox ${t}`]);
    expect(texts(await searchAs(team.bob.token, `fox ${t}`)).sort()).toEqual([`brown quick fox ${t}`, `quick brown fox ${t}`]);
    expect(texts(await searchAs(team.bob.token, `fox ${t} -"quick brown"`))).toEqual([`brown quick fox ${t}`]);
  });

  it('ranks denser matches first', async () => {
    const t = tag();
    await sendText(team.server, team.ann.token, general, `${t} once, among many other words about nothing in particular at all`);
    await sendText(team.server, team.ann.token, general, `${t} ${t} ${t} three times`);
    await sendText(team.server, team.ann.token, general, `${t} ${t} twice`);
    expect(texts(await searchAs(team.bob.token, t))).toEqual([
      `${t} ${t} ${t} three times`,
      `${t} ${t} twice`,
      `${t} once, among many other words about nothing in particular at all`,
    ]);
  });

  it('escapes the snippet as HTML around the <mark> markers; a long text shows fragments around its matches', async () => {
    const t = tag();
    await sendText(team.server, team.ann.token, general, `${'filler '.repeat(100)}middle ${t} ${'padding '.repeat(100)}`);
    const [long] = (await searchAs(team.bob.token, t)).edges;
    expect(long!.snippet).toMatch(new RegExp(`^(filler )+middle <mark>${t}</mark>( padding)+$`));
    expect(long!.snippet.length).toBeLessThan(400);
    await ok(team.server, DeleteMessageDocument, { messageId: long!.node.id! }, team.ann.token);
    await sendText(team.server, team.ann.token, general, `<script>alert("x")</script> & ${t}`);
    const [edge] = (await searchAs(team.bob.token, t)).edges;
    expect(edge!.snippet).toContain(`<mark>${t}</mark>`);
    expect(edge!.snippet).toBe(`&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; <mark>${t}</mark>`);
  });

  it('pages by (rank, id) without duplicates or gaps', async () => {
    const t = tag();
    // 25 hits in 3 ranks, several equal: ties are broken by id.
    await seedMessages(team.server, team.ann, general, Array.from({ length: 25 }, (_, i) => `${Array(3 - (i % 3)).fill(t).join(' ')} number ${i}`));
    const all = await searchAs(team.bob.token, t, { first: 100 });
    expect(all.edges).toHaveLength(25);
    const seen: string[] = [];
    let after: string | undefined;
    for (let page = 0; page < 10; page++) {
      const result = await searchAs(team.bob.token, t, { first: 7, after });
      seen.push(...result.edges.map((e) => e.node.text));
      expect(result.pageInfo.hasPreviousPage).toBe(after !== undefined);
      if (!result.pageInfo.hasNextPage) break;
      after = result.pageInfo.endCursor!;
    }
    expect(seen).toEqual(texts(all));
    expect(new Set(seen).size).toBe(25);
    expect(seen.slice(0, 8).every((text) => text.startsWith(`${t} ${t} ${t}`))).toBe(true);
  });

  it('loads a page of hits with their authors and channels in a number of statements that does not grow with the page', async () => {
    const t = tag();
    await seedMessages(team.server, team.bob, general, Array.from({ length: 40 }, (_, i) => `counted ${i} ${t}`));
    const { createPost } = await ok(team.server, CreatePostDocument, { input: { workspaceId: team.workspaceId, text: `counted post ${t}` } }, team.cat.token);
    await ok(team.server, CommentOnPostDocument, { input: { postId: createPost.id, text: `counted comment ${t}` } }, team.ann.token);
    const rt = team.server.app.runtime;
    const statementsFor = async (first: number) => {
      await rt.background.drained();
      const statements: string[] = [];
      const stop = rt.db.onQuery((sql) => statements.push(sql));
      try {
        expect((await searchAs(team.ann.token, t, { first })).edges).toHaveLength(first);
      } finally {
        stop();
      }
      return statements;
    };
    const small = await statementsFor(3);
    const large = await statementsFor(42);
    // Both pages hold messages, a post and a comment: one statement per kind and relation, not per hit.
    expect(large.length, large.join('\n')).toBe(small.length);
    expect(large.length, large.join('\n')).toBeLessThanOrEqual(12);
  });

  it('finds thread replies, posts and comments, and leaves out deleted ones', async () => {
    const t = tag();
    const root = await sendText(team.server, team.ann.token, general, `root of a thread`);
    const reply = await sendText(team.server, team.bob.token, general, `a reply ${t}`, { threadRootId: root.id });
    const { createPost } = await ok(team.server, CreatePostDocument, { input: { workspaceId: team.workspaceId, text: `a post ${t}` } }, team.cat.token);
    await ok(team.server, CommentOnPostDocument, { input: { postId: createPost.id, text: `a comment ${t}` } }, team.ann.token);
    const result = await searchAs(team.ann.token, t);
    expect(result.edges.map((e) => e.node.__typename).sort()).toEqual(['Comment', 'Message', 'Post']);
    const hit = result.edges.find((e) => e.node.__typename === 'Message')!.node;
    expect(hit).toMatchObject({ id: reply.id, threadRoot: { id: root.id } });
    await ok(team.server, DeletePostDocument, { postId: createPost.id }, team.cat.token);
    // A deleted post takes its comments out of search with it.
    expect(texts(await searchAs(team.ann.token, t))).toEqual([`a reply ${t}`]);
  });
});

describe(`search: filters (${backendName})`, () => {
  it('from:@handle keeps one author’s hits; an unknown or outside handle finds nothing', async () => {
    const t = tag();
    await sendText(team.server, team.ann.token, general, `ann says ${t}`);
    await sendText(team.server, team.bob.token, general, `bob says ${t}`);
    expect(texts(await searchAs(team.cat.token, `from:@${team.bob.handle} ${t}`))).toEqual([`bob says ${t}`]);
    expect(texts(await searchAs(team.cat.token, `${t} from:${team.ann.handle.toUpperCase()}`))).toEqual([`ann says ${t}`]);
    expect(texts(await searchAs(team.cat.token, `from:@nobody-here ${t}`))).toEqual([]);
    expect(texts(await searchAs(team.cat.token, `from:@${team.outsider.handle} ${t}`))).toEqual([]);
    // A filter alone lists everything of that author, newest first.
    expect(texts(await searchAs(team.cat.token, `from:@${team.bob.handle}`, { first: 1 }))).toEqual([`bob says ${t}`]);
  });

  it('in:#channel keeps one channel; an unknown channel or one you are not in finds nothing', async () => {
    const t = tag();
    const other = await channelWith(team.server, team.workspaceId, team.ann, [team.bob, team.cat], { name: `other-${t}` });
    await sendText(team.server, team.ann.token, general, `in general ${t}`);
    await sendText(team.server, team.ann.token, other, `in other ${t}`);
    await sendText(team.server, team.ann.token, secret, `in secret ${t}`);
    expect(texts(await searchAs(team.bob.token, `in:#general ${t}`))).toEqual([`in general ${t}`]);
    expect(texts(await searchAs(team.bob.token, `in:other-${t} ${t}`))).toEqual([`in other ${t}`]);
    expect(texts(await searchAs(team.bob.token, `in:#secret ${t}`))).toEqual([`in secret ${t}`]);
    expect(texts(await searchAs(team.cat.token, `in:#secret ${t}`))).toEqual([]);
    expect(texts(await searchAs(team.bob.token, `in:#no-such-channel ${t}`))).toEqual([]);
  });

  it('before: and after: take UTC days, the day named excluded; a malformed date is BAD_USER_INPUT', async () => {
    const t = tag();
    const old = await sendText(team.server, team.ann.token, general, `old news ${t}`);
    const mid = await sendText(team.server, team.ann.token, general, `mid news ${t}`);
    await sendText(team.server, team.ann.token, general, `new news ${t}`);
    const prisma = team.server.app.runtime.prisma;
    await prisma.message.update({ where: { id: decodeId(old.id).id }, data: { createdAt: new Date('2026-01-10T23:59:00Z') } });
    await prisma.message.update({ where: { id: decodeId(mid.id).id }, data: { createdAt: new Date('2026-03-15T12:00:00Z') } });
    expect(texts(await searchAs(team.bob.token, `${t} before:2026-01-11`))).toEqual([`old news ${t}`]);
    expect(texts(await searchAs(team.bob.token, `${t} before:2026-01-10`))).toEqual([]);
    expect(texts(await searchAs(team.bob.token, `${t} after:2026-01-10 before:2026-06-01`))).toEqual([`mid news ${t}`]);
    expect(texts(await searchAs(team.bob.token, `${t} after:2026-03-15`))).toEqual([`new news ${t}`]);
    for (const query of [`${t} before:2026-02-30`, `${t} after:yesterday`, `${t} before:2026-1-5`, `${t} after:`]) {
      await refused(team.server, 'BAD_USER_INPUT', SearchDocument, { workspaceId: team.workspaceId, query }, team.bob.token);
    }
  });

  it('a filter word inside quotes is a phrase, not a filter', async () => {
    const t = tag();
    await sendText(team.server, team.ann.token, general, `meet me in:#lobby ${t}`);
    expect(texts(await searchAs(team.bob.token, `"in:#lobby" ${t}`))).toEqual([`meet me in:#lobby ${t}`]);
  });

  it('has:attachment finds messages that carry a file, and only those; has:other is BAD_USER_INPUT', async () => {
    const t = tag();
    await sendText(team.server, team.ann.token, general, `no file here ${t}`);
    const form = new FormData();
    form.set('operations', JSON.stringify({ query: print(UploadFileDocument), variables: { workspaceId: team.workspaceId, file: null } }));
    form.set('map', JSON.stringify({ 0: ['variables.file'] }));
    form.set('0', new Blob([new TextEncoder().encode('minutes of the meeting')], { type: 'text/plain' }), 'minutes.txt');
    const response = await fetch(team.server.url, { method: 'POST', headers: { authorization: `Bearer ${team.ann.token}` }, body: form });
    const { data } = (await response.json()) as { data: { uploadFile: { id: string } } };
    const { sendMessage } = await ok(
      team.server,
      SendMessageDocument,
      { input: { channelId: general, text: `the file ${t}`, attachmentIds: [data.uploadFile.id] } },
      team.ann.token,
    );
    expect(texts(await searchAs(team.bob.token, `has:attachment ${t}`))).toEqual([`the file ${t}`]);
    expect(texts(await searchAs(team.bob.token, `${t}`)).sort()).toEqual([`no file here ${t}`, `the file ${t}`]);
    // A deleted message takes its files with it.
    await ok(team.server, DeleteMessageDocument, { messageId: sendMessage.id }, team.ann.token);
    expect(texts(await searchAs(team.bob.token, `has:attachment ${t}`))).toEqual([]);
    await refused(team.server, 'BAD_USER_INPUT', SearchDocument, { workspaceId: team.workspaceId, query: `has:pictures ${t}` }, team.bob.token);
  });
});

describe(`search: who sees what (${backendName})`, () => {
  it('never finds another workspace’s messages or posts, and answers NOT_FOUND for a workspace you are not in', async () => {
    const t = tag();
    const theirs = await channelWith(team.server, team.otherWorkspaceId, team.outsider, [], { name: 'general' });
    await sendText(team.server, team.outsider.token, theirs, `outside message ${t}`);
    await ok(team.server, CreatePostDocument, { input: { workspaceId: team.otherWorkspaceId, text: `outside post ${t}` } }, team.outsider.token);
    await sendText(team.server, team.ann.token, general, `inside message ${t}`);
    expect(texts(await searchAs(team.ann.token, t))).toEqual([`inside message ${t}`]);
    expect(texts(await searchAs(team.outsider.token, t, { workspaceId: team.otherWorkspaceId })).sort()).toEqual([
      `outside message ${t}`,
      `outside post ${t}`,
    ]);
    await refused(team.server, 'NOT_FOUND', SearchDocument, { workspaceId: team.otherWorkspaceId, query: t }, team.ann.token);
    await refused(team.server, 'NOT_FOUND', SearchDocument, { workspaceId: team.workspaceId, query: t }, team.outsider.token);
  });

  it('finds nothing in a private channel you are not in, nor in a channel you left, nor in others’ direct messages', async () => {
    const t = tag();
    const temp = await channelWith(team.server, team.workspaceId, team.ann, [team.bob], { name: `temp-${t}` });
    await sendText(team.server, team.ann.token, temp, `temporary ${t}`);
    await sendText(team.server, team.ann.token, secret, `private ${t}`);
    const { openDirectMessage } = await ok(team.server, OpenDirectMessageDocument, { input: { workspaceId: team.workspaceId, userIds: [team.bob.id] } }, team.ann.token);
    await sendText(team.server, team.ann.token, openDirectMessage.id, `direct ${t}`);
    expect(texts(await searchAs(team.bob.token, t)).sort()).toEqual([`direct ${t}`, `private ${t}`, `temporary ${t}`]);
    expect(texts(await searchAs(team.cat.token, t))).toEqual([]);
    await ok(team.server, LeaveChannelDocument, { channelId: temp }, team.bob.token);
    expect(texts(await searchAs(team.bob.token, t)).sort()).toEqual([`direct ${t}`, `private ${t}`]);
  });

  it('reflects edits and deletes at once', async () => {
    const t = tag();
    const message = await sendText(team.server, team.ann.token, general, `apples ${t}`);
    expect(texts(await searchAs(team.bob.token, `apple ${t}`))).toEqual([`apples ${t}`]);
    await ok(team.server, EditMessageDocument, { input: { messageId: message.id, text: `bananas ${t}` } }, team.ann.token);
    expect(texts(await searchAs(team.bob.token, `apple ${t}`))).toEqual([]);
    expect(texts(await searchAs(team.bob.token, `banana ${t}`))).toEqual([`bananas ${t}`]);
    await ok(team.server, DeleteMessageDocument, { messageId: message.id }, team.ann.token);
    expect(texts(await searchAs(team.bob.token, `banana ${t}`))).toEqual([]);
    expect(texts(await searchAs(team.bob.token, t))).toEqual([]);
  });

  it('refuses bad input with BAD_USER_INPUT and strangers with UNAUTHENTICATED', async () => {
    const bad = (query: string, extra: { first?: number; after?: string } = {}) =>
      refused(team.server, 'BAD_USER_INPUT', SearchDocument, { workspaceId: team.workspaceId, query, ...extra }, team.bob.token);
    await bad('   ');
    await bad('x'.repeat(501));
    await bad('hello', { first: 101 });
    await bad('hello', { first: 0 });
    await bad('hello', { after: 'not-a-cursor' });
    // A cursor of another list (a message edge cursor: channel and seq).
    const t = tag();
    await sendText(team.server, team.ann.token, general, `cursor ${t}`);
    const { channel } = await ok(team.server, ChannelMessagesDocument, { id: general, last: 1 }, team.bob.token);
    await bad('hello', { after: channel!.messages.edges[0]!.cursor });
    await refused(team.server, 'NOT_FOUND', SearchDocument, { workspaceId: general, query: 'hello' }, team.bob.token);
    await refused(team.server, 'UNAUTHENTICATED', SearchDocument, { workspaceId: team.workspaceId, query: 'hello' });
  });

  it('a query of stop words only finds nothing rather than failing', async () => {
    expect(texts(await searchAs(team.bob.token, 'the and of'))).toEqual([]);
  });
});

describe(`prefix search for pickers (${backendName})`, () => {
  it('searchUsers finds workspace members by handle or name prefix, case-insensitively, and pages', async () => {
    const byHandle = await ok(team.server, SearchUsersDocument, { workspaceId: team.workspaceId, prefix: `@${team.bob.handle.slice(0, 5).toUpperCase()}` }, team.ann.token);
    expect(byHandle.searchUsers.edges.map((e) => e.node.id)).toEqual([team.bob.id]);
    // Every test user is named after their role: "ann", "bob", "cat", "outsider".
    const byName = await ok(team.server, SearchUsersDocument, { workspaceId: team.workspaceId, prefix: 'CA' }, team.ann.token);
    expect(byName.searchUsers.edges.map((e) => e.node.id)).toEqual([team.cat.id]);
    expect((await ok(team.server, SearchUsersDocument, { workspaceId: team.workspaceId, prefix: 'outsider' }, team.ann.token)).searchUsers.edges).toEqual([]);
    // LIKE wildcards are plain characters.
    expect((await ok(team.server, SearchUsersDocument, { workspaceId: team.workspaceId, prefix: '%' }, team.ann.token)).searchUsers.edges).toEqual([]);
    const all = await ok(team.server, SearchUsersDocument, { workspaceId: team.workspaceId, prefix: '' }, team.ann.token);
    expect(all.searchUsers.edges.map((e) => e.node.id).sort()).toEqual([team.ann.id, team.bob.id, team.cat.id].sort());
    const first = await ok(team.server, SearchUsersDocument, { workspaceId: team.workspaceId, prefix: '', first: 2 }, team.ann.token);
    const rest = await ok(team.server, SearchUsersDocument, { workspaceId: team.workspaceId, prefix: '', first: 2, after: first.searchUsers.pageInfo.endCursor }, team.ann.token);
    expect(first.searchUsers.pageInfo.hasNextPage).toBe(true);
    expect([...first.searchUsers.edges, ...rest.searchUsers.edges].map((e) => e.node.id)).toEqual(all.searchUsers.edges.map((e) => e.node.id));
    await refused(team.server, 'NOT_FOUND', SearchUsersDocument, { workspaceId: team.workspaceId, prefix: 'a' }, team.outsider.token);
    await refused(team.server, 'BAD_USER_INPUT', SearchUsersDocument, { workspaceId: team.workspaceId, prefix: 'a', first: 500 }, team.ann.token);
  });

  it('searchChannels finds channels you can see or join by name prefix, never private ones you are not in', async () => {
    const t = tag();
    await channelWith(team.server, team.workspaceId, team.ann, [], { name: `Pick-${t}-public` });
    await channelWith(team.server, team.workspaceId, team.ann, [team.bob], { name: `pick-${t}-private`, private: true });
    const names = async (token: string, prefix: string) =>
      (await ok(team.server, SearchChannelsDocument, { workspaceId: team.workspaceId, prefix }, token)).searchChannels.edges.map((e) => e.node.name);
    expect(await names(team.bob.token, `#PICK-${t}`)).toEqual([`pick-${t}-private`, `Pick-${t}-public`]);
    expect(await names(team.cat.token, `pick-${t}`)).toEqual([`Pick-${t}-public`]);
    expect(await names(team.cat.token, 'secret')).toEqual([]);
    expect(await names(team.bob.token, 'secret')).toEqual(['secret']);
    await refused(team.server, 'NOT_FOUND', SearchChannelsDocument, { workspaceId: team.workspaceId, prefix: 'g' }, team.outsider.token);
  });

  it('reads the prefix indexes (the plan uses them, not a scan of every row)', async () => {
    const rt = team.server.app.runtime;
    // Planner statistics would prefer a scan on tables this small: ask for the plan with scans made costly.
    const plan = async (sql: string) => {
      const rows = await rt.prisma.$transaction(async (tx) => {
        await tx.$executeRawUnsafe('SET LOCAL enable_seqscan = off');
        return tx.$queryRawUnsafe<{ 'QUERY PLAN': string }[]>(`EXPLAIN ${sql}`);
      });
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    };
    expect(await plan(`SELECT id FROM "User" WHERE lower(handle) LIKE 'ab%'`)).toContain('User_handle_prefix_idx');
    expect(await plan(`SELECT id FROM "User" WHERE lower(name) LIKE 'ab%'`)).toContain('User_name_prefix_idx');
    expect(await plan(`SELECT id FROM "Channel" WHERE "workspaceId" = '${decodeId(team.workspaceId).id}' AND lower(name) LIKE 'ab%'`)).toContain('Channel_name_prefix_idx');
    expect(await plan(`SELECT id FROM "Message" WHERE to_tsvector('parley_search'::regconfig, text) @@ websearch_to_tsquery('parley_search', 'hello')`)).toContain('Message_search_idx');
  });
});
