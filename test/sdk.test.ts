import crypto from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  ChannelMessagesDocument,
  CreateChannelDocument,
  CreateWorkspaceDocument,
  CreateWorkspaceInviteDocument,
  JoinWorkspaceDocument,
  LogInDocument,
  MeDocument,
  SignUpDocument,
} from '../client/generated/graphql.ts';
import { createParleyClient, ParleyError, type ChannelEvent, type ParleyClient, type ParleyClientOptions } from '../client/sdk/index.ts';
import { startInstance, stopInstance } from './support/instances.ts';
import { skipWithoutSharedServices, startServer, until, waitForSubscribers, type TestServer } from './support/server.ts';
import { startTcpProxy } from './support/tcpProxy.ts';

const clients = new Set<ParleyClient>();
afterEach(async () => {
  await Promise.all([...clients].map((client) => client.dispose()));
  clients.clear();
});

/** An SDK client as Node code would make one; disposed after the test. */
function sdk(url: string, options: Partial<ParleyClientOptions> = {}): ParleyClient {
  const client = createParleyClient({ url, webSocketImpl: WebSocket, retry: { baseDelayMs: 50, maxDelayMs: 1_000, attempts: 40 }, ...options });
  clients.add(client);
  return client;
}

interface Person {
  client: ParleyClient;
  id: string;
  email: string;
  password: string;
  token: string;
}

async function signUp(url: string, name: string, options: Partial<ParleyClientOptions> = {}): Promise<Person> {
  const client = sdk(url, options);
  const suffix = crypto.randomBytes(4).toString('hex');
  const handle = `${name}-${suffix}`;
  const email = `${handle}@example.com`;
  const password = `pw-${suffix}-secret`;
  const { signUp } = await client.mutate(SignUpDocument, { input: { email, password, name, handle } });
  client.setToken(signUp.token);
  return { client, id: signUp.user.id, email, password, token: signUp.token };
}

/** ann owns a workspace and a channel that bob is in. */
async function twoPeopleInAChannel(url: string) {
  const ann = await signUp(url, 'ann');
  const bob = await signUp(url, 'bob');
  const slug = `ws-${crypto.randomBytes(4).toString('hex')}`;
  const { createWorkspace } = await ann.client.mutate(CreateWorkspaceDocument, { input: { name: slug, slug } });
  const { createWorkspaceInvite } = await ann.client.mutate(CreateWorkspaceInviteDocument, { workspaceId: createWorkspace.id });
  await bob.client.mutate(JoinWorkspaceDocument, { code: createWorkspaceInvite.code });
  const { createChannel } = await ann.client.mutate(CreateChannelDocument, {
    input: { workspaceId: createWorkspace.id, name: `ch-${slug}`, private: false, memberIds: [bob.id] },
  });
  return { ann, bob, channelId: createChannel.id };
}

/** Every stored message of the channel, oldest first, page by page. */
async function history(client: ParleyClient, channelId: string) {
  const messages = [];
  for (let after: string | null | undefined; ; ) {
    const { channel } = await client.query(ChannelMessagesDocument, { id: channelId, first: 100, after });
    messages.push(...channel!.messages.edges.map((edge) => edge.node));
    if (!channel!.messages.pageInfo.hasNextPage) return messages;
    after = channel!.messages.pageInfo.endCursor;
  }
}

/** Collects a stream's events and fails the test on an out-of-order or repeated one. */
function collect() {
  const events: ChannelEvent[] = [];
  const errors: ParleyError[] = [];
  return {
    events,
    errors,
    onEvent(event: ChannelEvent) {
      const last = events.at(-1);
      if (last && event.seq <= last.seq) throw new Error(`seq ${event.seq} after ${last.seq}`);
      events.push(event);
    },
    onError: (error: ParleyError) => void errors.push(error),
    messageIds: () => events.filter((e) => e.type === 'MESSAGE_ADDED').map((e) => e.message!.id),
  };
}

