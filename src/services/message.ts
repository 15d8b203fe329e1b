import { z } from 'zod';
import { prisma } from '../db.ts';
import { badInput, conflict, DomainError, forbidden, isUniqueViolation, notFound, parseInput } from '../errors.ts';
import type { Message } from '../generated/prisma/client.ts';
import type { ChannelEventType } from '../generated/prisma/enums.ts';
import type { ChannelEventPayload } from '../pubsub.ts';
import { requireReadableChannel } from './access.ts';
import type { Viewer } from './auth.ts';
import {
  appendEvents,
  connectionLookback,
  publishEvents,
  publishToUsers,
  recordEvents,
  streamChannelEvents,
  takeSeq,
  type Tx,
} from './channelEvent.ts';

/** API.md: message text is 1 to 100,000 characters. */
export const MAX_MESSAGE_LENGTH = 100_000;

/** Counts characters as people do (code points), not UTF-16 units. */
const messageText = z
  .string()
  .refine((text) => text.trim().length > 0, 'must not be empty or only white space')
  .refine((text) => [...text].length <= MAX_MESSAGE_LENGTH, `must be at most ${MAX_MESSAGE_LENGTH.toLocaleString('en')} characters`);

const sendSchema = z.object({
  channelId: z.string(),
  text: messageText,
  clientMessageId: z.string().trim().min(1, 'must not be empty').max(128, 'must be at most 128 characters').nullish(),
  threadRootId: z.string().nullish(),
});

/**
 * Posts a message: one transaction takes the channel's next sequence number
 * and writes the message and its MESSAGE_ADDED event; then the event is
 * published. A retry with the same `clientMessageId` returns the first message.
 */
export async function sendMessage(viewer: Viewer, input: unknown): Promise<Message> {
  const { channelId, text, clientMessageId, threadRootId } = parseInput(sendSchema, input);
  const { isMember } = await requireReadableChannel(viewer, channelId);
  if (!isMember) throw forbidden('Join the channel before posting in it.');

  if (clientMessageId) {
    const first = await findByClientId(viewer, channelId, clientMessageId);
    if (first) return first;
  }
  const rootId = threadRootId ? await resolveThreadRoot(channelId, threadRootId) : null;
  const handles = mentionedHandles(text);

  try {
    const { message, payloads, newFollowers } = await prisma.$transaction(async (tx) => {
      const { firstSeq: seq, messageCount } = await takeSeq(tx, channelId, 1, { messageCount: rootId ? 0 : 1 });
      // The root's row lock numbers a thread's replies in order.
      const root = rootId
        ? await tx.message.update({
            where: { id: rootId },
            data: { replyCount: { increment: 1 } },
            select: { replyCount: true, authorId: true },
          })
        : null;
      const message = await tx.message.create({
        data: {
          channelId,
          seq,
          number: root ? null : messageCount,
          replyNumber: root ? root.replyCount : null,
          authorId: viewer.userId,
          text,
          clientMessageId: clientMessageId ?? null,
          threadRootId: rootId,
        },
      });
      const mentions = handles.length
        ? (
            await tx.membership.findMany({
              where: { channelId, userId: { not: viewer.userId }, user: { handle: { in: handles } } },
              select: { userId: true },
            })
          ).map((m) => m.userId)
        : [];
      if (mentions.length) {
        await tx.mention.createMany({
          data: mentions.map((userId) => ({
            messageId: message.id,
            userId,
            channelId,
            number: message.number,
            threadRootId: rootId,
            replyNumber: message.replyNumber,
          })),
        });
      }
      const payloads = await recordEvents(tx, channelId, seq, [
        {
          type: 'MESSAGE_ADDED',
          messageId: message.id,
          userId: viewer.userId,
          number: message.number,
          threadRootId: rootId,
          replyNumber: message.replyNumber,
          mentions,
        },
      ]);
      const newFollowers =
        rootId && root ? await followThread(tx, rootId, viewer.userId, root.replyCount, [root.authorId, ...mentions]) : [];
      if (!root) {
        // Posting in a channel means having read it up to one's own message.
        await tx.membership.update({
          where: { channelId_userId: { channelId, userId: viewer.userId } },
          data: { lastReadNumber: messageCount, lastReadSeq: seq },
        });
      }
      return { message, payloads, newFollowers };
    });
    await publishEvents(payloads);
    if (rootId) await publishToUsers(newFollowers, { type: 'THREAD_FOLLOWED', rootId, channelId });
    return message;
  } catch (error) {
    // The same clientMessageId sent twice at once: the other request won.
    if (clientMessageId && isUniqueViolation(error)) {
      const first = await findByClientId(viewer, channelId, clientMessageId);
      if (first) return first;
    }
    throw error;
  }
}

