import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { ApolloClient, HttpLink, InMemoryCache } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { print, type DocumentNode } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateWorkspaceDocument,
  MeDocument,
  MessageAddedDocument,
  SignUpDocument,
  WorkspaceDocument,
} from '../client/generated/graphql.ts';
import { connect } from './support/client.ts';
import { backendName, startServer, waitForSubscribers, type TestServer } from './support/server.ts';
import { channelWith, sendText, signUpUser, workspaceWith, type TestUser } from './support/world.ts';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const persistedDocuments = JSON.parse(
  fs.readFileSync(new URL('../client/generated/persisted-documents.json', import.meta.url), 'utf8'),
) as Record<string, string>;
/** The codegen'd hash of a generated document (`sha256:<hex>`). */
const hashOf = (document: DocumentNode) => (document as unknown as { __meta__: { hash: string } }).__meta__.hash;

/**
 * The codegen'd hash of the operation a client sends, by its name: Apollo
 * transforms documents (adds __typename) before the link sees them, so the
 * link cannot read __meta__ or hash what it sends.
 */
function codegenHashByName(document: DocumentNode): string {
  const name = document.definitions.flatMap((d) => (d.kind === 'OperationDefinition' && d.name ? [d.name.value] : []))[0];
  const found = Object.entries(persistedDocuments).find(([, text]) => new RegExp(`(query|mutation|subscription) ${name}\\b`).test(text));
  if (!found) throw new Error(`no persisted document for ${name}`);
  return found[0].replace(/^sha256:/, '');
}

interface Body {
  query?: string;
  documentId?: string;
  operationName?: string;
  variables?: Record<string, unknown>;
  extensions?: Record<string, unknown>;
}

