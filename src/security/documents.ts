import { blockFieldSuggestionsPlugin } from '@escape.tech/graphql-armor-block-field-suggestions';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesPlugin } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import {
  getNamedType,
  GraphQLError,
  isInterfaceType,
  isObjectType,
  Kind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLNamedType,
  type GraphQLSchema,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.ts';
import { DEFAULT_PAGE_SIZE } from '../pagination.ts';
import { checkCursorArguments } from './cursors.ts';
import { checkStrings } from './input.ts';

const badInput = (message: string) => new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });

/**
 * graphql-armor reports a refusal as a "Syntax Error" without a code; this
 * throws ours instead (BAD_USER_INPUT, a plain message). Throwing stops
 * parsing or validation at once, so an oversized document costs no more.
 */
const armor = (what: string, limit: number, variable: string) => ({
  n: limit,
  exposeLimits: true,
  propagateOnRejection: false,
  onReject: [
    (_ctx: unknown, error: GraphQLError) => {
      const found = /found (\d+)/.exec(error.message)?.[1];
      throw badInput(
        `The document has too many ${what} (${found ? `${found}, ` : ''}at most ${limit}; ${variable} sets the limit).`,
      );
    },
  ],
});

/**
 * The estimated number of objects an operation may load: every field counts
 * 1, and the fields under a paginated field (one with `first`/`last`) count
 * once per item of the page it asks for (the default page when it names no
 * size), so nested pages multiply. Fragments are expanded; a fragment cycle
 * (invalid anyway) counts nothing.
 */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown> | null | undefined,
): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const fragmentCosts = new Map<string, number>();
  const expanding = new Set<string>();

  const pageSize = (value: ValueNode | undefined): number | null => {
    if (!value) return null;
    if (value.kind === Kind.INT) return Math.max(0, Number(value.value));
    if (value.kind === Kind.VARIABLE) {
      const given = variables?.[value.name.value];
      return typeof given === 'number' && Number.isFinite(given) ? Math.max(0, given) : null;
    }
    return null;
  };

  const costOf = (selectionSet: SelectionSetNode, type: GraphQLNamedType | undefined): number => {
    let total = 0;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const field =
          type && (isObjectType(type) || isInterfaceType(type)) ? type.getFields()[selection.name.value] : undefined;
        let multiplier = 1;
        if (field?.args.some((arg) => arg.name === 'first' || arg.name === 'last')) {
          const argument = (name: string) => selection.arguments?.find((arg) => arg.name.value === name)?.value;
          multiplier = pageSize(argument('first')) ?? pageSize(argument('last')) ?? DEFAULT_PAGE_SIZE;
        }
        const children = selection.selectionSet
          ? costOf(selection.selectionSet, field ? getNamedType(field.type) : undefined)
          : 0;
        total += 1 + multiplier * children;
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const condition = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : type;
        total += costOf(selection.selectionSet, condition ?? undefined);
      } else {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        if (!fragment || expanding.has(name)) continue;
        let cost = fragmentCosts.get(name);
        if (cost === undefined) {
          expanding.add(name);
          cost = costOf(fragment.selectionSet, schema.getType(fragment.typeCondition.name.value) ?? undefined);
          expanding.delete(name);
          fragmentCosts.set(name, cost);
        }
        total += cost;
      }
    }
    return total;
  };

  let highest = 0;
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    const root =
      definition.operation === 'query'
        ? schema.getQueryType()
        : definition.operation === 'mutation'
          ? schema.getMutationType()
          : schema.getSubscriptionType();
    highest = Math.max(highest, costOf(definition.selectionSet, root ?? undefined));
  }
  return highest;
}

interface RequestArgs {
  schema: GraphQLSchema;
  document: DocumentNode;
  variableValues?: unknown;
}

/** Refuses an operation whose {@link operationCost} is over `limit`. */
const costLimit =
  (limit: number) =>
  (args: RequestArgs): GraphQLError | null => {
    const cost = operationCost(args.schema, args.document, args.variableValues as Record<string, unknown> | undefined);
    if (cost <= limit) return null;
    return badInput(
      `The operation is too expensive: it may load about ${Number.isFinite(cost) ? Math.round(cost).toLocaleString('en') : 'unboundedly many'} objects (at most ${limit.toLocaleString('en')}; MAX_QUERY_COST sets the limit). Ask for smaller pages (first/last) or nest fewer lists.`,
    );
  };

/**
 * Runs `checks` on every request before any resolver, over HTTP and
 * WebSocket; the first error refuses it. Per request, not in validation: they
 * read the variables (page sizes, strings, cursors), and Yoga caches
 * validation results per document.
 */
function useRequestChecks(...checks: ((args: RequestArgs) => GraphQLError | null)[]): Plugin {
  const run = ({ args, setResultAndStopExecution }: { args: RequestArgs; setResultAndStopExecution: (result: { errors: GraphQLError[] }) => void }) => {
    for (const check of checks) {
      const error = check(args);
      if (error) return setResultAndStopExecution({ errors: [error] });
    }
  };
  return { onExecute: run, onSubscribe: run };
}

/**
 * The envelop plugins that bound what one document may ask for, and what it
 * may learn about the schema. They run in Yoga's parse/validate/execute, which
 * graphql-ws's onSubscribe uses too, so they apply to HTTP and WebSocket alike.
 * These limits hold whatever the rate limits are.
 */
export function documentPlugins(config: Config): Plugin[] {
  const { limits } = config;
  return [
    maxTokensPlugin(armor('tokens', limits.tokens, 'MAX_QUERY_TOKENS')),
    maxDepthPlugin({ ...armor('levels of nesting', limits.depth, 'MAX_QUERY_DEPTH'), flattenFragments: true }),
    maxAliasesPlugin(armor('aliases', limits.aliases, 'MAX_QUERY_ALIASES')),
    maxDirectivesPlugin(armor('directives', limits.directives, 'MAX_QUERY_DIRECTIVES')),
    ...(config.introspection ? [] : [useDisableIntrospection()]),
    // "Did you mean …?" would list fields to someone who cannot introspect.
    ...(config.introspection ? [] : [blockFieldSuggestionsPlugin()]),
    useRequestChecks(
      (args) => checkStrings(args.document, args.variableValues),
      (args) => checkCursorArguments(args.document, args.variableValues),
      costLimit(limits.cost),
    ),
  ] as Plugin[];
}