/** The lower-cased handles a text @-mentions (at most 50; handles as signUp accepts them). */
export function mentionedHandles(text: string): string[] {
  const handles = new Set<string>();
  for (const match of text.matchAll(/(?:^|[^\w@.])@([a-z0-9][a-z0-9_.-]{1,29})/gi)) {
    handles.add(match[1]!.toLowerCase().replace(/[.-]+$/, ''));
    if (handles.size >= 50) break;
  }
  return [...handles];
}

async function findByClientId(viewer: Viewer, channelId: string, clientMessageId: string): Promise<Message | null> {
  const first = await prisma.message.findUnique({
    where: { authorId_clientMessageId: { authorId: viewer.userId, clientMessageId } },
  });
  if (first && first.channelId !== channelId) {
    throw conflict('This clientMessageId was already used for a message in another channel.', 'clientMessageId');
  }
  return first;
}

/**
 * Makes the replier, the root's author and those mentioned follow the thread;
 * the replier has read it up to their own reply. Returns who started following.
 */
async function followThread(tx: Tx, rootId: string, replierId: string, replyNumber: number, others: string[]): Promise<string[]> {
  const everyone = [...new Set([replierId, ...others])];
  const existing = await tx.threadMembership.findMany({
    where: { rootId, userId: { in: everyone } },
    select: { userId: true },
  });
  const have = new Set(existing.map((t) => t.userId));
  const fresh = everyone.filter((userId) => !have.has(userId));
  await tx.threadMembership.createMany({
    data: fresh.map((userId) => ({ rootId, userId, lastReadReplyNumber: userId === replierId ? replyNumber : 0 })),
    skipDuplicates: true,
  });
  await tx.threadMembership.updateMany({
    where: { rootId, userId: replierId, lastReadReplyNumber: { lt: replyNumber } },
    data: { lastReadReplyNumber: replyNumber },
  });
  return fresh;
}

/** Replies attach to the thread's root, even when they answer a reply. */
async function resolveThreadRoot(channelId: string, threadRootId: string): Promise<string> {
  const target = await prisma.message.findUnique({
    where: { id: threadRootId },
    select: { id: true, channelId: true, threadRootId: true },
  });
  if (!target || target.channelId !== channelId) throw notFound('Thread root message');
  return target.threadRootId ?? target.id;
}

/** A message in a channel the viewer may read, or NOT_FOUND. */
export async function getMessage(viewer: Viewer, messageId: string): Promise<Message> {
  return (await loadReadable(viewer, messageId)).message;
}

/**
 * Streams the channel's new messages (MESSAGE_ADDED events, ids only), in
 * order and gap-free, for as long as the viewer may read the channel; on a new
 * connection, from just before it opened (see {@link connectionLookback}).
 */
export function streamMessages(
  viewer: Viewer,
  channelId: string,
  connectedAt: number | null = null,
): Promise<AsyncIterableIterator<ChannelEventPayload>> {
  return streamChannelEvents(viewer, channelId, { types: MESSAGE_ADDED, since: connectionLookback(connectedAt) });
}

const MESSAGE_ADDED: ReadonlySet<ChannelEventType> = new Set(['MESSAGE_ADDED']);

/** A message the viewer may read, with the access they have to its channel; NOT_FOUND otherwise. */
async function loadReadable(viewer: Viewer, messageId: string) {
  const message = await prisma.message.findUnique({ where: { id: messageId } });
  if (!message) throw notFound('Message');
  try {
    return { message, ...(await requireReadableChannel(viewer, message.channelId)) };
  } catch (error) {
    // The channel's refusal speaks of the message; anything else (the database) is not a refusal.
    if (error instanceof DomainError) throw notFound('Message');
    throw error;
  }
}

const editSchema = z.object({ messageId: z.string(), text: messageText });

