import type { CombinedError } from '@urql/core';
import type { GraphQLFormattedError } from 'graphql';

/**
 * Why a Parley call failed. `code` is the server's `extensions.code`
 * (`UNAUTHENTICATED`, `FORBIDDEN`, `NOT_FOUND`, `BAD_USER_INPUT`, `CONFLICT`,
 * `RATE_LIMITED`, `INTERNAL_SERVER_ERROR`), or `NETWORK_ERROR` when no answer
 * arrived (the request or the socket failed).
 */
export class ParleyError extends Error {
  override readonly name = 'ParleyError';
  readonly code: string;
  /** Every GraphQL error of the answer, as the server sent them. */
  readonly errors: readonly GraphQLFormattedError[];
  /** `extensions.retryAfter` of a `RATE_LIMITED` answer, in seconds. */
  readonly retryAfter: number | undefined;

  constructor(message: string, code: string, errors: readonly GraphQLFormattedError[] = [], options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.errors = errors;
    const retryAfter = errors[0]?.extensions?.['retryAfter'];
    this.retryAfter = typeof retryAfter === 'number' ? retryAfter : undefined;
  }

  get isNetworkError(): boolean {
    return this.code === 'NETWORK_ERROR';
  }

  /** Worth trying again unchanged: the network failed, or the server did (its database unavailable or too slow). */
  get isTransient(): boolean {
    return this.isNetworkError || this.code === 'INTERNAL_SERVER_ERROR';
  }
}

export function fromGraphQLErrors(errors: readonly GraphQLFormattedError[]): ParleyError {
  const code = errors[0]?.extensions?.['code'];
  return new ParleyError(errors.map((e) => e.message).join('; '), typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR', errors);
}

export function fromCombinedError(error: CombinedError): ParleyError {
  if (error.graphQLErrors.length) {
    return fromGraphQLErrors(error.graphQLErrors.map((e) => ({ message: e.message, path: e.path ?? undefined, extensions: e.extensions })));
  }
  return new ParleyError(error.networkError?.message ?? error.message, 'NETWORK_ERROR', [], { cause: error.networkError ?? error });
}

/** A socket-level failure of graphql-ws: a CloseEvent-like object or an Error. */
export function fromSocketFailure(failure: unknown): ParleyError {
  if (Array.isArray(failure)) return fromGraphQLErrors(failure as GraphQLFormattedError[]);
  if (isCloseEvent(failure)) {
    // 4401 and 4403 are the server refusing the connection's token.
    const code = failure.code === 4401 ? 'UNAUTHENTICATED' : failure.code === 4403 ? 'FORBIDDEN' : 'NETWORK_ERROR';
    return new ParleyError(`socket closed: ${failure.code} ${failure.reason}`.trim(), code, [], { cause: failure });
  }
  const message = failure instanceof Error ? failure.message : String(failure);
  return new ParleyError(message, 'NETWORK_ERROR', [], { cause: failure });
}

function isCloseEvent(value: unknown): value is { code: number; reason: string } {
  return typeof value === 'object' && value !== null && 'code' in value && typeof (value as { code: unknown }).code === 'number';
}
