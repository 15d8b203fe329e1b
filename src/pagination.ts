import SchemaBuilder, { BasePlugin, type PothosOutputFieldConfig, type SchemaTypes } from '@pothos/core';
import type { GraphQLFieldResolver } from 'graphql';
import { badInput } from './errors.ts';
import { checkCursorOwner } from './security/cursors.ts';

/** API.md: a page is 1 to 100 items; more is an error, never a silent clamp. */
export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;

/** Throws BAD_USER_INPUT unless `first`/`last` (when given) are 1..100 and not both set. */
export function checkPageArgs(args: { first?: unknown; last?: unknown }): void {
  for (const name of ['first', 'last'] as const) {
    const value = args[name];
    if (value == null) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_PAGE_SIZE) {
      throw badInput(`"${name}" must be between 1 and ${MAX_PAGE_SIZE}; got ${String(value)}.`, name);
    }
  }
  if (args.first != null && args.last != null) {
    throw badInput('Pass "first" or "last", not both.');
  }
}

/**
 * A Pothos plugin that checks page sizes (and that cursors belong to the list
 * paged) on every connection field before it resolves, so no connection can forget to.
 */
class PageSizePlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  override wrapResolve(
    resolver: GraphQLFieldResolver<unknown, Types['Context'], object>,
    fieldConfig: PothosOutputFieldConfig<Types>,
  ): GraphQLFieldResolver<unknown, Types['Context'], object> {
    if (!('first' in fieldConfig.args) && !('last' in fieldConfig.args)) return resolver;
    // A list with cursors of its own shape (search's rank and id) checks them itself.
    const ownCursors = fieldConfig.extensions?.ownCursors === true;
    return (parent, args, context, info) => {
      checkPageArgs(args as { first?: unknown; last?: unknown });
      if (!ownCursors) checkCursorOwner(args as { after?: unknown; before?: unknown }, parent);
      return resolver(parent, args, context, info);
    };
  }
}

declare global {
  export namespace PothosSchemaTypes {
    export interface Plugins<Types extends SchemaTypes> {
      pageSize: PageSizePlugin<Types>;
    }
  }
}

SchemaBuilder.registerPlugin('pageSize', PageSizePlugin);

export const pageSizePlugin = 'pageSize' as const;