describe('the typed client SDK', () => {
  let server: TestServer;

  it('signs up, sends, reads history and streams with typed results', async () => {
    server = await startServer();
    const { ann, bob, channelId } = await twoPeopleInAChannel(server.url);
    const received = collect();
    const stream = bob.client.streamChannel(channelId, received);
    await waitForSubscribers(server, channelId);

    const sent = await ann.client.sendMessage({ channelId, text: 'hello from the SDK' });
    expect(sent.clientMessageId).toMatch(/^[0-9a-f-]{36}$/);
    await until(() => received.events.length === 1, 'the event');
    expect(received.events[0]).toMatchObject({ type: 'MESSAGE_ADDED', message: { id: sent.id, text: 'hello from the SDK' } });
    expect(stream.cursor).toBe(received.events[0]!.cursor);
    expect((await history(bob.client, channelId)).map((m) => m.id)).toEqual([sent.id]);
    stream.stop();
  });

  it('surfaces errors with their extensions.code', async () => {
    server = await startServer();
    const anonymous = sdk(server.url);
    await expect(anonymous.query(MeDocument, {})).rejects.toMatchObject({ name: 'ParleyError', code: 'UNAUTHENTICATED' });
    const { ann } = await twoPeopleInAChannel(server.url);
    const error = await ann.client.sendMessage({ channelId: 'not-an-id', text: 'x' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ParleyError);
    expect(['BAD_USER_INPUT', 'NOT_FOUND']).toContain((error as ParleyError).code);
  });

  it('uses a token set with setToken for the next requests', async () => {
    server = await startServer();
    const ann = await signUp(server.url, 'ann');
    const bob = await signUp(server.url, 'bob');
    expect((await ann.client.query(MeDocument, {})).me.id).toBe(ann.id);
    ann.client.setToken(bob.token);
    expect((await ann.client.query(MeDocument, {})).me.id).toBe(bob.id);
  });

  it('refreshes a rejected token once and retries, over HTTP and WebSocket', async () => {
    server = await startServer();
    const { ann, bob, channelId } = await twoPeopleInAChannel(server.url);
    let refreshes = 0;
    const stale = sdk(server.url, {
      token: 'not-a-valid-token',
      onUnauthenticated: async () => {
        refreshes++;
        const { logIn } = await sdk(server.url).mutate(LogInDocument, { input: { email: bob.email, password: bob.password } });
        return logIn.token;
      },
    });
    expect((await stale.query(MeDocument, {})).me.id).toBe(bob.id);
    expect(refreshes).toBe(1);

    // The socket opened with a bad token closes with 4401; the stream refreshes and reconnects.
    stale.setToken('not-a-valid-token');
    const received = collect();
    stale.streamChannel(channelId, received);
    await until(() => refreshes === 2, 'the second refresh');
    await waitForSubscribers(server, channelId);
    const sent = await ann.client.sendMessage({ channelId, text: 'after the refresh' });
    await until(() => received.messageIds().includes(sent.id), 'the event on the refreshed socket');
    expect(received.errors).toEqual([]);

    // A hook that cannot help is asked once, and the error comes through.
    let hopeless = 0;
    const refused = sdk(server.url, { token: 'nope', onUnauthenticated: () => void hopeless++ });
    await expect(refused.query(MeDocument, {})).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(hopeless).toBe(1);
  });

  it('delivers every event exactly once and in order when the socket is cut while messages keep coming', async () => {
    server = await startServer();
    const { ann, bob, channelId } = await twoPeopleInAChannel(server.url);
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(server.url).port) });
    const through = sdk(server.url, { wsUrl: `ws://127.0.0.1:${proxy.port}/graphql`, token: bob.token });
    let connections = 0;
    through.ws.on('connected', () => void connections++);
    const received = collect();
    through.streamChannel(channelId, received);
    await waitForSubscribers(server, channelId);

    const sent: string[] = [];
    for (let i = 0; i < 30; i++) {
      if (i === 10) {
        proxy.refuse();
        proxy.cut();
      }
      if (i === 20) proxy.heal();
      sent.push((await ann.client.sendMessage({ channelId, text: `message ${i}` })).id);
    }
    await until(() => received.messageIds().length >= 30, 'all 30 events', 30_000);
    expect(connections).toBeGreaterThanOrEqual(2);
    expect(received.messageIds()).toEqual(sent);
    expect(received.messageIds()).toEqual((await history(ann.client, channelId)).map((m) => m.id));
    expect(received.errors).toEqual([]);
  });

  it('sends a message once when the first answer is lost on the way back', async () => {
    server = await startServer();
    const { ann, channelId } = await twoPeopleInAChannel(server.url);
    let calls = 0;
    // The request reaches the server and is committed; only the answer is lost, as when a connection drops.
    const losingFetch: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (++calls === 1) {
        await response.arrayBuffer();
        throw new TypeError('fetch failed: connection reset');
      }
      return response;
    };
    const flaky = sdk(server.url, { token: ann.token, fetch: losingFetch });
    const message = await flaky.sendMessage({ channelId, text: 'exactly once' });
    expect(calls).toBe(2);
    const stored = await history(ann.client, channelId);
    expect(stored.filter((m) => m.clientMessageId === message.clientMessageId)).toHaveLength(1);
    expect(stored.map((m) => m.id)).toEqual([message.id]);
  });

  it('resends with the same clientMessageId while the server cannot be reached', async () => {
    server = await startServer();
    const { ann, channelId } = await twoPeopleInAChannel(server.url);
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(server.url).port) });
    const flaky = sdk(`http://127.0.0.1:${proxy.port}/graphql`, { token: ann.token });
    proxy.refuse();
    const sending = flaky.sendMessage({ channelId, text: 'through the outage' });
    await until(() => proxy.accepted >= 2, 'two refused attempts');
    proxy.heal();
    const message = await sending;
    expect((await history(ann.client, channelId)).map((m) => m.id)).toEqual([message.id]);
  });
});

