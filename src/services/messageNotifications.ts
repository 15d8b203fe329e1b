import type { Message } from '../generated/prisma/client.ts';
import type { ChannelKind, NotificationType, NotifyLevel } from '../generated/prisma/enums.ts';
import { perRuntime, type Runtime } from '../runtime.ts';
import { notify, type NotificationDraft } from './notifications.ts';

/*
 * Who a message notifies, planned after it committed (never in the send's
 * statement): MENTION for the members it @-mentions (and everyone for
 * @channel / @everyone, everyone online for @here), DIRECT_MESSAGE for the
 * other members of a direct or group conversation, THREAD_REPLY for a
 * thread's followers. One notification per person per message, a mention
 * first. Members who muted the channel, or set it to NONE, get nothing; with
 * MENTIONS only mentions.
 */

/** `@channel`, `@everyone` or `@here` in a message's text. */
const BROADCAST = /(?:^|[^\w@.])@(channel|everyone|here)(?![\w.-]*[\w])/i;

const MEMBER_SETTINGS = { userId: true, muted: true, notify: true } as const;

/** Channels with more members than this take @channel / @here from owners and admins only. */
export const BROADCAST_MEMBER_LIMIT = 50;

/**
 * Plans and records the notifications of a message that was just sent.
 * `mentioned`: the members whose handles it @-mentions (as send_messages
 * found them). With `mentionsOnly` (an edit that added mentions) nothing
 * else is planned and broadcasts are not repeated.
 */
export async function notifyMessage(rt: Runtime, message: Message, mentioned: readonly string[], mentionsOnly = false): Promise<void> {
  const channel = await channelKind(rt, message.channelId);
  if (!channel) return;
  const mentions = new Set(mentioned);
  const others = new Map<string, NotificationType>();
  const broadcast = mentionsOnly ? undefined : BROADCAST.exec(message.text)?.[1]?.toLowerCase();
  // Every member with their settings, read once when a broadcast or a conversation needs them all.
  type Setting = { userId: string; muted: boolean; notify: NotifyLevel };
  let members: Setting[] | null = null;
  const channelMembers = async () =>
    (members ??= await rt.prisma.membership.findMany({ where: { channelId: message.channelId }, select: MEMBER_SETTINGS }));

  if (broadcast && (await mayBroadcast(rt, channel.workspaceId, message.authorId, (await channelMembers()).length))) {
    let everyone = (await channelMembers()).map((m) => m.userId).filter((id) => id !== message.authorId);
    if (broadcast === 'here') {
      const online = await rt.presence.isOnline(everyone);
      everyone = everyone.filter((_, i) => online[i]);
    }
    for (const id of everyone) mentions.add(id);
  }
  if (!mentionsOnly) {
    if (message.threadRootId) {
      const followers = await rt.prisma.threadMembership.findMany({ where: { rootId: message.threadRootId }, select: { userId: true } });
      for (const { userId } of followers) others.set(userId, 'THREAD_REPLY');
    } else if (channel.kind !== 'CHANNEL') {
      for (const { userId } of await channelMembers()) others.set(userId, 'DIRECT_MESSAGE');
    }
  }

  const candidates = [...new Set([...mentions, ...others.keys()])].filter((id) => id !== message.authorId);
  if (candidates.length === 0) return;
  // Only members: a thread follower who left the channel is not told about it.
  const wanted = new Set(candidates);
  const settings: Setting[] = members
    ? (members as Setting[]).filter((m) => wanted.has(m.userId))
    : await rt.prisma.membership.findMany({ where: { channelId: message.channelId, userId: { in: candidates } }, select: MEMBER_SETTINGS });
  const base = { workspaceId: channel.workspaceId, actorId: message.authorId, channelId: message.channelId, messageId: message.id };
  const drafts: NotificationDraft[] = [];
  for (const { userId, muted, notify: level } of settings) {
    if (muted || level === 'NONE') continue;
    if (mentions.has(userId)) drafts.push({ ...base, userId, type: 'MENTION', groupKey: `mention:${message.id}` });
    else if (level === 'ALL') {
      const type = others.get(userId)!;
      const groupKey = type === 'THREAD_REPLY' ? `thread:${message.threadRootId}` : `dm:${message.channelId}:${message.authorId}`;
      drafts.push({ ...base, userId, type, groupKey });
    }
  }
  await notify(rt, drafts);
}

/** A channel's kind and workspace never change: each instance remembers them for its busiest channels. */
const kindsOf = perRuntime(() => new Map<string, { kind: ChannelKind; workspaceId: string }>());
const REMEMBERED_CHANNELS = 10_000;

async function channelKind(rt: Runtime, channelId: string): Promise<{ kind: ChannelKind; workspaceId: string } | null> {
  const known = kindsOf(rt);
  const cached = known.get(channelId);
  if (cached) return cached;
  const channel = await rt.prisma.channel.findUnique({ where: { id: channelId }, select: { kind: true, workspaceId: true } });
  if (!channel) return null;
  if (known.size >= REMEMBERED_CHANNELS) known.delete(known.keys().next().value!);
  known.set(channelId, channel);
  return channel;
}

async function mayBroadcast(rt: Runtime, workspaceId: string, authorId: string, memberCount: number): Promise<boolean> {
  if (memberCount <= BROADCAST_MEMBER_LIMIT) return true;
  const member = await rt.prisma.workspaceMember.findUnique({
    where: { workspaceId_userId: { workspaceId, userId: authorId } },
    select: { role: true },
  });
  return member?.role === 'OWNER' || member?.role === 'ADMIN';
}
