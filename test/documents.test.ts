import { print } from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { MeDocument } from '../client/generated/graphql.ts';
import { connectAcknowledged, ok } from './support/client.ts';
import { expectRefusal, post, postChunked } from './support/raw.ts';
import { backendName, startServer, type TestServer } from './support/server.ts';
import { channelWith, signUpUser, workspaceWith, type TestUser } from './support/world.ts';

let server: TestServer;
let user: TestUser;
let channelId: string;
let workspaceId: string;
beforeAll(async () => {
  server = await startServer();
  user = await signUpUser(server, 'limits');
  workspaceId = await workspaceWith(server, user);
  channelId = await channelWith(server, workspaceId, user);
});

/** `channel(id) { messages(first: 1) { edges { node { channel { messages … } } } } }`, `levels` times. */
function deepChannelQuery(levels: number): string {
  let inner = 'id';
  for (let i = 0; i < levels; i++) inner = `channel { messages(first: 1) { edges { node { ${inner} } } } }`;
  return `query($id: ID!) { channel(id: $id) { messages(first: 1) { edges { node { ${inner} } } } } }`;
}

/** The server still serves ordinary requests after a refusal. */
async function stillServes() {
  const { me } = await ok(server, MeDocument, {}, user.token);
  expect(me.id).toBe(user.id);
}

/** A refusal must come quickly: a generous bound that only proves the server did not stall. */
async function answeredWithin<T>(ms: number, work: Promise<T>): Promise<T> {
  const started = Date.now();
  const result = await work;
  expect(Date.now() - started, 'answered within the bound').toBeLessThan(ms);
  return result;
}

