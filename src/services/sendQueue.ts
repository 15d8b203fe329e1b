import crypto from 'node:crypto';
import { isStatementError, type Database } from '../db.ts';
import type { Message } from '../generated/prisma/client.ts';
import { GroupCommit } from '../groupCommit.ts';
import type { ChannelEventPayload } from '../pubsub.ts';

/** One send, validated, on its way to the database. */
export interface SendRequest {
  channelId: string;
  authorId: string;
  text: string;
  clientMessageId: string | null;
  /** As the client sent it: a reply to a reply is attached to the root by the database. */
  threadRootId: string | null;
  /** Lower-cased handles the text @-mentions; members other than the author among them are mentioned. */
  handles: string[];
  /** Uploads of the author to attach, in order (checked again by the statement, under lock). */
  attachmentIds?: string[];
}

/** What became of one send (see the migrations that create `send_messages` and `send_messages_with_attachments`). */
export type SendOutcome =
  | { status: 'sent'; message: Message; event: ChannelEventPayload; newFollowers: string[] }
  /** The author already sent this clientMessageId in this channel: the first message, nothing written. */
  | { status: 'duplicate'; message: Message }
  /** The author used this clientMessageId in another channel. */
  | { status: 'conflict' }
  /** The author is not a member of the channel (or of its workspace), or the channel does not exist. */
  | { status: 'not_member' }
  /** The channel is archived (read-only). */
  | { status: 'archived' }
  /** The thread root does not exist or is in another channel. */
  | { status: 'no_root' }
  /** An attachment is not the author's completed upload in the channel's workspace, or was sent already. */
  | { status: 'bad_attachment' };

/** The app's queue of sends: concurrent sends share one statement and one commit. */
export type SendQueue = GroupCommit<SendRequest, SendOutcome>;

/** The most sends in one statement. */
export const MAX_SEND_BATCH = 256;
/**
 * Batches written at once on Postgres: enough that one slow batch does not
 * stall every channel, few enough to leave most of the pool to everything else.
 */
const POSTGRES_SENDS_IN_FLIGHT = 3;

/** Creates an app's send queue over its database (one batch at a time on PGlite, which has one connection). */
export function createSendQueue(db: Database): SendQueue {
  return new GroupCommit({
    maxBatch: MAX_SEND_BATCH,
    maxInFlight: Math.min(POSTGRES_SENDS_IN_FLIGHT, db.connections),
    write: (requests) => writeSends(db, requests),
    retryAlone: isStatementError,
  });
}

interface SendRow {
  item: number;
  outcome: SendOutcome['status'];
  message_seq: number | null;
  message_number: number | null;
  thread_root: string | null;
  reply_number: number | null;
  created_at: Date | null;
  mentioned: string[];
  new_followers: string[];
  first_message: MessageJson | null;
}

/** A Message row as `to_jsonb` renders it: timestamps are ISO strings. */
type MessageJson = Omit<Message, 'createdAt' | 'editedAt' | 'deletedAt'> & {
  createdAt: string;
  editedAt: string | null;
  deletedAt: string | null;
};

const SEND_MESSAGES = 'SELECT * FROM send_messages_with_attachments($1::jsonb)';

/** Writes a batch of sends in one statement, hence one transaction and one commit. */
async function writeSends(db: Database, requests: SendRequest[]): Promise<SendOutcome[]> {
  const items = requests.map((request, i) => ({ i, id: uuidv7(), ...request }));
  const rows = await db.sql<SendRow>(SEND_MESSAGES, [JSON.stringify(items)]);
  const outcomes: SendOutcome[] = [];
  for (const row of rows) outcomes[row.item] = toOutcome(items[row.item]!, row);
  return outcomes;
}

function toOutcome(item: SendRequest & { id: string }, row: SendRow): SendOutcome {
  switch (row.outcome) {
    case 'sent': {
      const createdAt = row.created_at!;
      const message: Message = {
        id: item.id,
        channelId: item.channelId,
        seq: row.message_seq!,
        number: row.message_number,
        authorId: item.authorId,
        text: item.text,
        clientMessageId: item.clientMessageId,
        threadRootId: row.thread_root,
        replyCount: 0,
        replyNumber: row.reply_number,
        createdAt,
        editedAt: null,
        deletedAt: null,
      };
      const event: ChannelEventPayload = {
        channelId: item.channelId,
        seq: message.seq,
        type: 'MESSAGE_ADDED',
        messageId: message.id,
        userId: item.authorId,
        emoji: null,
        number: message.number,
        threadRootId: message.threadRootId,
        replyNumber: message.replyNumber,
        mentions: row.mentioned,
        createdAt: createdAt.toISOString(),
      };
      return { status: 'sent', message, event, newFollowers: row.new_followers };
    }
    case 'duplicate':
      return { status: 'duplicate', message: fromJson(row.first_message!) };
    default:
      return { status: row.outcome };
  }
}

function fromJson(json: MessageJson): Message {
  const date = (value: string | null) => (value === null ? null : new Date(value));
  return { ...json, createdAt: new Date(json.createdAt), editedAt: date(json.editedAt), deletedAt: date(json.deletedAt) };
}

/**
 * A time-ordered UUID (RFC 9562 version 7), as Prisma's `@default(uuid(7))`
 * makes them: the database function is given the ids, so this is where they are made.
 */
export function uuidv7(): string {
  const bytes = crypto.randomBytes(16);
  bytes.writeUIntBE(Date.now(), 0, 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
