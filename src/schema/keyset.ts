import { formatPrismaCursor } from '@pothos/plugin-prisma';
import { badInput } from '../errors.ts';
import { DEFAULT_PAGE_SIZE } from '../pagination.ts';
import { decodeCursor } from '../security/cursors.ts';
import { quote } from '../security/input.ts';

export interface PageArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

/** Where a row sits in a list ordered by (createdAt, id). */
export interface Position {
  createdAt: Date;
  id: string;
}

/** What a page query reads: rows beyond `seek` (when set) in `sort` order, at most `take`. */
export interface Seek {
  seek: { cmp: 'lt' | 'gt'; at: Position } | null;
  sort: 'asc' | 'desc';
  take: number;
}

/** A keyset cursor: the list's owner (the parent paged), then the row's (createdAt, id). */
export const keysetCursor = (owner: string, at: Position) =>
  formatPrismaCursor({ owner, createdAt: at.createdAt, id: at.id }, ['owner', 'createdAt', 'id']);

/** The position a keyset cursor points at; the page plugin has checked its shape and owner. */
function positionOf(cursor: string, name: string): Position {
  const values = decodeCursor(cursor);
  const [, createdAt, id] = values ?? [];
  if (values?.length !== 3 || !(createdAt instanceof Date) || typeof id !== 'string') {
    throw badInput(`${quote(cursor)} is not a cursor of this list.`, name);
  }
  return { createdAt, id };
}

/**
 * A page of a list ordered by (createdAt, id), newest or oldest first, read
 * by keyset with a LIMIT (never OFFSET): `first`/`after` read forward,
 * `last`/`before` backward, so any depth costs the same. `load` turns the
 * seek into its model's query; `positionOf` tells where a row sits.
 */
export async function keysetPage<T>(
  owner: string,
  args: PageArgs,
  order: 'newest' | 'oldest',
  load: (seek: Seek) => Promise<T[]>,
  rowPosition: (row: T) => Position,
) {
  const backward = args.before != null || args.last != null;
  const size = (backward ? args.last : args.first) ?? DEFAULT_PAGE_SIZE;
  // The list's own direction: newest first reads descending.
  const forwardSort = order === 'newest' ? 'desc' : 'asc';
  const sort = backward ? (forwardSort === 'desc' ? 'asc' : 'desc') : forwardSort;
  const cmp = sort === 'desc' ? 'lt' : 'gt';
  const cursor = backward ? args.before : args.after;
  const seek = cursor != null ? { cmp, at: positionOf(cursor, backward ? 'before' : 'after') } as const : null;
  const rows = await load({ seek, sort, take: size + 1 });
  const full = rows.length > size;
  const nodes = full ? rows.slice(0, size) : rows;
  if (backward) nodes.reverse();
  const edges = nodes.map((node) => ({ cursor: keysetCursor(owner, rowPosition(node)), node }));
  return {
    edges,
    pageInfo: {
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
      // As Pothos's prisma connections answer: a cursor on the other side means there is more there.
      hasNextPage: args.before != null ? true : backward ? false : full,
      hasPreviousPage: args.after != null ? true : backward ? full : false,
    },
  };
}

/** A Prisma comparison filter `{ lt: value }` or `{ gt: value }`. */
export const compare = <V>(cmp: 'lt' | 'gt', value: V) => (cmp === 'lt' ? { lt: value } : { gt: value });

/**
 * The `where` part that seeks past a position: rows after it in (createdAt,
 * `idField`) order, or nothing on the first page.
 */
export const seekPast = <K extends string>(seek: Seek['seek'], idField: K) =>
  seek
    ? {
        OR: [
          { createdAt: compare(seek.cmp, seek.at.createdAt) },
          { createdAt: seek.at.createdAt, ...({ [idField]: compare(seek.cmp, seek.at.id) } as Record<K, { lt: string } | { gt: string }>) },
        ],
      }
    : {};
