import crypto from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  ChannelEventsDocument,
  ChannelMessagesDocument,
  LogInDocument,
  SendMessageDocument,
  SetTypingDocument,
  SignUpDocument,
} from '../client/generated/graphql.ts';
import { LIMITS, type LimitSettings } from '../src/security/rateLimits.ts';
import { encodeGlobalID } from '../src/schema/ids.ts';
import { signUp } from '../src/services/auth.ts';
import { connect, ok, refused, request, subscribe } from './support/client.ts';
import { backendName, startServer, testDataDir, until, waitForSubscribers, type TestServer } from './support/server.ts';
import { channelWith, workspaceWith, type TestUser } from './support/world.ts';

let server: TestServer;
const tight: Partial<LimitSettings> = {
  loginIp: { points: 6, seconds: 60 },
  loginEmail: { points: 3, seconds: 300 },
  signUpIp: { points: 3, seconds: 60 },
  sendMessage: { points: 5, seconds: 60 },
  setTyping: { points: 3, seconds: 60 },
};

beforeAll(async () => {
  const settings = Object.fromEntries(Object.entries(LIMITS).map(([name, { points, seconds }]) => [name, { points, seconds }]));
  server = await startServer({
    rateLimits: { enabled: true, settings: { ...settings, ...tight } as LimitSettings },
    websocket: {
      maxPayloadBytes: 65_536,
      maxBufferedBytes: 65_536,
      maxSubscriptionsPerSocket: 3,
      maxSocketsPerUser: 3,
      maxSocketsPerAddress: 50,
      anonymousIdleMs: 1_000,
    },
  });
});

afterAll(async () => {
  await server.stop();
});

/** A user made through the service, so that making one does not spend the sign-up limit. */
async function makeUser(name: string, on: TestServer = server): Promise<TestUser> {
  const suffix = crypto.randomBytes(4).toString('hex');
  const handle = `${name}-${suffix}`;
  const email = `${handle}@example.com`;
  const password = `pw-${suffix}-long-secret`;
  const { token, user } = await signUp(on.app.runtime, { email, password, name, handle });
  return { id: encodeGlobalID('User', user.id), handle, email, password, token };
}

function expectRetryAfter(error: { extensions?: Record<string, unknown> }) {
  expect(Number.isInteger(error.extensions?.retryAfter)).toBe(true);
  expect(error.extensions?.retryAfter as number).toBeGreaterThan(0);
}

describe(`rate limits (${backendName})`, () => {
  it('backs off password guessing per email: RATE_LIMITED with retryAfter, even for the right password', async () => {
    const victim = await makeUser('victim');
    for (let i = 0; i < 3; i++) {
      await refused(server, 'UNAUTHENTICATED', LogInDocument, { input: { email: victim.email, password: `wrong-${i}-password` } });
    }
    const error = await refused(server, 'RATE_LIMITED', LogInDocument, { input: { email: victim.email, password: victim.password } });
    expectRetryAfter(error);
    // Another account is not locked by it.
    const other = await makeUser('other');
    expect((await ok(server, LogInDocument, { input: { email: other.email, password: other.password } })).logIn.user.id).toBe(other.id);
  });

  it('limits sign-ups per address, and a refused sign-up creates nothing', async () => {
    const attempt = (i: number) => {
      const handle = `sweep-${i}-${crypto.randomBytes(3).toString('hex')}`;
      return { input: { email: `${handle}@example.com`, password: 'a-long-enough-password', name: 'Sweep', handle } };
    };
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await request(server, SignUpDocument, attempt(i)));
    const codes = results.map((r) => r.errors?.[0]?.extensions?.code ?? 'OK');
    expect(codes.slice(0, 3).every((code) => code === 'OK' || code === 'RATE_LIMITED')).toBe(true);
    expect(codes[3]).toBe('RATE_LIMITED');
    expectRetryAfter(results[3]!.errors![0]!);
    const refusedInput = attempt(3).input;
    await refused(server, 'UNAUTHENTICATED', LogInDocument, { input: { email: refusedInput.email, password: refusedInput.password } });
  });

  it('limits sendMessage per user; the refused message is not stored', async () => {
    const [ann, bob] = await Promise.all([makeUser('ann'), makeUser('bob')]);
    const workspaceId = await workspaceWith(server, ann, []);
    const channelId = await channelWith(server, workspaceId, ann);
    for (let i = 0; i < 5; i++) await ok(server, SendMessageDocument, { input: { channelId, text: `m${i}` } }, ann.token);
    const error = await refused(server, 'RATE_LIMITED', SendMessageDocument, { input: { channelId, text: 'one too many' } }, ann.token);
    expectRetryAfter(error);
    const { channel } = await ok(server, ChannelMessagesDocument, { id: channelId, last: 10 }, ann.token);
    expect(channel!.messages.edges.map((e) => e.node.text)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    // Limits are per user: bob is not affected by ann.
    expect(bob.id).not.toBe(ann.id);
  });

  it('limits setTyping per user', async () => {
    const ann = await makeUser('typist');
    const workspaceId = await workspaceWith(server, ann, []);
    const channelId = await channelWith(server, workspaceId, ann);
    for (let i = 0; i < 3; i++) await ok(server, SetTypingDocument, { channelId }, ann.token);
    expectRetryAfter(await refused(server, 'RATE_LIMITED', SetTypingDocument, { channelId }, ann.token));
  });
});

