import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AddReactionDocument,
  ChannelEventsDocument,
  ChannelEventsForViewerDocument,
  LeaveChannelDocument,
} from '../client/generated/graphql.ts';
import { connect, ok, subscribe, type LiveSubscription } from './support/client.ts';
import { backendName, waitForSubscribers } from './support/server.ts';
import { channelWith, sendText, startTeam, type Team, type TestUser } from './support/world.ts';

let team: Team;

beforeAll(async () => {
  team = await startTeam();
});

afterAll(async () => {
  await team.server.stop();
});

/** The fan-out counters of /metrics, read from the app's registry. */
const fanout = async () => {
  const { metrics } = team.server.app.runtime;
  const total = async (counter: typeof metrics.eventExecutions) => (await counter.get()).values.reduce((sum, v) => sum + v.value, 0);
  return { executions: await total(metrics.eventExecutions), frames: await total(metrics.eventsDelivered) };
};

/** Subscribes each user's own socket to `document` on the channel and waits until all are live. */
async function subscribeAll<R>(
  channelId: string,
  users: TestUser[],
  document: Parameters<typeof subscribe<R, { channelId: string }>>[1],
): Promise<LiveSubscription<R>[]> {
  const subs = users.map((user) => subscribe(connect(team.server, user.token), document, { channelId }));
  await waitForSubscribers(team.server, channelId, users.length);
  return subs;
}

describe(`shared execution of subscription events (${backendName})`, () => {
  it('executes an event once for every subscriber with the same document, and writes a frame to each', async () => {
    const { ann, bob, cat, workspaceId } = team;
    const channelId = await channelWith(team.server, workspaceId, ann, [bob, cat]);
    const viewers = [ann, bob, cat, ann, bob, cat, ann, bob, cat, ann, bob, cat];
    const subs = await subscribeAll(channelId, viewers, ChannelEventsDocument);
    const before = await fanout();
    const sent = await sendText(team.server, ann.token, channelId, 'to everyone at once');
    const received = await Promise.all(subs.map((sub) => sub.waitFor((e) => e.channelEvents.message?.id === sent.id, 'the message')));
    const after = await fanout();

    expect(after.executions - before.executions).toBe(1);
    expect(after.frames - before.frames).toBe(viewers.length);
    for (const event of received) expect(event.channelEvents).toMatchObject({ type: 'MESSAGE_ADDED', message: { text: 'to everyone at once' } });
  });

  it('never shares a viewer-dependent field: each viewer gets their own reactedByMe, unreadCount and email', async () => {
    const { ann, bob, cat, workspaceId } = team;
    const channelId = await channelWith(team.server, workspaceId, ann, [bob, cat]);
    const viewers = [ann, bob, cat, ann, bob, cat];
    const subs = await subscribeAll(channelId, viewers, ChannelEventsForViewerDocument);
    const message = await sendText(team.server, bob.token, channelId, 'react to me');
    await Promise.all(subs.map((sub) => sub.waitFor((e) => e.channelEvents.type === 'MESSAGE_ADDED', 'the message')));

    const before = await fanout();
    await ok(team.server, AddReactionDocument, { messageId: message.id, emoji: '👍' }, ann.token);
    const events = await Promise.all(
      subs.map((sub) => sub.waitFor((e) => e.channelEvents.type === 'REACTION_ADDED', 'the reaction').then((e) => e.channelEvents)),
    );
    const after = await fanout();

    // Posting marks one's own channel read: bob has read his message, ann and cat have not.
    const expected = {
      [ann.id]: { reactedByMe: true, unreadCount: 1, email: ann.email },
      [bob.id]: { reactedByMe: false, unreadCount: 0, email: null },
      [cat.id]: { reactedByMe: false, unreadCount: 1, email: null },
    };
    events.forEach((event, i) => {
      const mine = expected[viewers[i]!.id]!;
      expect(event.message!.reactions).toEqual([{ emoji: '👍', count: 1, reactedByMe: mine.reactedByMe }]);
      expect(event.channel.unreadCount).toBe(mine.unreadCount);
      expect(event.user).toEqual({ id: ann.id, email: mine.email });
    });
    // One execution per viewer, shared by that viewer's two sockets.
    expect(after.executions - before.executions).toBe(3);
    expect(after.frames - before.frames).toBe(viewers.length);
  });

  it('stops delivering to a member who leaves at once, while the others of their group go on', async () => {
    const { ann, bob, cat, workspaceId } = team;
    const channelId = await channelWith(team.server, workspaceId, ann, [bob, cat], { private: true });
    const [bobSub, catSub] = await subscribeAll(channelId, [bob, cat], ChannelEventsDocument);
    await ok(team.server, LeaveChannelDocument, { channelId }, cat.token);
    await catSub!.waitForError();
    const after = await sendText(team.server, ann.token, channelId, 'after cat left');
    await bobSub!.waitFor((e) => e.channelEvents.message?.id === after.id, 'the message after the leave');

    expect(catSub!.events.map((e) => e.channelEvents.type)).toEqual(['MEMBER_LEFT']);
    expect(catSub!.events.some((e) => e.channelEvents.message?.id === after.id)).toBe(false);
  });
});
