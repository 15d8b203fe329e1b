import { describe, expect, it } from 'vitest';
import { SearchDocument } from '../client/generated/graphql.ts';
import { ok } from './support/client.ts';
import { backendName, startServer, type TestServer } from './support/server.ts';
import { channelWith, sendText, signUpUsers, workspaceWith } from './support/world.ts';

const found = async (server: TestServer, token: string, workspaceId: string, query: string) =>
  (await ok(server, SearchDocument, { workspaceId, query }, token)).search.edges.map((e) => e.node.__typename === 'Message' && e.node.text);

describe(`SEARCH_LANGUAGE (${backendName})`, () => {
  it('switches stemming at start and rebuilds the indexes; keeps accent folding; refuses an unknown language', async () => {
    let server = await startServer({ searchLanguage: 'simple' });
    const [ann] = await signUpUsers(server, 'ann');
    const workspaceId = await workspaceWith(server, ann);
    const channelId = await channelWith(server, workspaceId, ann);
    await sendText(server, ann.token, channelId, 'The runners ran to the Café');
    // simple: no stemming, no stop words.
    expect(await found(server, ann.token, workspaceId, 'runner')).toEqual([]);
    expect(await found(server, ann.token, workspaceId, 'runners the')).toEqual(['The runners ran to the Café']);
    expect(await found(server, ann.token, workspaceId, 'cafe')).toEqual(['The runners ran to the Café']);
    await server.stop();

    server = await startServer({ searchLanguage: 'english' });
    // The existing row is found through the rebuilt index with English stemming.
    expect(await found(server, ann.token, workspaceId, 'runner')).toEqual(['The runners ran to the Café']);
    expect(await found(server, ann.token, workspaceId, 'cafe')).toEqual(['The runners ran to the Café']);
    await server.stop();

    await expect(startServer({ searchLanguage: 'klingon' })).rejects.toThrow(/SEARCH_LANGUAGE=klingon: .*english/);
  }, 120_000);
});
