import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MeDocument, SetTypingDocument, UserPresenceDocument } from '../client/generated/graphql.ts';
import { connectAcknowledged, ok, refused } from './support/client.ts';
import { startServer, testDataDir, until } from './support/server.ts';
import { channelWith, signUpUser, workspaceWith } from './support/world.ts';

/** An app of its own: its own embedded database, in-process pub/sub and signing key. */
function ownApp(name: string) {
  const dataDir = path.join(testDataDir, name);
  fs.mkdirSync(dataDir, { recursive: true });
  return startServer({ databaseUrl: undefined, redisUrl: undefined, dataDir, jwtSecret: `${name}-secret-0123456789abcdef0123456789` });
}

describe('two Parley apps in one process', () => {
  it('keep their own state: databases, tokens, presence and typing; stopping one leaves the other whole', async () => {
    const [a, b] = await Promise.all([ownApp('app-a'), ownApp('app-b')]);
    const onA = await signUpUser(a, 'ann');
    const onB = await signUpUser(b, 'ann');

    // Each app signs and checks its own tokens against its own database.
    expect((await ok(a, MeDocument, {}, onA.token)).me.id).toBe(onA.id);
    await refused(b, 'UNAUTHENTICATED', MeDocument, {}, onA.token);

    // A socket on A makes ann ONLINE on A only.
    await connectAcknowledged(a, onA.token);
    const status = async (server: typeof a, user: typeof onA) => {
      const { node } = await ok(server, UserPresenceDocument, { id: user.id }, user.token);
      return node?.__typename === 'User' ? node.presence.status : null;
    };
    await until(async () => (await status(a, onA)) === 'ONLINE', 'ann online on A');
    expect(await status(b, onB)).toBe('OFFLINE');

    // Stopping B releases B's presence, typing and database, and nothing of A's.
    await b.stop();
    expect(await status(a, onA)).toBe('ONLINE');
    const workspaceId = await workspaceWith(a, onA);
    const channelId = await channelWith(a, workspaceId, onA);
    expect((await ok(a, SetTypingDocument, { channelId }, onA.token)).setTyping).toBe(true);
    expect((await ok(a, MeDocument, {}, onA.token)).me.id).toBe(onA.id);
  }, 120_000);
});
