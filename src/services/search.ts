import { badInput } from '../errors.ts';
import { Prisma, type Channel, type User } from '../generated/prisma/client.ts';
import type { Runtime } from '../runtime.ts';
import { quote } from '../security/input.ts';
import { requireWorkspaceMember } from './access.ts';
import type { Viewer } from './auth.ts';

/*
 * Full-text search over what a member may read in a workspace: messages and
 * thread replies of the channels (and direct and group conversations) they are
 * a member of, and the workspace's posts and comments. Postgres does the work:
 * GIN indexes over `to_tsvector('parley_search', text)` (migration
 * 20261124110000_search), `websearch_to_tsquery` for the words, `ts_rank_cd`
 * for the order and `ts_headline` for the snippets. The indexes are
 * expression indexes on the rows themselves, so an edit or a delete is
 * reflected the moment it commits.
 */

/** The text search configuration of the indexes and the queries (see src/searchLanguage.ts). */
const CONFIG = Prisma.raw(`'parley_search'::regconfig`);

/** The longest query accepted, in characters. */
export const MAX_QUERY_LENGTH = 500;
/** How many `from:` or `in:` filters one query may hold. */
const MAX_FILTER_VALUES = 10;

/**
 * Snippet highlight markers. Stored text cannot hold control characters (every
 * string argument is checked), so these never collide with what people wrote.
 */
export const HIGHLIGHT_START = '\u0002';
export const HIGHLIGHT_END = '\u0003';

export type SearchHitKind = 'Message' | 'Post' | 'Comment';

export interface ParsedQuery {
  /** What websearch_to_tsquery reads: words, "phrases", `or`, `-word`; empty when only filters were given. */
  text: string;
  /** `from:@handle` (lower-cased, without the @). */
  from: string[];
  /** `in:#channel` (without the #). */
  in: string[];
  hasAttachment: boolean;
  /** `before:YYYY-MM-DD`: created before that UTC day began. */
  before: Date | null;
  /** `after:YYYY-MM-DD`: created after that UTC day ended. */
  after: Date | null;
}

const FILTER = /^(from|in|has|before|after):(.*)$/i;
const DAY = 24 * 60 * 60 * 1000;

/** Midnight UTC of a `YYYY-MM-DD` day, or BAD_USER_INPUT. */
function parseDay(value: string, filter: string): Date {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  const date = match ? new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]))) : null;
  // Date.UTC rolls 2026-02-30 over to March: a real day reads back the same.
  if (!date || date.toISOString().slice(0, 10) !== value) {
    throw badInput(`${filter}: takes a date as YYYY-MM-DD (e.g. ${filter}:2026-11-24); got ${quote(value)}.`, 'query');
  }
  return date;
}

/**
 * Splits a search query into its words (kept for websearch_to_tsquery,
 * quoted phrases untouched) and its filters: `from:@handle`, `in:#channel`,
 * `has:attachment`, `before:YYYY-MM-DD`, `after:YYYY-MM-DD`. A filter inside
 * quotes is a phrase, not a filter. BAD_USER_INPUT for an empty or too long
 * query, a malformed date or an unknown `has:`.
 */