/** A raw socket speaking graphql-transport-ws, for what a well-behaved client would never do. */
function rawSocket(token?: string): Promise<WebSocket> {
  const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('open', () => {
      socket.send(JSON.stringify({ type: 'connection_init', payload: token ? { authorization: `Bearer ${token}` } : {} }));
      resolve(socket);
    });
  });
}

const closeOf = (socket: WebSocket, ms = 10_000) =>
  new Promise<number>((resolve, reject) => {
    if (socket.readyState === WebSocket.CLOSED) return resolve(-1);
    const timer = setTimeout(() => reject(new Error(`socket not closed within ${ms} ms`)), ms);
    socket.once('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });

describe(`WebSocket limits (${backendName})`, () => {
  it('caps subscriptions per socket: the one over the cap gets an error, the others go on', async () => {
    const ann = await makeUser('subs');
    const workspaceId = await workspaceWith(server, ann, []);
    const channelId = await channelWith(server, workspaceId, ann);
    const client = connect(server, ann.token);
    const subs = [0, 1, 2].map(() => subscribe(client, ChannelEventsDocument, { channelId }));
    await waitForSubscribers(server, channelId, 3);
    const over = subscribe(client, ChannelEventsDocument, { channelId });
    const error = (await over.waitForError()) as { extensions?: { code?: string } }[];
    expect(JSON.stringify(error)).toContain('RATE_LIMITED');
    const sent = await ok(server, SendMessageDocument, { input: { channelId, text: 'still live' } }, ann.token);
    for (const sub of subs) await sub.waitFor((e) => e.channelEvents.message?.id === sent.sendMessage.id, 'the message');
  });

  it('caps sockets per user: the one over the cap is closed with 4429', async () => {
    const ann = await makeUser('sockets');
    const open = await Promise.all([0, 1, 2].map(() => rawSocket(ann.token)));
    await Promise.all(open.map((socket) => new Promise((resolve) => socket.once('message', resolve))));
    const fourth = await rawSocket(ann.token);
    expect(await closeOf(fourth)).toBe(4429);
    expect(open.every((socket) => socket.readyState === WebSocket.OPEN)).toBe(true);
    for (const socket of open) socket.close();
  });

  it('closes a socket without a token that stays idle, and not one with a token', async () => {
    const ann = await makeUser('idle');
    const withToken = await rawSocket(ann.token);
    const anonymous = await rawSocket();
    expect(await closeOf(anonymous)).toBe(1000);
    expect(withToken.readyState).toBe(WebSocket.OPEN);
    withToken.close();
  });

  it('refuses frames over the payload limit by closing the socket (1009)', async () => {
    const socket = await rawSocket();
    socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: `{ __typename }`, extensions: { pad: 'x'.repeat(100_000) } } }));
    expect(await closeOf(socket)).toBe(1009);
  });

  it('closes a client that sends operations but never reads, instead of buffering its answers without bound', async () => {
    // Every operation may run here: what is bounded is what waits to be sent.
    const roomy = await startServer({
      dataDir: path.join(testDataDir, 'roomy'),
      websocket: { ...server.config.websocket, maxSubscriptionsPerSocket: 10_000, maxBufferedBytes: 1_000_000 },
    });
    const reader = await makeUser('reader', roomy);
    const socket = new WebSocket(roomy.wsUrl, 'graphql-transport-ws');
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${reader.token}` } }));
    await new Promise((resolve) => socket.once('message', resolve)); // connection_ack
    // Stop reading at the TCP level: answers pile up in the kernel, then in the server.
    const tcp = (socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    tcp.pause();
    const query = '{ __schema { types { name description fields { name description args { name description } } } } }';
    for (let i = 0; i < 600; i++) {
      socket.send(JSON.stringify({ id: String(i), type: 'subscribe', payload: { query } }));
      if (i % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
    }
    // Several megabytes of answers cannot all wait in the kernel: the server gives up on this reader.
    await until(async () => (await roomy.app.runtime.metrics.slowReadersClosed.get()).values[0]?.value === 1, 'the slow reader to be closed', 90_000);
    const closed = closeOf(socket, 30_000);
    tcp.resume();
    expect(await closed).toBe(1013);
    // The server is fine.
    expect((await fetch(roomy.url.replace('/graphql', '/healthz'))).status).toBe(200);
    await roomy.stop();
  }, 120_000);
});
