import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { perRuntime } from '../runtime.ts';

/**
 * Persisted operations, over HTTP and WebSocket alike:
 *
 * - Parley's own documents (client/operations, hashed by `npm run codegen`
 *   into client/generated/persisted-documents.json) run by their sha256 hash,
 *   sent as `extensions.persistedQuery.sha256Hash` (Apollo's form) or as
 *   `documentId` (with or without the `sha256:` prefix).
 * - Automatic persisted queries (APQ): a hash the server does not know is
 *   answered `PersistedQueryNotFound`; the client sends it again with the
 *   query, which is checked against the hash and remembered, so later the hash
 *   alone works. At most {@link APQ_CAPACITY} such documents are kept per
 *   process, in memory; the least recently used is forgotten first.
 * - PERSISTED_OPERATIONS_ONLY=true runs only the codegen'd documents (by hash,
 *   or sent in full, word for word); any other document is refused, and APQ
 *   registers nothing.
 */
export const APQ_CAPACITY = 1_000;
/** Longest document APQ remembers, in characters; longer ones still run, sent in full. */
export const APQ_MAX_DOCUMENT_LENGTH = 20_000;

const PERSISTED_DOCUMENTS_URL = new URL('../../client/generated/persisted-documents.json', import.meta.url);

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const bareHash = (id: string) => id.replace(/^sha256:/i, '').toLowerCase();

function loadPersistedDocuments(): Map<string, string> {
  const documents = new Map<string, string>();
  if (!fs.existsSync(PERSISTED_DOCUMENTS_URL)) return documents;
  const parsed = JSON.parse(fs.readFileSync(PERSISTED_DOCUMENTS_URL, 'utf8')) as Record<string, string>;
  for (const [id, document] of Object.entries(parsed)) documents.set(bareHash(id), document);
  return documents;
}

/** The request fields persisted operations read and rewrite. */
export interface OperationParams {
  query?: string | null;
  documentId?: unknown;
  extensions?: Record<string, unknown> | null;
}

const badInput = (message: string, extensions: Record<string, unknown> = {}) =>
  new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', ...extensions } });

export class PersistedOperations {
  /** Codegen'd documents by bare sha256 hash. */
  readonly documents = loadPersistedDocuments();
  /** APQ registrations, least recently used first. */
  private readonly registered = new Map<string, string>();

  constructor(private readonly only: boolean) {}

  /** How many APQ documents are remembered (for tests). */
  get registeredCount(): number {
    return this.registered.size;
  }

  /**
   * The document to run for `params`, or the GraphQL error that refuses it.
   * Registers an APQ document sent with its hash.
   */
  resolve(params: OperationParams): string | GraphQLError {
    const hash = this.requestedHash(params);
    if (hash instanceof GraphQLError) return hash;
    const query = typeof params.query === 'string' && params.query !== '' ? params.query : null;
    if (query == null) {
      if (hash == null) return badInput('Must provide query string, or the hash of a persisted operation (extensions.persistedQuery.sha256Hash or documentId).');
      const known = this.documents.get(hash) ?? this.recall(hash);
      if (known != null) return known;
      // Apollo's PersistedQueryLink retries with the query on this message or code.
      return new GraphQLError('PersistedQueryNotFound', {
        extensions: {
          code: 'PERSISTED_QUERY_NOT_FOUND',
          ...(this.only ? { hint: 'PERSISTED_OPERATIONS_ONLY is on: only the operations hashed by `npm run codegen` run.' } : {}),
        },
      });
    }
    if (hash != null && sha256(query) !== hash) {
      return badInput('The persisted query hash does not match the query: it must be the sha256 of the query text, in hex.', {
        reason: 'PERSISTED_QUERY_HASH_MISMATCH',
      });
    }
    if (this.only) {
      if (this.documents.has(hash ?? sha256(query))) return query;
      return badInput(
        'Only persisted operations run here (PERSISTED_OPERATIONS_ONLY is on): send the hash of one of the operations `npm run codegen` hashes (extensions.persistedQuery.sha256Hash or documentId), not a document.',
      );
    }
    if (hash != null && !this.documents.has(hash) && query.length <= APQ_MAX_DOCUMENT_LENGTH) this.remember(hash, query);
    return query;
  }

  /** The bare hash a request names, null for none, or an error for a malformed one. */
  private requestedHash(params: OperationParams): string | null | GraphQLError {
    const persisted = params.extensions?.persistedQuery as { sha256Hash?: unknown; version?: unknown } | undefined;
    const raw = persisted?.sha256Hash ?? params.documentId;
    if (raw == null) return null;
    if (persisted && persisted.version !== undefined && persisted.version !== 1) {
      return badInput('Unsupported persistedQuery version: only version 1 is known.');
    }
    const hash = typeof raw === 'string' ? bareHash(raw) : '';
    if (!/^[0-9a-f]{64}$/.test(hash)) return badInput('A persisted operation hash must be 64 hex digits (sha256), optionally prefixed sha256:.');
    return hash;
  }

  private recall(hash: string): string | undefined {
    const query = this.registered.get(hash);
    if (query === undefined) return undefined;
    this.registered.delete(hash);
    this.registered.set(hash, query);
    return query;
  }

  private remember(hash: string, query: string): void {
    this.registered.delete(hash);
    this.registered.set(hash, query);
    while (this.registered.size > APQ_CAPACITY) this.registered.delete(this.registered.keys().next().value!);
  }
}

/** The app's one store (HTTP and WebSocket share its APQ registrations). */
export const persistedOperationsOf = perRuntime((rt) => new PersistedOperations(rt.config.persistedOperationsOnly));

/** Resolves persisted operations for HTTP requests, before Yoga parses anything. */
export function usePersistedOperations(persisted: PersistedOperations): Plugin {
  return {
    onParams({ params, setParams }) {
      const resolved = persisted.resolve(params as OperationParams);
      if (resolved instanceof GraphQLError) throw resolved;
      // Without documentId: Yoga refuses parameters it does not know.
      setParams({ query: resolved, operationName: params.operationName, variables: params.variables, extensions: params.extensions });
    },
  };
}