export function parseSearchQuery(query: string): ParsedQuery {
  const trimmed = query.trim();
  if (trimmed.length > MAX_QUERY_LENGTH) {
    throw badInput(`A search query has at most ${MAX_QUERY_LENGTH} characters; this one has ${trimmed.length}.`, 'query');
  }
  const parsed: ParsedQuery = { text: '', from: [], in: [], hasAttachment: false, before: null, after: null };
  const words: string[] = [];
  for (const [token] of trimmed.matchAll(/"[^"]*"?|[^\s"]+/g)) {
    const filter = token.startsWith('"') ? null : FILTER.exec(token);
    if (!filter) {
      words.push(token);
      continue;
    }
    const name = filter[1]!.toLowerCase();
    const value = filter[2]!;
    if (value === '') throw badInput(`${name}: needs a value, e.g. ${name === 'from' ? 'from:@ada' : name === 'in' ? 'in:#general' : name === 'has' ? 'has:attachment' : `${name}:2026-11-24`}.`, 'query');
    if (name === 'from') parsed.from.push(value.replace(/^@/, '').toLowerCase());
    else if (name === 'in') parsed.in.push(value.replace(/^#/, ''));
    else if (name === 'has') {
      if (value.toLowerCase() !== 'attachment') throw badInput(`has: takes "attachment"; got ${quote(value)}.`, 'query');
      parsed.hasAttachment = true;
    } else {
      const day = parseDay(value, name);
      // Several of one kind: the narrowest wins.
      if (name === 'before') parsed.before = parsed.before && parsed.before < day ? parsed.before : day;
      else {
        const end = new Date(day.getTime() + DAY);
        parsed.after = parsed.after && parsed.after > end ? parsed.after : end;
      }
    }
  }
  if (parsed.from.length > MAX_FILTER_VALUES || parsed.in.length > MAX_FILTER_VALUES) {
    throw badInput(`A search query holds at most ${MAX_FILTER_VALUES} from: and ${MAX_FILTER_VALUES} in: filters.`, 'query');
  }
  parsed.text = words.join(' ');
  if (!parsed.text && !parsed.from.length && !parsed.in.length && !parsed.hasAttachment && !parsed.before && !parsed.after) {
    throw badInput('Type something to search for: words, "a phrase", or a filter such as from:@handle.', 'query');
  }
  return parsed;
}

/** `has:attachment` as SQL: the message row aliased `message` carries a file that is not deleted. */
export function hasAttachmentPredicate(message: string): Prisma.Sql {
  return Prisma.sql`EXISTS (SELECT 1 FROM "Attachment" a WHERE a."messageId" = ${Prisma.raw(`${message}.id`)} AND a."deletedAt" IS NULL)`;
}

export interface SearchPosition {
  /** The hit's rank as stored in cursors: ts_rank_cd normalised to [0, 1), times 1e9, truncated. */
  rankKey: number;
  id: string;
}

export interface SearchHit extends SearchPosition {
  kind: SearchHitKind;
  /** The text around the matches, matches between {@link HIGHLIGHT_START} and {@link HIGHLIGHT_END}. */
  snippet: string;
}

export interface SearchInput {
  workspaceId: string;
  query: string;
  first: number;
  after: SearchPosition | null;
}

const AND = (parts: Prisma.Sql[]) => (parts.length ? Prisma.sql` AND ${Prisma.join(parts, ' AND ')}` : Prisma.empty);

/**
 * One page of hits, best first: by rank, then newest id first, read by keyset
 * on (rank, id). NOT_FOUND unless the viewer is a member of the workspace; a
 * `from:` or `in:` naming nobody or nothing the viewer is in finds nothing.
 */
export async function search(rt: Runtime, viewer: Viewer, input: SearchInput): Promise<{ hits: SearchHit[]; hasMore: boolean }> {
  const parsed = parseSearchQuery(input.query);
  await requireWorkspaceMember(rt, viewer, input.workspaceId);
  const none = { hits: [], hasMore: false };

  let authorIds: string[] | null = null;
  if (parsed.from.length) {
    const authors = await rt.prisma.user.findMany({
      where: { handle: { in: parsed.from }, workspaces: { some: { workspaceId: input.workspaceId } } },
      select: { id: true },
    });
    if (!authors.length) return none;
    authorIds = authors.map((a) => a.id);
  }
  let channelIds: string[] | null = null;
  if (parsed.in.length) {
    // Only channels the viewer is in: naming any other is the same as naming none.
    const channels = await rt.prisma.channel.findMany({
      where: { workspaceId: input.workspaceId, name: { in: parsed.in, mode: 'insensitive' }, memberships: { some: { userId: viewer.userId } } },
      select: { id: true },
    });
    if (!channels.length) return none;
    channelIds = channels.map((c) => c.id);
  }

  const tsquery = parsed.text ? Prisma.sql`websearch_to_tsquery(${CONFIG}, ${parsed.text})` : null;
  const matches = (column: string) =>
    tsquery ? [Prisma.sql`to_tsvector(${CONFIG}, ${Prisma.raw(column)}) @@ ${tsquery}`] : [];
  const rank = (column: string) =>
    tsquery ? Prisma.sql`floor(ts_rank_cd(to_tsvector(${CONFIG}, ${Prisma.raw(column)}), ${tsquery}, 32) * 1e9)::int` : Prisma.sql`0`;
  const common = (alias: string) => [
    ...(authorIds ? [Prisma.sql`${Prisma.raw(alias)}."authorId" = ANY(${authorIds}::uuid[])`] : []),
    ...(parsed.before ? [Prisma.sql`${Prisma.raw(alias)}."createdAt" < ${parsed.before}`] : []),
    ...(parsed.after ? [Prisma.sql`${Prisma.raw(alias)}."createdAt" >= ${parsed.after}`] : []),
  ];

  const branches = [
    // Messages and thread replies of the conversations the viewer is a member of, not deleted.
    Prisma.sql`
      SELECT 'Message' AS kind, message.id, message.text, ${rank('message.text')} AS rank_key
        FROM "Message" message
        JOIN "Membership" mb ON mb."channelId" = message."channelId" AND mb."userId" = ${viewer.userId}::uuid
        JOIN "Channel" c ON c.id = message."channelId" AND c."workspaceId" = ${input.workspaceId}::uuid
       WHERE message."deletedAt" IS NULL
         ${AND([
           ...matches('message.text'),
           ...common('message'),
           ...(channelIds ? [Prisma.sql`message."channelId" = ANY(${channelIds}::uuid[])`] : []),
           ...(parsed.hasAttachment ? [hasAttachmentPredicate('message')] : []),
         ])}`,
  ];
  // Posts and comments are in no channel and carry no attachments.
  if (!channelIds && !parsed.hasAttachment) {
    branches.push(
      Prisma.sql`
        SELECT 'Post' AS kind, post.id, post.text, ${rank('post.text')} AS rank_key
          FROM "Post" post
         WHERE post."workspaceId" = ${input.workspaceId}::uuid AND post."deletedAt" IS NULL
           ${AND([...matches('post.text'), ...common('post')])}`,
      Prisma.sql`
        SELECT 'Comment' AS kind, comment.id, comment.text, ${rank('comment.text')} AS rank_key
          FROM "Comment" comment
          JOIN "Post" post ON post.id = comment."postId" AND post."workspaceId" = ${input.workspaceId}::uuid AND post."deletedAt" IS NULL
         WHERE comment."deletedAt" IS NULL
           ${AND([...matches('comment.text'), ...common('comment')])}`,
    );
  }
  const seek = input.after ? Prisma.sql`WHERE (hit.rank_key, hit.id) < (${input.after.rankKey}::int, ${input.after.id}::uuid)` : Prisma.empty;
  // Highlighting is the costly part: only for the page's rows, after the LIMIT.
  // A short text is shown whole; a long one as fragments around its matches.
  const snippet = tsquery
    ? Prisma.sql`CASE WHEN length(page.text) <= ${SNIPPET_WHOLE_LENGTH}::int
        THEN ts_headline(${CONFIG}, page.text, ${tsquery}, ${HEADLINE_WHOLE})
        ELSE ts_headline(${CONFIG}, page.text, ${tsquery}, ${HEADLINE_FRAGMENTS}) END`
    : Prisma.sql`left(page.text, ${SNIPPET_WHOLE_LENGTH}::int)`;
  const rows = await rt.prisma.$queryRaw<{ kind: SearchHitKind; id: string; rankKey: number; snippet: string }[]>`
    SELECT page.kind, page.id::text AS id, page.rank_key AS "rankKey", ${snippet} AS snippet
      FROM (
        SELECT hit.* FROM (${Prisma.join(branches, ' UNION ALL ')}) hit
        ${seek}
        ORDER BY hit.rank_key DESC, hit.id DESC
        LIMIT ${input.first + 1}::int
      ) page
     ORDER BY page.rank_key DESC, page.id DESC`;
  return { hits: rows.slice(0, input.first), hasMore: rows.length > input.first };
}

/** Texts up to this many characters are their own snippet; a filters-only query shows this many. */
const SNIPPET_WHOLE_LENGTH = 300;
const HEADLINE_WHOLE = `StartSel=${HIGHLIGHT_START}, StopSel=${HIGHLIGHT_END}, HighlightAll=true`;
const HEADLINE_FRAGMENTS = `StartSel=${HIGHLIGHT_START}, StopSel=${HIGHLIGHT_END}, MaxWords=30, MinWords=12, ShortWord=2, MaxFragments=2, FragmentDelimiter=" … "`;

/** `LIKE` pattern for "starts with `prefix`" (case already folded), wildcards escaped. */
const startsWith = (prefix: string) => `${prefix.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

const cleanPrefix = (prefix: string) => {
  const trimmed = prefix.trim().replace(/^[@#]/, '');
  if (trimmed.length > 100) throw badInput('A prefix has at most 100 characters.', 'prefix');
  return trimmed;
};

/**
 * Members of the workspace whose handle or name starts with `prefix`
 * (case-insensitive; a leading @ is ignored), by handle, for mention pickers.
 * Reads the lower(handle) and lower(name) indexes. NOT_FOUND outside the workspace.
 */
export async function searchUsers(
  rt: Runtime,
  viewer: Viewer,
  input: { workspaceId: string; prefix: string; first: number; afterId: string | null },
): Promise<{ users: User[]; hasMore: boolean }> {
  const prefix = cleanPrefix(input.prefix);
  await requireWorkspaceMember(rt, viewer, input.workspaceId);
  const pattern = startsWith(prefix);
  const seek = input.afterId
    ? Prisma.sql`AND lower(u.handle) > (SELECT lower(handle) FROM "User" WHERE id = ${input.afterId}::uuid)`
    : Prisma.empty;
  const users = await rt.prisma.$queryRaw<User[]>`
    SELECT u.* FROM "User" u
     WHERE (lower(u.handle) LIKE ${pattern} OR lower(u.name) LIKE ${pattern})
       AND EXISTS (SELECT 1 FROM "WorkspaceMember" w WHERE w."workspaceId" = ${input.workspaceId}::uuid AND w."userId" = u.id)
       ${seek}
     ORDER BY lower(u.handle)
     LIMIT ${input.first + 1}::int`;
  return { users: users.slice(0, input.first), hasMore: users.length > input.first };
}

/**
 * Named channels of the workspace the viewer can see (public ones and private
 * ones they are in) whose name starts with `prefix` (case-insensitive; a
 * leading # is ignored), by name. Reads the (workspaceId, lower(name)) index.
 */
export async function searchChannels(
  rt: Runtime,
  viewer: Viewer,
  input: { workspaceId: string; prefix: string; first: number; afterId: string | null },
): Promise<{ channels: Channel[]; hasMore: boolean }> {
  const prefix = cleanPrefix(input.prefix);
  await requireWorkspaceMember(rt, viewer, input.workspaceId);
  const pattern = startsWith(prefix);
  const seek = input.afterId
    ? Prisma.sql`AND (lower(c.name), c.id) > (SELECT lower(name), id FROM "Channel" WHERE id = ${input.afterId}::uuid)`
    : Prisma.empty;
  const channels = await rt.prisma.$queryRaw<Channel[]>`
    SELECT c.* FROM "Channel" c
     WHERE c."workspaceId" = ${input.workspaceId}::uuid
       AND c.kind = 'CHANNEL'
       AND lower(c.name) LIKE ${pattern}
       AND (NOT c.private OR EXISTS (SELECT 1 FROM "Membership" m WHERE m."channelId" = c.id AND m."userId" = ${viewer.userId}::uuid))
       ${seek}
     ORDER BY lower(c.name), c.id
     LIMIT ${input.first + 1}::int`;
  return { channels: channels.slice(0, input.first), hasMore: channels.length > input.first };
}