/** Changes a message's text: its author only; a deleted message cannot be edited. */
export async function editMessage(viewer: Viewer, input: unknown): Promise<Message> {
  const { messageId, text } = parseInput(editSchema, input);
  const { message } = await loadReadable(viewer, messageId);
  if (message.authorId !== viewer.userId) throw forbidden('Only the author can edit a message.');
  if (message.deletedAt) throw conflict('This message was deleted; it cannot be edited.');
  if (message.text === text) return message;
  const { updated, payloads } = await prisma.$transaction(async (tx) => {
    const updated = await tx.message.update({ where: { id: messageId }, data: { text, editedAt: new Date() } });
    const payloads = await appendEvents(tx, message.channelId, [
      { type: 'MESSAGE_EDITED', messageId, userId: viewer.userId },
    ]);
    return { updated, payloads };
  });
  await publishEvents(payloads);
  return updated;
}

/**
 * Soft-deletes a message: its author, or an owner or admin of the workspace.
 * The text is erased; thread replies stay. Deleting twice is a no-op.
 */
export async function deleteMessage(viewer: Viewer, messageId: string): Promise<Message> {
  const { message, channel } = await loadReadable(viewer, messageId);
  if (message.authorId !== viewer.userId) {
    const member = await prisma.workspaceMember.findUnique({
      where: { workspaceId_userId: { workspaceId: channel.workspaceId, userId: viewer.userId } },
      select: { role: true },
    });
    if (member?.role !== 'OWNER' && member?.role !== 'ADMIN') {
      throw forbidden('Only the author or a workspace admin can delete a message.');
    }
  }
  if (message.deletedAt) return message;
  const { deleted, payloads } = await prisma.$transaction(async (tx) => {
    const deleted = await tx.message.update({ where: { id: messageId }, data: { text: '', deletedAt: new Date() } });
    const payloads = await appendEvents(tx, message.channelId, [
      { type: 'MESSAGE_DELETED', messageId, userId: viewer.userId },
    ]);
    return { deleted, payloads };
  });
  await publishEvents(payloads);
  return deleted;
}

const SHORTCODE = /^:[a-z0-9_+-]{1,64}:$/;
const PICTOGRAPHIC = /\p{Extended_Pictographic}|\p{Regional_Indicator}|[#*0-9]\uFE0F?\u20E3/u;
const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' });

/** A reaction is one emoji (one grapheme, skin tones and ZWJ sequences included) or a `:shortcode:`. */
export function parseEmoji(emoji: string): string {
  const value = emoji.trim();
  if (SHORTCODE.test(value)) return value;
  const clusters = [...graphemes.segment(value)];
  if (clusters.length === 1 && PICTOGRAPHIC.test(value) && value.length <= 32) return value;
  throw badInput('emoji must be a single emoji or a :shortcode: (lower-case letters, digits, "_", "+", "-").', 'emoji');
}

async function changeReaction(viewer: Viewer, messageId: string, rawEmoji: string, add: boolean): Promise<Message> {
  const emoji = parseEmoji(rawEmoji);
  const { message, isMember } = await loadReadable(viewer, messageId);
  if (!isMember) throw forbidden('Join the channel before reacting in it.');
  if (add && message.deletedAt) throw conflict('This message was deleted; it cannot get reactions.');
  const payloads = await prisma.$transaction(async (tx) => {
    const key = { messageId, userId: viewer.userId, emoji };
    const { count } = add
      ? await tx.reaction.createMany({ data: [key], skipDuplicates: true })
      : await tx.reaction.deleteMany({ where: key });
    // Reacting twice (or removing what is not there) changes nothing and emits nothing.
    if (count === 0) return [];
    return appendEvents(tx, message.channelId, [
      { type: add ? 'REACTION_ADDED' : 'REACTION_REMOVED', messageId, userId: viewer.userId, emoji },
    ]);
  });
  await publishEvents(payloads);
  return message;
}

/** Adds the viewer's reaction; idempotent. Channel members only. */
export function addReaction(viewer: Viewer, messageId: string, emoji: string): Promise<Message> {
  return changeReaction(viewer, messageId, emoji, true);
}

/** Removes the viewer's reaction; idempotent. */
export function removeReaction(viewer: Viewer, messageId: string, emoji: string): Promise<Message> {
  return changeReaction(viewer, messageId, emoji, false);
}
