import { beforeAll, describe, expect, it } from 'vitest';
import { MessageAddedDocument } from '../client/generated/graphql.ts';
import { connect, connectAcknowledged, subscribe } from './support/client.ts';
import { backendName, startServer, waitForSubscribers, type TestServer } from './support/server.ts';
import { channelWith, sendText, startTeam, type TestUser } from './support/world.ts';

let server: TestServer;
let ann: TestUser;
let bob: TestUser;
let outsider: TestUser;
let workspaceId: string;

beforeAll(async () => {
  ({ server, ann, bob, outsider, workspaceId } = await startTeam());
});

async function graphiqlPage(target: TestServer): Promise<Response> {
  return fetch(target.url, { headers: { accept: 'text/html' } });
}

/** The options GraphiQL starts with, from the page's inert JSON. */
function pageOptions(html: string): Record<string, unknown> {
  const json = /<script type="application\/json" id="graphiql-options">([\s\S]*?)<\/script>/.exec(html)?.[1];
  expect(json, 'the options element').toBeDefined();
  return JSON.parse(json!) as Record<string, unknown>;
}

describe('GraphiQL served by Parley itself', () => {
  it('answers a browser with a page that loads nothing from another origin', async () => {
    const response = await graphiqlPage(server);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await response.text();
    expect(html).not.toMatch(/unpkg|jsdelivr|esm\.sh|cdnjs|googleapis|skypack/i);
    // Every src/href is a path on this server, not a URL of another origin.
    const references = [...html.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
    expect(references.length).toBeGreaterThanOrEqual(4);
    for (const reference of references) expect(reference).toMatch(/^\/graphiql\//);
    // No inline script: only scripts with a src, and the inert options JSON.
    for (const tag of html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)) {
      if (/type="application\/json"/.test(tag[1]!)) continue;
      expect(tag[1]).toMatch(/src="/);
      expect(tag[2]!.trim()).toBe('');
    }
  });

  it('serves every asset the page and its start script reference, with a script, style or icon type', async () => {
    const html = await (await graphiqlPage(server)).text();
    const references = new Set([...html.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => m[1]!));
    const start = await (await fetch(new URL('/graphiql/start.js', server.url))).text();
    for (const worker of start.matchAll(/"(\/graphiql\/[^"]+)"/g)) references.add(worker[1]!);
    expect([...references].filter((r) => r.endsWith('.worker.js'))).toHaveLength(3);
    for (const reference of references) {
      const response = await fetch(new URL(reference, server.url));
      expect(response.status, reference).toBe(200);
      const type = response.headers.get('content-type') ?? '';
      if (reference.endsWith('.js')) expect(type, reference).toMatch(/^text\/javascript/);
      else if (reference.endsWith('.css')) expect(type, reference).toMatch(/^text\/css/);
      else expect(type, reference).toMatch(/^image\//);
      const body = await response.arrayBuffer();
      expect(body.byteLength, reference).toBeGreaterThan(100);
      if (reference.endsWith('.js')) expect(new TextDecoder().decode(body)).not.toMatch(/unpkg\.com|cdn\.jsdelivr|esm\.sh/);
    }
  });

  it('starts with a query and headers that teach the first steps, and subscribes over ws on /graphql', async () => {
    const options = pageOptions(await (await graphiqlPage(server)).text());
    expect(options).toMatchObject({ endpoint: '/graphql', subscriptionsProtocol: 'WS', title: 'Parley' });
    expect(options.defaultQuery).toMatch(/signUp\(/);
    expect(options.defaultQuery).toMatch(/logIn\(/);
    expect(options.defaultQuery).toMatch(/Authorization/);
    for (const headers of [options.defaultHeaders, options.headers]) {
      expect(Object.keys(JSON.parse(headers as string))).toEqual(['Authorization']);
      expect(JSON.parse(headers as string).Authorization).toMatch(/^Bearer </);
    }
  });

  it('serves neither the page nor its assets when GraphiQL is off', async () => {
    const off = await startServer({ graphiql: false });
    try {
      expect((await graphiqlPage(off)).headers.get('content-type') ?? '').not.toMatch(/text\/html/);
      expect((await fetch(new URL('/graphiql/graphiql.js', off.url))).status).toBe(404);
    } finally {
      await off.stop();
    }
  });

  it('answers 404 for an unknown asset', async () => {
    expect((await fetch(new URL('/graphiql/nothing.js', server.url))).status).toBe(404);
  });
});

describe(`subscriptions signed in by GraphiQL's Headers pane (${backendName})`, () => {
  it('authenticates a subscription by extensions.headers on a socket without a token', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob], { private: true });
    const client = connect(server);
    const sub = subscribe(client, MessageAddedDocument, { channelId }, { headers: { Authorization: `Bearer ${bob.token}` } });
    // Any case of the key, as for an HTTP header.
    const lower = subscribe(client, MessageAddedDocument, { channelId }, { headers: { authorization: `Bearer ${bob.token}` } });
    await waitForSubscribers(server, channelId, 2);
    const sent = await sendText(server, ann.token, channelId, 'from the headers pane');
    for (const s of [sub, lower]) {
      const event = await s.waitFor((e) => e.messageAdded.id === sent.id, 'the message');
      expect(event.messageAdded.text).toBe('from the headers pane');
    }
  });

  it("lets the operation's header win over the connection's token", async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob], { private: true });
    // The socket belongs to an outsider; the operation says it is bob.
    const client = await connectAcknowledged(server, outsider.token);
    const sub = subscribe(client, MessageAddedDocument, { channelId }, { headers: { Authorization: `Bearer ${bob.token}` } });
    await waitForSubscribers(server, channelId);
    const sent = await sendText(server, ann.token, channelId, 'for bob');
    await sub.waitFor((e) => e.messageAdded.id === sent.id, 'the message');
    // Without the header, the connection's token (the outsider) is refused.
    const asOutsider = subscribe(client, MessageAddedDocument, { channelId });
    const error = (await asOutsider.waitForError()) as { extensions?: { code?: string } }[];
    expect(error[0]?.extensions?.code).not.toBeUndefined();
    expect(sub.done).toBe(false);
  });

  it('refuses a bad token in the headers for that subscription only, leaving the socket and its others open', async () => {
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    let closed: number | null = null;
    const client = connect(server, bob.token, { onClose: (code) => (closed = code) });
    const good = subscribe(client, MessageAddedDocument, { channelId });
    await waitForSubscribers(server, channelId);
    for (const authorization of ['Bearer not-a-token', 'Basic Ym9iOnB3', '']) {
      const bad = subscribe(client, MessageAddedDocument, { channelId }, { headers: { Authorization: authorization } });
      const errors = (await bad.waitForError()) as { extensions?: { code?: string } }[];
      expect(errors[0]?.extensions?.code, authorization).toBe('UNAUTHENTICATED');
    }
    const sent = await sendText(server, ann.token, channelId, 'still here');
    await good.waitFor((e) => e.messageAdded.id === sent.id, 'the message on the good subscription');
    expect(closed).toBeNull();
    expect(good.done).toBe(false);
  });
});
