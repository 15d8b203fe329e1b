import SchemaBuilder from '@pothos/core';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { GraphQLError, Kind } from 'graphql';
import type { Context } from './context.ts';
import { unauthenticated } from './errors.ts';
import type PrismaTypes from './generated/pothos-types.ts';
import { getDatamodel } from './generated/pothos-types.ts';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, pageSizePlugin } from './pagination.ts';
import type { Viewer } from './services/auth.ts';

export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  AuthScopes: { loggedIn: boolean };
  AuthContexts: { loggedIn: Context & { viewer: Viewer } };
  DefaultFieldNullability: false;
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    ID: { Input: string; Output: string };
    File: { Input: UploadedFile; Output: never };
    HttpHeaders: { Input: never; Output: Record<string, string> };
  };
}>({
  plugins: [ScopeAuthPlugin, pageSizePlugin, PrismaPlugin, RelayPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authorizeOnSubscribe: true,
    authScopes: (ctx) => ({ loggedIn: ctx.viewer !== null }),
    // The only scope is "signed in": its refusal is UNAUTHENTICATED, with the
    // token's own problem (expired, revoked, forged) when one was sent.
    unauthorizedError: (_parent, ctx) => ctx.authError ?? unauthenticated(),
  },
  prisma: {
    client: (ctx) => ctx.rt.prisma,
    dmmf: getDatamodel(),
    filterConnectionTotalCount: true,
    onUnusedQuery: process.env.NODE_ENV === 'production' ? null : 'warn',
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    edgesFieldOptions: { nullable: false },
    nodeFieldOptions: { nullable: false },
    // node(id:) is defined by the schema itself: it must check access per type.
    nodeQueryOptions: false,
    nodesQueryOptions: false,
    defaultConnectionTypeOptions: {},
  },
});

builder.scalarType('DateTime', {
  description: 'An instant, as an ISO 8601 string in UTC (e.g. 2026-11-22T10:40:33.000Z).',
  serialize: (value) => (value instanceof Date ? value.toISOString() : new Date(String(value)).toISOString()),
  parseValue: (value) => parseDate(value),
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('DateTime must be an ISO 8601 string.');
    return parseDate(ast.value);
  },
});

/** A file of a GraphQL multipart request, as Yoga hands it over (a web File). */
export interface UploadedFile {
  readonly name: string;
  readonly type: string;
  readonly size: number;
  /** The bytes (a web ReadableStream, which Node iterates asynchronously). */
  stream(): AsyncIterable<Uint8Array>;
}

const isUploadedFile = (value: unknown): value is UploadedFile =>
  typeof value === 'object' && value !== null && typeof (value as UploadedFile).stream === 'function' && typeof (value as UploadedFile).name === 'string';

builder.scalarType('File', {
  description:
    'A file sent with the GraphQL multipart request specification (https://github.com/jaydenseric/graphql-multipart-request-spec): a multipart/form-data request whose "operations" part sets this variable to null and whose "map" part points a file part at it.',
  serialize: () => {
    throw new GraphQLError('File is an input type.');
  },
  parseValue: (value) => {
    if (!isUploadedFile(value)) throw new GraphQLError('File must be a file part of a multipart request (GraphQL multipart request specification).');
    return value;
  },
  parseLiteral: () => {
    throw new GraphQLError('File must be a file part of a multipart request (GraphQL multipart request specification), not a literal.');
  },
});

builder.scalarType('HttpHeaders', {
  description: 'HTTP headers, as an object of header names to values, e.g. {"Content-Type": "image/png"}.',
  serialize: (value) => value,
  parseValue: () => {
    throw new GraphQLError('HttpHeaders is an output type.');
  },
});

function parseDate(value: unknown): Date {
  const date = typeof value === 'string' ? new Date(value) : new Date(NaN);
  if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime must be an ISO 8601 string.');
  return date;
}

export const pageSizes = { defaultSize: DEFAULT_PAGE_SIZE, maxSize: MAX_PAGE_SIZE };
