import { decodeBase64, decodeCursorChunk } from '@pothos/core';
import { GraphQLError, Kind, visit, type DocumentNode } from 'graphql';
import { badInput } from '../errors.ts';
import { quote } from './input.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Parley's cursors are well under 200 characters. */
const MAX_CURSOR_LENGTH = 500;
const MAX_SEQ = 2 ** 31 - 1;

/** Instants in keyset cursors (a post's createdAt): years 1970 to 2286, whole milliseconds. */
const MAX_INSTANT = 10 ** 13;

const isKey = (value: unknown) =>
  (typeof value === 'string' && UUID.test(value)) ||
  (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_SEQ) ||
  (value instanceof Date && Number.isSafeInteger(value.getTime()) && value.getTime() >= 0 && value.getTime() < MAX_INSTANT);

/**
 * What a Parley cursor holds: the values of a list's unique key (ids,
 * sequence numbers and creation instants), as Pothos's prisma connections (`GPC:`) or the channel
 * event log (`CE:`) wrote them; undefined when the string is no such cursor.
 * Checked before any cursor reaches a query: a cursor of the wrong shape
 * would otherwise reach Prisma with values of the wrong type and fail there.
 */
export function decodeCursor(cursor: string): unknown[] | undefined {
  if (cursor.length > MAX_CURSOR_LENGTH) return undefined;
  let decoded: string;
  try {
    decoded = decodeBase64(cursor);
  } catch {
    return undefined;
  }
  if (decoded.startsWith('CE:')) {
    const [, channelId, seq, ...rest] = decoded.split(':');
    const values = [channelId, Number(seq)];
    return rest.length === 0 && /^\d+$/.test(seq ?? '') && values.every(isKey) ? values : undefined;
  }
  if (!decoded.startsWith('GPC:')) return undefined;
  let value: unknown;
  try {
    value = decodeCursorChunk(decoded.slice(4));
  } catch {
    return undefined;
  }
  const values = Array.isArray(value) ? value : [value];
  return values.length >= 1 && values.length <= 3 && values.every(isKey) ? values : undefined;
}

const notACursor = (cursor: string, argument: string) =>
  new GraphQLError(`${quote(cursor)} is not a cursor of this list ("${argument}").`, {
    extensions: { code: 'BAD_USER_INPUT', field: argument },
  });

/** The first `after`/`before` argument (literal or variable) that is no Parley cursor. */
export function checkCursorArguments(document: DocumentNode, variables: unknown): GraphQLError | null {
  let found: GraphQLError | null = null;
  const vars = (variables ?? {}) as Record<string, unknown>;
  visit(document, {
    Argument(node) {
      if (found || (node.name.value !== 'after' && node.name.value !== 'before')) return;
      const value =
        node.value.kind === Kind.STRING ? node.value.value : node.value.kind === Kind.VARIABLE ? vars[node.value.name.value] : null;
      if (typeof value === 'string' && !decodeCursor(value)) found = notACursor(value, node.name.value);
    },
  });
  return found;
}

/**
 * A well-formed cursor of another list: a composite cursor names its list's
 * owner first (the channel of a message or membership), which must be the
 * parent whose list is paged. Called as a connection field resolves.
 */
export function checkCursorOwner(args: { after?: unknown; before?: unknown }, parent: unknown): void {
  // A root list (workspaces, notifications) is keyed by id alone: its cursors hold one value.
  if (typeof parent !== 'object' || parent === null) return checkCursorArity(args, 1);
  const { id, channelId } = parent as { id?: unknown; channelId?: unknown };
  const owner = typeof channelId === 'string' ? channelId : id;
  for (const name of ['after', 'before'] as const) {
    const cursor = args[name];
    if (typeof cursor !== 'string') continue;
    const values = decodeCursor(cursor);
    if (!values) throw badInput(`${quote(cursor)} is not a cursor of this list.`, name);
    if (values.length > 1 && typeof owner === 'string' && values[0] !== owner) {
      throw badInput(`${quote(cursor)} is a cursor of another list.`, name);
    }
  }
}

/**
 * A cursor of a list keyed by `arity` values (1 for an id): one that holds
 * another number of values belongs to another list. Nested Prisma
 * connections read their cursor while their parent loads, before the
 * connection field's own checks run, so they call this from their query.
 */
export function checkCursorArity(args: { after?: unknown; before?: unknown }, arity: number): void {
  for (const name of ['after', 'before'] as const) {
    const cursor = args[name];
    if (typeof cursor !== 'string') continue;
    const values = decodeCursor(cursor);
    if (!values) throw badInput(`${quote(cursor)} is not a cursor of this list.`, name);
    if (values.length !== arity) throw badInput(`${quote(cursor)} is a cursor of another list.`, name);
  }
}
