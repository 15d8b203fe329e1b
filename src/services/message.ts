import { z } from 'zod';
import { prisma } from '../db.ts';
import { conflict, forbidden, isUniqueViolation, notFound, parseInput } from '../errors.ts';
import type { Message } from '../generated/prisma/client.ts';
import { requireReadableChannel } from './access.ts';
import type { Viewer } from './auth.ts';
import { publishEvents, recordEvents, takeSeq } from './channelEvent.ts';
import { pubsub, topics, type ChannelEventPayload, type TopicStream } from '../pubsub.ts';

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

  try {
    const { message, payloads } = await prisma.$transaction(async (tx) => {
      const { firstSeq: seq, messageCount } = await takeSeq(tx, channelId, 1, { messageCount: rootId ? 0 : 1 });
      const message = await tx.message.create({
        data: {
          channelId,
          seq,
          number: rootId ? null : messageCount,
          authorId: viewer.userId,
          text,
          clientMessageId: clientMessageId ?? null,
          threadRootId: rootId,
        },
      });
      const payloads = await recordEvents(tx, channelId, seq, [
        { type: 'MESSAGE_ADDED', messageId: message.id, userId: viewer.userId },
      ]);
      if (rootId) {
        await tx.message.update({ where: { id: rootId }, data: { replyCount: { increment: 1 } } });
      } else {
        // Posting in a channel means having read it up to one's own message.
        await tx.membership.update({
          where: { channelId_userId: { channelId, userId: viewer.userId } },
          data: { lastReadNumber: messageCount, lastReadSeq: seq },
        });
      }
      return { message, payloads };
    });
    await publishEvents(payloads);
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

async function findByClientId(viewer: Viewer, channelId: string, clientMessageId: string): Promise<Message | null> {
  const first = await prisma.message.findUnique({
    where: { authorId_clientMessageId: { authorId: viewer.userId, clientMessageId } },
  });
  if (first && first.channelId !== channelId) {
    throw conflict('This clientMessageId was already used for a message in another channel.', 'clientMessageId');
  }
  return first;
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
  const message = await prisma.message.findUnique({ where: { id: messageId } });
  if (!message) throw notFound('Message');
  try {
    await requireReadableChannel(viewer, message.channelId);
  } catch {
    throw notFound('Message');
  }
  return message;
}

/**
 * Streams MESSAGE_ADDED events (ids only) of a channel the viewer may read.
 * It listens before checking access, so nothing published in between is missed.
 */
export async function streamMessages(viewer: Viewer, channelId: string): Promise<TopicStream<ChannelEventPayload>> {
  const stream = pubsub.subscribe(topics.channel(channelId), (event) => event.type === 'MESSAGE_ADDED');
  try {
    await requireReadableChannel(viewer, channelId);
    await stream.ready;
  } catch (error) {
    await stream.return();
    throw error;
  }
  return stream;
}
