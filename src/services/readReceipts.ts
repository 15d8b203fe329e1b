import type { Runtime } from '../runtime.ts';

/*
 * Read receipts ("seen by"). A member has read a top-level message when their
 * channel read position (Membership.lastReadNumber, moved by markRead, by
 * posting, and set on joining) has reached its number; when, is the time of
 * the first ReadMark at or after that number (a trigger writes one at every
 * forward move: migration 20261124110500_read_receipts). The author is never
 * a reader of their own message. Thread replies carry no receipts.
 */

/** Above this many members, `readBy` is refused; `readCount` stays cheap at any size. */
export const MAX_RECEIPT_MEMBERS = 100;

export interface ReceiptMessage {
  id: string;
  channelId: string;
  /** Null for thread replies. */
  number: number | null;
  authorId: string;
}

/** How many members stand at each read position, per channel (for counts at any size). */
export interface ChannelPositions {
  /** Members of the channel. */
  members: number;
  /** Read positions, highest first, with how many members stand at each. */
  positions: { position: number; members: number }[];
}

/**
 * The read positions of the members of `channelIds`, grouped (one row per
 * distinct position, not per member), and the positions of the given
 * (channel, user) pairs: one statement.
 */
export async function loadPositions(
  rt: Runtime,
  channelIds: readonly string[],
  people: readonly { channelId: string; userId: string }[],
): Promise<{ channels: Map<string, ChannelPositions>; people: Map<string, number> }> {
  const rows = await rt.prisma.$queryRaw<{ channelId: string; userId: string | null; position: number; members: number }[]>`
    SELECT "channelId"::text AS "channelId", NULL AS "userId", "lastReadNumber" AS position, count(*)::int AS members
      FROM "Membership" WHERE "channelId" = ANY(${[...channelIds]}::uuid[])
     GROUP BY "channelId", "lastReadNumber"
    UNION ALL
    SELECT m."channelId"::text, m."userId"::text, m."lastReadNumber", 1
      FROM "Membership" m
      JOIN unnest(${people.map((p) => p.channelId)}::uuid[], ${people.map((p) => p.userId)}::uuid[]) AS p(channel_id, user_id)
        ON m."channelId" = p.channel_id AND m."userId" = p.user_id`;
  const channels = new Map<string, ChannelPositions>(channelIds.map((id) => [id, { members: 0, positions: [] }]));
  const positions = new Map<string, number>();
  for (const row of rows) {
    if (row.userId) {
      positions.set(`${row.channelId}:${row.userId}`, row.position);
      continue;
    }
    const channel = channels.get(row.channelId)!;
    channel.members += row.members;
    channel.positions.push({ position: row.position, members: row.members });
  }
  for (const channel of channels.values()) channel.positions.sort((a, b) => b.position - a.position);
  return { channels, people: positions };
}

/** Members other than the author whose position reached the message. */
export function countReaders(message: ReceiptMessage, channel: ChannelPositions, authorPosition: number | undefined): number {
  if (message.number === null) return 0;
  let readers = 0;
  for (const { position, members } of channel.positions) {
    if (position < message.number) break;
    readers += members;
  }
  if (authorPosition !== undefined && authorPosition >= message.number) readers -= 1;
  return readers;
}

export interface ReceiptPageRequest {
  message: ReceiptMessage;
  /** Keyset position: readers after (readAt, userId). */
  after: { readAt: Date; userId: string } | null;
  take: number;
}

export interface Receipt {
  userId: string;
  readAt: Date;
}

/**
 * A page of readers for each request, first readers first (readAt, then user
 * id): one statement for all of them, however many messages a page shows.
 */
export async function loadReceiptPages(rt: Runtime, requests: readonly ReceiptPageRequest[]): Promise<Receipt[][]> {
  const asked = requests.filter((r) => r.message.number !== null);
  if (!asked.length) return requests.map(() => []);
  const rows = await rt.prisma.$queryRaw<{ request: number; userId: string; readAt: Date }[]>`
    SELECT p.request, r."userId"::text AS "userId", r."readAt"
      FROM unnest(
             ${asked.map((_, i) => i)}::int[],
             ${asked.map((r) => r.message.channelId)}::uuid[],
             ${asked.map((r) => r.message.number!)}::int[],
             ${asked.map((r) => r.message.authorId)}::uuid[],
             ${asked.map((r) => r.after?.readAt.toISOString() ?? '')}::text[],
             ${asked.map((r) => r.after?.userId ?? '')}::text[],
             ${asked.map((r) => r.take)}::int[]
           ) AS p(request, channel_id, number, author_id, after_at, after_user, take)
     CROSS JOIN LATERAL (
       SELECT reader."userId", reader."readAt" FROM (
         SELECT mb."userId", coalesce(mark."readAt", mb."lastReadAt", mb."joinedAt") AS "readAt"
           FROM "Membership" mb
           LEFT JOIN LATERAL (
             SELECT rm."readAt" FROM "ReadMark" rm
              WHERE rm."channelId" = mb."channelId" AND rm."userId" = mb."userId" AND rm.number >= p.number
              ORDER BY rm.number
              LIMIT 1
           ) mark ON true
          WHERE mb."channelId" = p.channel_id AND mb."lastReadNumber" >= p.number AND mb."userId" <> p.author_id
       ) reader
       WHERE p.after_at = '' OR (reader."readAt", reader."userId") > (NULLIF(p.after_at, '')::timestamptz, NULLIF(p.after_user, '')::uuid)
       ORDER BY reader."readAt", reader."userId"
       LIMIT p.take
     ) r
     ORDER BY p.request, r."readAt", r."userId"`;
  const pages = new Map<ReceiptPageRequest, Receipt[]>(asked.map((r) => [r, []]));
  for (const row of rows) pages.get(asked[row.request]!)!.push({ userId: row.userId, readAt: row.readAt });
  return requests.map((r) => pages.get(r) ?? []);
}
