import { GraphQLError, visit, type DocumentNode } from 'graphql';

/**
 * The longest string any argument may carry, in UTF-16 code units: the
 * longest message (100,000 characters) at up to 4 units each. Field-specific
 * limits are far smaller and live in the services' schemas; this one only
 * guarantees that no service ever starts work on a megabyte of text.
 */
export const MAX_STRING_UNITS = 100_000 * 4;

/** At most this much client input is quoted back in an error message. */
export const MAX_ECHO = 100;

/** A UUID in its text form, either case: every database id. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** C0 controls other than tab, line feed and carriage return. */
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/;
/** A UTF-16 surrogate without its other half: not text, and not storable as UTF-8. */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Client input quoted in an error message: at most {@link MAX_ECHO} characters, controls shown as escapes. */
export function quote(input: string): string {
  const chars = [...input.slice(0, MAX_ECHO * 2)];
  const head = chars.slice(0, MAX_ECHO).join('');
  const shown = JSON.stringify(head.replace(new RegExp(LONE_SURROGATE.source, 'g'), '\uFFFD'));
  return chars.length > MAX_ECHO || input.length > MAX_ECHO * 2 ? `${shown.slice(0, -1)}…"` : shown;
}

/** Why a string cannot be accepted as any argument, or null when it can. */
export function stringProblem(value: string): string | null {
  if (value.length > MAX_STRING_UNITS) {
    return `is too long (${value.length.toLocaleString('en')} UTF-16 units; no argument takes more than ${MAX_STRING_UNITS.toLocaleString('en')})`;
  }
  const control = CONTROL.exec(value);
  if (control) {
    const hex = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
    return `contains the control character U+${hex}, which text may not contain`;
  }
  if (LONE_SURROGATE.test(value)) return 'contains a lone UTF-16 surrogate (not valid Unicode text)';
  return null;
}

const refusal = (where: string, problem: string) =>
  new GraphQLError(`${where} ${problem}.`, { extensions: { code: 'BAD_USER_INPUT' } });

/** The first unacceptable string among the variables (any depth), as an error naming its path. */
function checkVariables(value: unknown, path: string): GraphQLError | null {
  if (typeof value === 'string') {
    const problem = stringProblem(value);
    return problem ? refusal(`Variable "$${path}"`, problem) : null;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const error = checkVariables(value[i], `${path}[${i}]`);
      if (error) return error;
    }
    return null;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      const problem = stringProblem(key);
      if (problem) return refusal(`A key in variable "$${path}"`, problem);
      const error = checkVariables(item, `${path}.${key}`);
      if (error) return error;
    }
  }
  return null;
}

/** The first unacceptable string literal in the document. */
function checkLiterals(document: DocumentNode): GraphQLError | null {
  let found: GraphQLError | null = null;
  visit(document, {
    StringValue(node) {
      const problem = stringProblem(node.value);
      if (!problem) return;
      found = new GraphQLError(`A string in the document ${problem}.`, {
        nodes: [node],
        extensions: { code: 'BAD_USER_INPUT' },
      });
      return false;
    },
  });
  return found;
}

/**
 * Checks every string a request carries, in its variables and its document:
 * none may be longer than {@link MAX_STRING_UNITS} or not text (NUL and other
 * control characters, lone surrogates), since no field could accept it.
 * Postgres cannot store NUL; without this it surfaced as a database error.
 */
export function checkStrings(document: DocumentNode, variables: unknown): GraphQLError | null {
  if (variables && typeof variables === 'object') {
    for (const [name, value] of Object.entries(variables)) {
      const error = checkVariables(value, name);
      if (error) return error;
    }
  }
  return checkLiterals(document);
}

/**
 * An error message of GraphQL's or a library's own, cut to a readable length:
 * some quote the offending value whole (a 300 KB string where a number was due).
 */
export const clipMessage = (message: string) => (message.length > 300 ? `${message.slice(0, 300)}…` : message);