async function post(server: TestServer, body: Body, token?: string) {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
  return (await response.json()) as { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

const byHash = (hash: string) => ({ extensions: { persistedQuery: { version: 1, sha256Hash: hash } } });

/** An Apollo Client with the real PersistedQueryLink; records every request body it sends. */
function apollo(server: TestServer, token: string, options: { codegenHashes?: boolean } = {}) {
  const bodies: Body[] = [];
  const link = new PersistedQueryLink(
    options.codegenHashes
      ? { generateHash: (document) => codegenHashByName(document) }
      : { sha256: async (query: string) => sha256(query) },
  ).concat(
    new HttpLink({
      uri: server.url,
      headers: { authorization: `Bearer ${token}` },
      fetch: async (input, init) => {
        bodies.push(JSON.parse(String(init?.body)) as Body);
        return fetch(input, init);
      },
    }),
  );
  return { client: new ApolloClient({ link, cache: new InMemoryCache() }), bodies };
}

describe('persisted operations (PERSISTED_OPERATIONS_ONLY off)', () => {
  let server: TestServer;
  let ann: TestUser;
  beforeAll(async () => {
    server = await startServer();
    ann = await signUpUser(server, 'ann');
  });

  it("codegen writes every client operation's sha256 hash", () => {
    expect(Object.keys(persistedDocuments).length).toBeGreaterThan(10);
    for (const [id, document] of Object.entries(persistedDocuments)) expect(id).toBe(`sha256:${sha256(document)}`);
    expect(persistedDocuments[hashOf(MeDocument)]).toMatch(/query Me/);
  });

  it('runs a codegen document by extensions.persistedQuery.sha256Hash and by documentId, with or without the prefix', async () => {
    const hash = hashOf(MeDocument);
    for (const body of [byHash(hash.slice(7)), { documentId: hash }, { documentId: hash.slice(7) }]) {
      const result = await post(server, { ...body, operationName: 'Me' }, ann.token);
      expect(result.errors, JSON.stringify(body)).toBeUndefined();
      expect(result.data).toMatchObject({ me: { id: ann.id } });
    }
  });

  it('answers an unknown hash PersistedQueryNotFound, and a malformed one BAD_USER_INPUT', async () => {
    const unknown = await post(server, byHash(sha256('query { me { id } } # never sent')), ann.token);
    expect(unknown.errors?.[0]).toMatchObject({ message: 'PersistedQueryNotFound', extensions: { code: 'PERSISTED_QUERY_NOT_FOUND' } });
    const malformed = await post(server, { documentId: 'not-a-hash' }, ann.token);
    expect(malformed.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('registers an APQ document only when its hash matches, and changes nothing on a mismatch', async () => {
    const query = 'query RegisteredMe { me { handle } }';
    const wrong = sha256('something else');
    const mismatch = await post(server, { query, ...byHash(wrong) }, ann.token);
    expect(mismatch.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(mismatch.data ?? null).toBeNull();
    expect((await post(server, byHash(wrong), ann.token)).errors?.[0]?.message).toBe('PersistedQueryNotFound');

    expect((await post(server, { query, ...byHash(sha256(query)) }, ann.token)).data).toEqual({ me: { handle: ann.handle } });
    expect((await post(server, byHash(sha256(query)), ann.token)).data).toEqual({ me: { handle: ann.handle } });
  });

  it("works with Apollo Client's PersistedQueryLink: the first time it falls back to the query, later it sends only the hash", async () => {
    const { client, bodies } = apollo(server, ann.token);
    const me = await client.query({ query: MeDocument, fetchPolicy: 'network-only' });
    expect(me.data?.me.id).toBe(ann.id);
    // The hash alone, refused as not found; then the hash with the query.
    expect(bodies.map((b) => typeof b.query)).toEqual(['undefined', 'string']);
    expect(bodies[0]!.extensions?.persistedQuery).toMatchObject({ version: 1 });

    bodies.length = 0;
    await client.query({ query: MeDocument, fetchPolicy: 'network-only' });
    expect(bodies).toHaveLength(1);
    expect(bodies[0]!.query).toBeUndefined();

    const slug = `apq-${sha256(String(Math.random())).slice(0, 8)}`;
    bodies.length = 0;
    const created = await client.mutate({ mutation: CreateWorkspaceDocument, variables: { input: { name: 'APQ', slug } } });
    expect(created.data?.createWorkspace.id).toBeTruthy();
    const slug2 = `${slug}-2`;
    bodies.length = 0;
    const second = await client.mutate({ mutation: CreateWorkspaceDocument, variables: { input: { name: 'APQ 2', slug: slug2 } } });
    expect(bodies).toHaveLength(1);
    expect(bodies[0]!.query).toBeUndefined();
    const workspace = await post(server, { query: print(WorkspaceDocument), variables: { id: second.data!.createWorkspace.id } }, ann.token);
    expect(workspace.data).toMatchObject({ workspace: { slug: slug2 } });
  });

  it('runs subscriptions by hash over WebSocket too', async () => {
    const bob = await signUpUser(server, 'bob');
    const workspaceId = await workspaceWith(server, ann, [bob]);
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const client = connect(server, bob.token);
    const events: unknown[] = [];
    client.subscribe(
      { query: '', extensions: byHash(hashOf(MessageAddedDocument)).extensions, variables: { channelId } } as never,
      { next: (event) => void events.push(event), error: () => {}, complete: () => {} },
    );
    await waitForSubscribers(server, channelId);
    const sent = await sendText(server, ann.token, channelId, 'by hash');
    await expect.poll(() => JSON.stringify(events), { timeout: 5_000 }).toContain(sent.id);
  });
});

describe(`PERSISTED_OPERATIONS_ONLY=true (${backendName})`, () => {
  let server: TestServer;
  let ann: TestUser;
  beforeAll(async () => {
    server = await startServer({ persistedOperationsOnly: true });
    const handle = `ann-${sha256(String(Math.random())).slice(0, 8)}`;
    const input = { email: `${handle}@example.com`, password: `pw-${handle}-secret`, name: 'Ann', handle };
    const signUp = await post(server, { documentId: hashOf(SignUpDocument), variables: { input } });
    expect(signUp.errors).toBeUndefined();
    const { token, user } = (signUp.data as { signUp: { token: string; user: { id: string } } }).signUp;
    ann = { ...input, id: user.id, token };
  });
  afterAll(async () => server.stop());

  it('runs codegen documents by hash (documentId and Apollo forms) and refuses anything else, naming the switch', async () => {
    expect((await post(server, { documentId: hashOf(MeDocument) }, ann.token)).data).toMatchObject({ me: { id: ann.id } });
    expect((await post(server, byHash(hashOf(MeDocument).slice(7)), ann.token)).data).toMatchObject({ me: { id: ann.id } });

    const arbitrary = await post(server, { query: 'query { me { id } }' }, ann.token);
    expect(arbitrary.data ?? null).toBeNull();
    expect(arbitrary.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(arbitrary.errors?.[0]?.message).toContain('PERSISTED_OPERATIONS_ONLY');
  });

  it('registers nothing by APQ, and refuses an arbitrary mutation without running it', async () => {
    const slug = `only-${sha256(String(Math.random())).slice(0, 8)}`;
    const mutation = `mutation { createWorkspace(input: { name: "Nope", slug: "${slug}" }) { id } }`;
    const registering = await post(server, { query: mutation, ...byHash(sha256(mutation)) }, ann.token);
    expect(registering.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await post(server, byHash(sha256(mutation)), ann.token)).errors?.[0]?.message).toBe('PersistedQueryNotFound');
    // The slug is still free: nothing was created.
    const created = await post(server, { documentId: hashOf(CreateWorkspaceDocument), variables: { input: { name: 'Yes', slug } } }, ann.token);
    expect(created.errors).toBeUndefined();
    expect(created.data).toMatchObject({ createWorkspace: { id: expect.any(String) } });
  });

  it("works with Apollo's PersistedQueryLink hashing by codegen's hashes", async () => {
    const { client, bodies } = apollo(server, ann.token, { codegenHashes: true });
    // no-cache: the cache wants the __typename fields Apollo adds, which codegen's documents do not select.
    const me = await client.query({ query: MeDocument, fetchPolicy: 'no-cache' });
    expect(me.data?.me.id).toBe(ann.id);
    expect(bodies).toHaveLength(1);
    expect(bodies[0]!.query).toBeUndefined();
  });

  it('refuses an arbitrary subscription over WebSocket for that operation only', async () => {
    const client = connect(server, ann.token);
    const errors: unknown[] = [];
    client.subscribe(
      { query: 'subscription { messageAdded(channelId: "x") { id } }' },
      { next: () => {}, error: (e) => void errors.push(e), complete: () => {} },
    );
    await expect.poll(() => errors.length, { timeout: 5_000 }).toBe(1);
    const [error] = errors[0] as { message: string; extensions?: { code?: string } }[];
    expect(error?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(error?.message).toContain('PERSISTED_OPERATIONS_ONLY');
  });
});
