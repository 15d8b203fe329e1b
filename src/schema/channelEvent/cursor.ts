import { decodeBase64, decodeCursorChunk, encodeBase64 } from '@pothos/core';
import { badInput } from '../../errors.ts';
import { quote } from '../../security/input.ts';

/** The opaque cursor of a channel event: strictly increasing within its channel. */
export function eventCursor(channelId: string, seq: number): string {
  return encodeBase64(`CE:${channelId}:${seq}`);
}

/**
 * The sequence number a cursor points at: a ChannelEvent.cursor, or a message
 * edge cursor (Channel.messages / Message.replies). Anything else, or a cursor
 * of another channel, is BAD_USER_INPUT.
 */
export function parseEventCursor(cursor: string, channelId: string): number {
  const invalid = () => badInput(`${quote(cursor)} is not a cursor of this channel's events or messages.`, 'after');
  if (cursor.length > 500) throw invalid();
  let decoded: string;
  try {
    decoded = decodeBase64(cursor);
  } catch {
    throw invalid();
  }
  let cursorChannel: unknown;
  let seq: unknown;
  if (decoded.startsWith('CE:')) {
    [, cursorChannel, seq] = decoded.split(':');
    seq = Number(seq);
  } else if (decoded.startsWith('GPC:')) {
    try {
      const parts = decodeCursorChunk(decoded.slice(4));
      if (Array.isArray(parts)) [cursorChannel, seq] = parts;
    } catch {
      throw invalid();
    }
  }
  if (cursorChannel !== channelId || typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw invalid();
  return seq;
}
