import { z } from 'zod';
import { badInput, conflict, DomainError, forbidden, notFound, parseInput } from '../errors.ts';
import type { Message } from '../generated/prisma/client.ts';
import type { ChannelEventType } from '../generated/prisma/enums.ts';
import type { ChannelEventPayload } from '../pubsub.ts';
import { bodyText } from '../security/text.ts';
import { archivedChannel, assertNotArchived, requireReadableChannel } from './access.ts';
import type { Viewer } from './auth.ts';
import { connectionLookback, streamChannelEvents } from './channelStream.ts';
import { checkAttachable, MAX_ATTACHMENTS_PER_MESSAGE, removeDeletedFiles } from './attachments.ts';
import { appendEvents, publishEvents, publishToUsers } from './eventLog.ts';
import { notifyMessage } from './messageNotifications.ts';
import { withdrawNotifications } from './notifications.ts';
import type { SendQueue } from './sendQueue.ts';
import type { Runtime } from '../runtime.ts';

/** API.md: message text is 1 to 100,000 characters. */
export const MAX_MESSAGE_LENGTH = 100_000;

/** Characters counted as people do (code points); the size is checked before anything else runs over the text. */
const messageText = bodyText(MAX_MESSAGE_LENGTH);

const sendSchema = z.object({
  channelId: z.string(),
  text: messageText,
  clientMessageId: z.string().max(1024, 'must be at most 128 characters').trim().min(1, 'must not be empty').max(128, 'must be at most 128 characters').nullish(),
  threadRootId: z.string().nullish(),
  attachmentIds: z.array(z.string()).max(MAX_ATTACHMENTS_PER_MESSAGE, `must name at most ${MAX_ATTACHMENTS_PER_MESSAGE} files`).nullish(),
});

/**
 * Posts a message (or a thread reply) as one statement: `send_messages`
 * checks membership and the clientMessageId, resolves the thread root, takes
 * the channel's next sequence number and writes the message, its
 * MESSAGE_ADDED event, mentions, thread follows and the author's read
 * position, and attaches the author's uploads named by `attachmentIds`. Concurrent sends share that statement and its commit (the app's
 * {@link SendQueue}); this answers after the commit, then publishes. A retry
 * with the same `clientMessageId` returns the first message.
 */
