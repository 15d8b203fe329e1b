import { GraphQLError } from 'graphql';
import { ZodError } from 'zod';

/** The `extensions.code` values of API.md. */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'BAD_USER_INPUT'
  | 'CONFLICT'
  | 'RATE_LIMITED'
  | 'INTERNAL_SERVER_ERROR';

/**
 * A refusal a client can act on. Services throw these; they reach clients as
 * GraphQL errors with `extensions.code`, unmasked.
 */
export class DomainError extends GraphQLError {
  constructor(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}) {
    super(message, { extensions: { ...extensions, code } });
  }
}

export const unauthenticated = (message = 'Sign in first: send Authorization: Bearer <token>.') =>
  new DomainError('UNAUTHENTICATED', message);
export const forbidden = (message: string) => new DomainError('FORBIDDEN', message);
export const notFound = (what: string) => new DomainError('NOT_FOUND', `${what} not found.`);
export const badInput = (message: string, field?: string) =>
  new DomainError('BAD_USER_INPUT', message, field ? { field } : {});
export const conflict = (message: string, field?: string) =>
  new DomainError('CONFLICT', message, field ? { field } : {});

/** Parses `input` with `schema`, turning the first problem into BAD_USER_INPUT. */
export function parseInput<T>(schema: { parse(input: unknown): T }, input: unknown): T {
  try {
    return schema.parse(input);
  } catch (error) {
    if (error instanceof ZodError) {
      const issue = error.issues[0];
      const field = issue?.path.join('.');
      throw badInput(field ? `${field}: ${issue?.message}` : (issue?.message ?? 'Invalid input.'), field);
    }
    throw error;
  }
}

/** Prisma's unique-constraint violation, which services turn into CONFLICT or a retry. */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'P2002';
}

/** Prisma's codes for a value the database cannot take (too long, out of range, malformed). */
const PRISMA_INPUT_CODES = new Set(['P2000', 'P2006', 'P2007', 'P2020', 'P2023']);

/**
 * Whether a database error was caused by the value sent (Postgres class 22,
 * "data exception": invalid byte sequence, out of range, bad text
 * representation…), however the driver adapter and Prisma wrapped it. Such
 * errors are the client's input, not a server fault.
 */
export function isDataException(error: unknown): boolean {
  const seen = new Set<unknown>();
  const visit = (value: unknown, depth: number): boolean => {
    if (typeof value !== 'object' || value === null || depth > 5 || seen.has(value)) return false;
    seen.add(value);
    const record = value as Record<string, unknown>;
    for (const key of ['code', 'originalCode']) {
      const code = record[key];
      if (typeof code === 'string' && (/^22[0-9A-Z]{3}$/.test(code) || PRISMA_INPUT_CODES.has(code))) return true;
    }
    return ['cause', 'meta', 'driverAdapterError', 'originalError'].some((key) => visit(record[key], depth + 1));
  };
  return visit(error, 0);
}