describe(`document limits (${backendName})`, () => {
  it('refuses a document nested deeper than MAX_QUERY_DEPTH before anything runs', async () => {
    const response = await answeredWithin(5_000, post(server, deepChannelQuery(30), { id: channelId }, { token: user.token }));
    expectRefusal(response, 'BAD_USER_INPUT', /nesting.*at most 12.*MAX_QUERY_DEPTH/);
    await stillServes();
  });

  it('accepts ordinary nesting', async () => {
    // channel > messages > edges > node > channel > messages > edges > node > id: 9 levels.
    const response = await post(server, deepChannelQuery(1), { id: channelId }, { token: user.token });
    expect(response.body.errors).toBeUndefined();
  });

  it('counts depth through fragments', async () => {
    const query = `query($id: ID!) { channel(id: $id) { ...F } }
      fragment F on Channel { messages(first: 1) { edges { node { channel { messages(first: 1) { edges { node { channel { messages(first: 1) { edges { node { id } } } } } } } } } } } }`;
    const response = await post(server, query, { id: channelId }, { token: user.token });
    expectRefusal(response, 'BAD_USER_INPUT', /nesting/);
  });

  it('refuses more aliases than MAX_QUERY_ALIASES, also 1,000 of a connection field, quickly', async () => {
    const few = Array.from({ length: 31 }, (_, i) => `a${i}: me { id }`).join(' ');
    expectRefusal(await post(server, `{ ${few} }`, {}, { token: user.token }), 'BAD_USER_INPUT', /aliases.*31.*at most 30/);
    const many = Array.from({ length: 1_000 }, (_, i) => `a${i}: workspaces(first: 100) { edges { node { id } } }`).join(' ');
    const response = await answeredWithin(5_000, post(server, `{ ${many} }`, {}, { token: user.token }));
    expectRefusal(response, 'BAD_USER_INPUT', /too many/);
    await stillServes();
  });

  it('refuses more directives than MAX_QUERY_DIRECTIVES', async () => {
    const directives = Array.from({ length: 51 }, () => '@include(if: true)').join(' ');
    const response = await post(server, `{ me { id ${directives} } }`, {}, { token: user.token });
    expectRefusal(response, 'BAD_USER_INPUT', /directives/);
  });

  it('refuses a document of more than MAX_QUERY_TOKENS tokens while parsing it', async () => {
    const fields = Array.from({ length: 6_000 }, () => 'id').join(' ');
    const response = await answeredWithin(5_000, post(server, `{ me { ${fields} } }`, {}, { token: user.token }));
    expectRefusal(response, 'BAD_USER_INPUT', /tokens.*MAX_QUERY_TOKENS/);
    await stillServes();
  });

  it('refuses an operation whose nested pages multiply past MAX_QUERY_COST, with page sizes from literals or variables', async () => {
    const nested = (size: string) => `query${size.startsWith('$') ? '($n: Int)' : ''} { workspaces(first: ${size}) { edges { node {
        channels(first: ${size}) { edges { node { messages(first: ${size}) { edges { node { id text } } } } } } } } } }`;
    expectRefusal(await post(server, nested('100'), {}, { token: user.token }), 'BAD_USER_INPUT', /too expensive.*MAX_QUERY_COST/);
    // The same document is judged by each request's variables: validation results are cached per document, costs are not.
    const document = nested('$n');
    expect((await post(server, document, { n: 2 }, { token: user.token })).body.errors).toBeUndefined();
    expectRefusal(await post(server, document, { n: 100 }, { token: user.token }), 'BAD_USER_INPUT', /too expensive/);
    expect((await post(server, document, { n: 2 }, { token: user.token })).body.errors).toBeUndefined();
    // A sidebar's worth, 100 channels with their 50 newest messages each, costs about 30,000: accepted.
    const sidebar = `query($id: ID!) { workspace(id: $id) { channels(first: 100) { edges { node {
        messages(last: 50) { edges { node { id text author { name } } } } } } } } }`;
    expect((await post(server, sidebar, { id: workspaceId }, { token: user.token })).body.errors).toBeUndefined();
  });

  it('applies the same limits to subscriptions over WebSocket, refusing only that subscription', async () => {
    const client = await connectAcknowledged(server, user.token);
    const deep = `subscription($id: ID!) { messageAdded(channelId: $id) { ${deepChannelQuery(20).replace(/^query\(\$id: ID!\) \{ /, '').replace(/ \}$/, '')} } }`;
    const refusal = await new Promise<unknown>((resolve) => {
      client.subscribe({ query: deep, variables: { id: channelId } }, {
        next: (result) => resolve(result.errors),
        error: resolve,
        complete: () => resolve('completed without error'),
      });
    });
    expect(JSON.stringify(refusal)).toMatch(/BAD_USER_INPUT/);
    expect(JSON.stringify(refusal)).toMatch(/nesting/);
    // The socket is still open: a query on it is answered.
    const me = await new Promise<unknown>((resolve, reject) => {
      client.subscribe({ query: print(MeDocument) }, { next: resolve, error: reject, complete: () => {} });
    });
    expect(me).toMatchObject({ data: { me: { id: user.id } } });
  });

  it('answers 413 to a body over MAX_BODY_BYTES, declared or chunked', async () => {
    const huge = 'x'.repeat(1_100_000);
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ me { id } }`, variables: { huge } }),
    });
    expect(response.status).toBe(413);
    const body = (await response.json()) as { errors: { message: string; extensions: { code: string } }[] };
    expect(body.errors[0]!.extensions.code).toBe('BAD_USER_INPUT');
    expect(body.errors[0]!.message).toMatch(/larger than 1048576 bytes/);

    const chunk = Buffer.from('x'.repeat(64 * 1024));
    const chunked = await answeredWithin(10_000, postChunked(server, Array.from({ length: 20 }, () => chunk)));
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body).errors[0].extensions.code).toBe('BAD_USER_INPUT');
    // A small chunked body still works.
    const small = await postChunked(server, [Buffer.from(JSON.stringify({ query: '{ __typename }' }))]);
    expect(JSON.parse(small.body)).toEqual({ data: { __typename: 'Query' } });
    await stillServes();
  });
});

describe('syntax errors over WebSocket', () => {
  it('end only the subscription that sent them; the others on the socket go on', async () => {
    const client = await connectAcknowledged(server, user.token);
    const closes: number[] = [];
    client.on('closed', (event) => closes.push((event as { code: number }).code));
    const events: unknown[] = [];
    const live = new Promise<void>((resolve) => {
      client.subscribe(
        { query: `subscription($id: ID!) { messageAdded(channelId: $id) { id text } }`, variables: { id: channelId } },
        { next: (value) => { events.push(value); resolve(); }, error: () => {}, complete: () => {} },
      );
    });
    const broken = await new Promise<unknown>((resolve) => {
      client.subscribe({ query: 'subscription { messageAdded(channelId: ' }, { next: resolve, error: resolve, complete: () => resolve('complete') });
    });
    expect(JSON.stringify(broken)).toMatch(/Syntax Error/);
    expect(JSON.stringify(broken)).toMatch(/BAD_USER_INPUT/);
    // The first subscription still delivers.
    const sent = await post(server, `mutation($id: ID!) { sendMessage(input: { channelId: $id, text: "still here" }) { id } }`, { id: channelId }, { token: user.token });
    expect(sent.body.errors).toBeUndefined();
    await live;
    expect(JSON.stringify(events)).toMatch(/still here/);
    expect(closes).toEqual([]);
  });
});

describe('development defaults', () => {
  it('offer introspection, suggestions, GraphiQL and CORS for any origin, without credentials', async () => {
    expect((await post(server, '{ __schema { queryType { name } } }')).body).toEqual({ data: { __schema: { queryType: { name: 'Query' } } } });
    expect((await post(server, '{ mee { id } }')).body.errors![0]!.message).toMatch(/Did you mean "me"/);
    const page = await fetch(server.url, { headers: { accept: 'text/html' } });
    expect(await page.text()).toMatch(/graphiql/i);
    const preflight = await fetch(server.url, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(preflight.headers.get('access-control-allow-credentials')).toBeNull();
  });
});