export async function sendMessage(rt: Runtime, viewer: Viewer, input: unknown): Promise<Message> {
  const { channelId, text, clientMessageId, threadRootId, attachmentIds } = parseInput(sendSchema, input);
  // Only sends with files wait for a check: the others reach the queue in the order they were made.
  if (attachmentIds?.length) await checkAttachable(rt, viewer, channelId, attachmentIds, clientMessageId ?? null);
  const outcome = await rt.sends.submit({
    channelId,
    authorId: viewer.userId,
    text,
    clientMessageId: clientMessageId ?? null,
    threadRootId: threadRootId ?? null,
    handles: mentionedHandles(text),
    attachmentIds: attachmentIds ?? [],
  });
  switch (outcome.status) {
    case 'sent': {
      const { message, event, newFollowers } = outcome;
      await publishEvents(rt, [event]);
      if (message.threadRootId) {
        await publishToUsers(rt, newFollowers, { type: 'THREAD_FOLLOWED', rootId: message.threadRootId, channelId });
      }
      rt.background.run('planning the notifications of a message', () => notifyMessage(rt, message, event.mentions));
      return message;
    }
    case 'duplicate':
      return outcome.message;
    case 'conflict':
      throw conflict('This clientMessageId was already used for a message in another channel.', 'clientMessageId');
    case 'no_root':
      throw notFound('Thread root message');
    case 'bad_attachment':
      throw conflict('An attachment was sent with another message meanwhile, or is no longer available.', 'attachmentIds');
    case 'not_member':
      // NOT_FOUND for a channel the viewer cannot read; FORBIDDEN for one they may read but have not joined.
      await requireReadableChannel(rt, viewer, channelId);
      throw forbidden('Join the channel before posting in it.');
    case 'archived':
      await requireReadableChannel(rt, viewer, channelId);
      throw archivedChannel();
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

/** A message in a channel the viewer may read, or NOT_FOUND. */
export async function getMessage(rt: Runtime, viewer: Viewer, messageId: string): Promise<Message> {
  return (await loadReadable(rt, viewer, messageId)).message;
}

/**
 * Streams the channel's new messages (MESSAGE_ADDED events, ids only), in
 * order and gap-free, for as long as the viewer may read the channel; on a new
 * connection, from just before it opened (see {@link connectionLookback}).
 */
export function streamMessages(rt: Runtime, 
  viewer: Viewer,
  channelId: string,
  connectedAt: number | null = null,
): Promise<AsyncIterableIterator<ChannelEventPayload>> {
  return streamChannelEvents(rt, viewer, channelId, { types: MESSAGE_ADDED, since: connectionLookback(connectedAt) });
}

const MESSAGE_ADDED: ReadonlySet<ChannelEventType> = new Set(['MESSAGE_ADDED']);

/** A message the viewer may read, with the access they have to its channel; NOT_FOUND otherwise. */
async function loadReadable(rt: Runtime, viewer: Viewer, messageId: string) {
  const message = await rt.prisma.message.findUnique({ where: { id: messageId } });
  if (!message) throw notFound('Message');
  try {
    return { message, ...(await requireReadableChannel(rt, viewer, message.channelId)) };
  } catch (error) {
    // The channel's refusal speaks of the message; anything else (the database) is not a refusal.
    if (error instanceof DomainError) throw notFound('Message');
    throw error;
  }
}

const editSchema = z.object({ messageId: z.string(), text: messageText });

/** Changes a message's text: its author only; a deleted message cannot be edited. */
export async function editMessage(rt: Runtime, viewer: Viewer, input: unknown): Promise<Message> {
  const { messageId, text } = parseInput(editSchema, input);
  const { message, channel } = await loadReadable(rt, viewer, messageId);
  if (message.authorId !== viewer.userId) throw forbidden('Only the author can edit a message.');
  assertNotArchived(channel);
  if (message.deletedAt) throw conflict('This message was deleted; it cannot be edited.');
  if (message.text === text) return message;
  const handles = mentionedHandles(text);
  const { updated, payloads, added } = await rt.prisma.$transaction(async (tx) => {
    const updated = await tx.message.update({ where: { id: messageId }, data: { text, editedAt: new Date() } });
    // Members the edit @-mentions for the first time: counted and notified once.
    const added = handles.length
      ? await tx.$queryRaw<{ userId: string }[]>`
          INSERT INTO "Mention" ("messageId", "userId", "channelId", number, "threadRootId", "replyNumber", "createdAt")
          SELECT ${messageId}::uuid, m."userId", m."channelId", ${message.number}::int, ${message.threadRootId}::uuid, ${message.replyNumber}::int, ${message.createdAt}
            FROM "Membership" m JOIN "User" u ON u.id = m."userId"
           WHERE m."channelId" = ${message.channelId}::uuid AND m."userId" <> ${message.authorId}::uuid AND u.handle = ANY (${handles}::text[])
          ON CONFLICT ("messageId", "userId") DO NOTHING
          RETURNING "userId"::text AS "userId"`
      : [];
    const payloads = await appendEvents(tx, message.channelId, [
      {
        type: 'MESSAGE_EDITED',
        messageId,
        userId: viewer.userId,
        number: message.number,
        threadRootId: message.threadRootId,
        replyNumber: message.replyNumber,
        mentions: added.map((row) => row.userId),
      },
    ]);
    return { updated, payloads, added: added.map((row) => row.userId) };
  });
  await publishEvents(rt, payloads);
  if (added.length) {
    rt.background.run('notifying the mentions an edit added', () => notifyMessage(rt, updated, added, true));
  }
  return updated;
}

/**
 * Soft-deletes a message: its author, or an owner or admin of the workspace.
 * The text is erased and its files removed; thread replies stay. Deleting twice is a no-op.
 */
export async function deleteMessage(rt: Runtime, viewer: Viewer, messageId: string): Promise<Message> {
  const { message, channel } = await loadReadable(rt, viewer, messageId);
  if (message.authorId !== viewer.userId) {
    const member = await rt.prisma.workspaceMember.findUnique({
      where: { workspaceId_userId: { workspaceId: channel.workspaceId, userId: viewer.userId } },
      select: { role: true },
    });
    if (member?.role !== 'OWNER' && member?.role !== 'ADMIN') {
      throw forbidden('Only the author or a workspace admin can delete a message.');
    }
  }
  if (message.deletedAt) return message;
  const { deleted, payloads, withdrawn, files } = await rt.prisma.$transaction(async (tx) => {
    const deletedAt = new Date();
    const deleted = await tx.message.update({ where: { id: messageId }, data: { text: '', deletedAt } });
    // Its files leave listings now; their bytes are removed after the commit.
    const { count: files } = await tx.attachment.updateMany({ where: { messageId }, data: { deletedAt } });
    const payloads = await appendEvents(tx, message.channelId, [
      {
        type: 'MESSAGE_DELETED',
        messageId,
        userId: viewer.userId,
        number: message.number,
        threadRootId: message.threadRootId,
        replyNumber: message.replyNumber,
      },
    ]);
    // A deleted message no longer mentions anyone, and its notifications are withdrawn.
    await tx.mention.deleteMany({ where: { messageId } });
    const withdrawn = await withdrawNotifications(tx, { messageId });
    return { deleted, payloads, withdrawn, files };
  });
  if (files) rt.background.run("removing a deleted message's files", () => removeDeletedFiles(rt, messageId));
  await publishEvents(rt, payloads);
  await publishToUsers(rt, withdrawn, { type: 'NOTIFICATIONS_CHANGED' });
  return deleted;
}

const SHORTCODE = /^:[a-z0-9_+-]{1,64}:$/;
const PICTOGRAPHIC = /\p{Extended_Pictographic}|\p{Regional_Indicator}|[#*0-9]\uFE0F?\u20E3/u;
const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' });

/** The longest reaction, in UTF-8 bytes: the longest ZWJ sequences take about 35. */
const MAX_EMOJI_BYTES = 64;

/**
 * A reaction is one emoji (one grapheme, skin tones and ZWJ sequences
 * included) or a `:shortcode:`. Its size is checked before graphemes are
 * segmented: segmenting a huge string is what used to stall the process.
 */
export function parseEmoji(emoji: string): string {
  // UTF-8 takes at least one byte per UTF-16 unit, so the cheap length check comes first.
  if (emoji.length > MAX_EMOJI_BYTES || Buffer.byteLength(emoji, 'utf8') > MAX_EMOJI_BYTES) {
    throw badInput(`emoji must be a single emoji or a :shortcode: of at most ${MAX_EMOJI_BYTES} bytes.`, 'emoji');
  }
  const value = emoji.trim();
  if (SHORTCODE.test(value)) return value;
  const clusters = [...graphemes.segment(value)];
  if (clusters.length === 1 && PICTOGRAPHIC.test(value) && value.length <= 32) return value;
  throw badInput('emoji must be a single emoji or a :shortcode: (lower-case letters, digits, "_", "+", "-").', 'emoji');
}

async function changeReaction(rt: Runtime, viewer: Viewer, messageId: string, rawEmoji: string, add: boolean): Promise<Message> {
  const emoji = parseEmoji(rawEmoji);
  const { message, isMember, channel } = await loadReadable(rt, viewer, messageId);
  if (!isMember) throw forbidden('Join the channel before reacting in it.');
  assertNotArchived(channel);
  if (add && message.deletedAt) throw conflict('This message was deleted; it cannot get reactions.');
  const payloads = await rt.prisma.$transaction(async (tx) => {
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
  await publishEvents(rt, payloads);
  return message;
}

/** Adds the viewer's reaction; idempotent. Channel members only. */
export function addReaction(rt: Runtime, viewer: Viewer, messageId: string, emoji: string): Promise<Message> {
  return changeReaction(rt, viewer, messageId, emoji, true);
}

/** Removes the viewer's reaction; idempotent. */
export function removeReaction(rt: Runtime, viewer: Viewer, messageId: string, emoji: string): Promise<Message> {
  return changeReaction(rt, viewer, messageId, emoji, false);
}
