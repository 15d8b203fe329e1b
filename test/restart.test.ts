import { describe, expect, it } from 'vitest';
import { ChannelMessagesDocument, LogInDocument, MeDocument, SendMessageDocument } from '../client/generated/graphql.ts';
import { ok } from './support/client.ts';
import { backendName, sharedServices, startServer } from './support/server.ts';
import { channelWith, signUpUser, workspaceWith } from './support/world.ts';

/** Writes accounts, a token and messages, restarts, and reads them back. */
async function survivesRestart(overrides: Parameters<typeof startServer>[0]) {
  const first = await startServer(overrides);
  const ann = await signUpUser(first, 'ann');
  const bob = await signUpUser(first, 'bob');
  const workspaceId = await workspaceWith(first, ann, [bob]);
  const channelId = await channelWith(first, workspaceId, ann, [bob]);
  for (const text of ['before', 'the', 'restart']) {
    await ok(first, SendMessageDocument, { input: { channelId, text } }, ann.token);
  }
  await first.stop();

  const second = await startServer(overrides);
  // The old token still works: sessions and the signing key persisted.
  expect((await ok(second, MeDocument, {}, ann.token)).me.id).toBe(ann.id);
  await ok(second, LogInDocument, { input: { email: bob.email, password: bob.password } });
  const { channel } = await ok(second, ChannelMessagesDocument, { id: channelId, last: 10 }, bob.token);
  expect(channel!.messages.edges.map((e) => e.node.text)).toEqual(['before', 'the', 'restart']);
  // Sequence numbers go on where they stopped.
  await ok(second, SendMessageDocument, { input: { channelId, text: 'after' } }, bob.token);
  const again = await ok(second, ChannelMessagesDocument, { id: channelId, last: 10 }, bob.token);
  expect(again.channel!.messages.edges.map((e) => e.node.text)).toEqual(['before', 'the', 'restart', 'after']);
  await second.stop();
}

describe('restarting the server', () => {
  it('keeps accounts, tokens and messages on the embedded default (PGlite in DATA_DIR, no JWT_SECRET)', async () => {
    await survivesRestart({ databaseUrl: undefined, redisUrl: undefined, jwtSecret: undefined });
    // Two cold starts of the embedded database: slow on a loaded machine.
  }, 120_000);

  it.skipIf(!sharedServices.databaseUrl)(`keeps them on ${backendName}`, async () => {
    await survivesRestart({});
  }, 120_000);
});