describe.skipIf(skipWithoutSharedServices)(
  `resuming across a server restart${skipWithoutSharedServices ? ` (${skipWithoutSharedServices})` : ''}`,
  () => {
    it('delivers every event exactly once and in order while the streaming instance restarts', { timeout: 120_000 }, async () => {
      const streaming = await startInstance('streaming');
      const sending = await startInstance('sending');
      const { ann, bob, channelId } = await twoPeopleInAChannel(sending.url);
      const streamer = sdk(streaming.url, { token: bob.token });
      let connections = 0;
      streamer.ws.on('connected', () => void connections++);
      // Start from a message edge cursor: the stream misses nothing even before it is live.
      await ann.client.sendMessage({ channelId, text: 'before the stream' });
      const { channel } = await ann.client.query(ChannelMessagesDocument, { id: channelId, last: 1 });
      const received = collect();
      streamer.streamChannel(channelId, { ...received, after: channel!.messages.edges[0]!.cursor });
      const first = await ann.client.sendMessage({ channelId, text: 'first' });
      await until(() => received.messageIds().includes(first.id), 'the first event', 20_000);

      const sent = [first.id];
      const port = new URL(streaming.url).port;
      const restart = (async () => {
        await stopInstance(streaming);
        await startInstance('streaming-again', { PORT: port });
      })();
      let restarted = false;
      void restart.then(() => (restarted = true));
      // Keep sending through the other instance for the whole restart, and a little after.
      for (let i = 0; !restarted || i < 40; i++) {
        sent.push((await ann.client.sendMessage({ channelId, text: `message ${i}` })).id);
      }
      await restart;
      for (let i = 0; i < 5; i++) sent.push((await ann.client.sendMessage({ channelId, text: `after ${i}` })).id);

      await until(() => received.messageIds().length >= sent.length, `all ${sent.length} events`, 60_000);
      expect(connections).toBeGreaterThanOrEqual(2);
      expect(received.messageIds()).toEqual(sent);
      expect(received.messageIds()).toEqual((await history(ann.client, channelId)).map((m) => m.id).slice(1));
      expect(received.errors).toEqual([]);
    });
  },
);
