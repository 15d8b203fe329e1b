import { PothosValidationError } from '@pothos/core';
import { GraphQLError, type ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { isDataException } from '../errors.ts';
import type { Log } from '../log.ts';
import { clipMessage } from '../security/input.ts';
import { isDatabaseUnavailable } from './databaseErrors.ts';

interface ErrorLike {
  message: string;
  extensions?: Record<string, unknown>;
  originalError?: unknown;
  nodes?: GraphQLError['nodes'];
  path?: GraphQLError['path'];
}

// Structural, not instanceof: graphql-js may be loaded twice (ESM and CJS
// copies inside Yoga's executor), and their GraphQLError classes differ.
export const isGraphQLErrorLike = (error: unknown): error is ErrorLike =>
  error instanceof Error && (error.name === 'GraphQLError' || error instanceof GraphQLError);
export const codeOf = (error: unknown) =>
  isGraphQLErrorLike(error) && typeof error.extensions?.code === 'string' ? error.extensions.code : undefined;

const YOGA_INPUT_CODES = new Set(['GRAPHQL_VALIDATION_FAILED', 'GRAPHQL_PARSE_FAILED', 'BAD_REQUEST']);

/**
 * Keeps refusals (errors with a code) as they are, turns Pothos's argument
 * checks and GraphQL's own validation into BAD_USER_INPUT, and masks
 * everything else as INTERNAL_SERVER_ERROR (logged, never shown).
 */
export function maskError(log: Log) {
  return (error: unknown): Error => {
    const located = isGraphQLErrorLike(error) ? error : null;
    const original = located?.originalError ?? error;
    const code = codeOf(original) ?? (located && !located.originalError ? codeOf(located) : undefined);
    // Yoga's own codes for unparsable or invalid documents are, in API.md's terms, bad input.
    if (code && !YOGA_INPUT_CODES.has(code)) return error as Error;
    const rebuild = (message: string, code: string) =>
      new GraphQLError(clipMessage(message), {
        nodes: located?.nodes,
        path: located?.path,
        extensions: { ...located?.extensions, code },
      });
    // A GraphQLError without a code comes from GraphQL itself or Pothos
    // (variable coercion, argument checks, cursors): the input was at fault.
    if (code || original instanceof PothosValidationError || isGraphQLErrorLike(original)) {
      return rebuild((original as Error).message, 'BAD_USER_INPUT');
    }
    // A value the database refused (Postgres class 22): the input, not the server, was at fault.
    if (isDataException(original)) {
      log('warn', `database refused a value: ${(original as Error).message?.split('\n').at(-1)?.slice(0, 200)}`);
      return rebuild('A value in the request cannot be stored (it is malformed or out of range).', 'BAD_USER_INPUT');
    }
    if (isDatabaseUnavailable(original)) {
      log('error', 'database unavailable', original);
      return new GraphQLError('The database is unavailable or too slow right now; try again shortly.', {
        nodes: located?.nodes,
        path: located?.path,
        extensions: { code: 'INTERNAL_SERVER_ERROR' },
      });
    }
    log('error', 'unexpected error', original);
    return new GraphQLError('Unexpected error; it has been logged.', {
      nodes: located?.nodes,
      path: located?.path,
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
  };
}

/**
 * Errors Yoga raises before execution (unparsable documents, unknown fields,
 * variables of the wrong type) get API.md's code for bad input.
 */
export function useInputErrorCodes(): Plugin {
  return {
    onResultProcess({ result, setResult }) {
      if (Array.isArray(result) || !result || typeof result !== 'object' || !('errors' in result)) return;
      const errors = (result as ExecutionResult).errors;
      if (!errors?.some((e) => YOGA_INPUT_CODES.has(String(e.extensions?.code)))) return;
      setResult({
        ...(result as ExecutionResult),
        errors: errors.map((e) =>
          YOGA_INPUT_CODES.has(String(e.extensions?.code))
            ? new GraphQLError(clipMessage(e.message), { nodes: e.nodes, extensions: { ...e.extensions, code: 'BAD_USER_INPUT' } })
            : e,
        ),
      });
    },
  };
}

