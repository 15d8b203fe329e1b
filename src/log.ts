import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, stdSerializers } from 'pino';
import type { Config } from './config.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Structured context of a log line (request id, socket id, ids of what it is about). */
export type LogFields = Record<string, unknown>;

/** Parley's logger: a level, a message, for failures the error, and optional fields. */
export type Log = (level: LogLevel, message: string, error?: unknown, fields?: LogFields) => void;

/** Where log lines go: one complete line (ending in a newline) per call. */
export interface LogDestination {
  write(line: string): unknown;
}

/**
 * The fields of the request or socket whose work is running. An
 * AsyncLocalStorage follows promises, timers and callbacks, so a line logged
 * deep inside a service still names its request. It holds no app state: two
 * apps in one process each run their own requests in their own scopes.
 */
const scope = new AsyncLocalStorage<LogFields>();

/** Runs `fn` so that every line it logs (and everything it starts) carries `fields`. */
export function withLogFields<T>(fields: LogFields, fn: () => T): T {
  return scope.run({ ...scope.getStore(), ...fields }, fn);
}

/** Runs `fn` outside any request's scope (for work that belongs to no request, such as a pool's own errors). */
export function withoutLogFields<T>(fn: () => T): T {
  return scope.exit(fn);
}

/** A logger that adds `bound` to every line (e.g. a socket's id on its subscriptions' lines). */
export function boundLog(log: Log, bound: LogFields): Log {
  return (level, message, error, fields) => log(level, message, error, { ...bound, ...fields });
}

/** Keys whose values never reach a log line, at any depth. */
const SECRET_KEY = /authorization|password|passwd|secret|token|cookie|connectionparams|credential/i;
const REDACTED = '[redacted]';

/** A copy of `value` with secret-looking keys replaced; bounded in depth, safe on cycles. */
function redact(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth > 6 || seen.has(value)) return '[…]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1, seen));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = SECRET_KEY.test(key) && item != null ? REDACTED : redact(item, depth + 1, seen);
  }
  return out;
}

/**
 * Removes what looks like a credential from a finished line, whatever field
 * or error message carried it: bearer tokens, JWTs, passwords in URLs.
 */
export function scrubSecrets(line: string): string {
  return line
    .replace(/(bearer\s+)[^\s"\\,]+/gi, `$1${REDACTED}`)
    .replace(/eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]{4,}/g, REDACTED)
    .replace(/([a-z][\w+.-]*:\/\/[^:/\s"@]*:)[^@\s"/]+@/gi, `$1${REDACTED}@`);
}

/** Fields pretty-printing leaves out of the key=value tail (they are shown otherwise, or noise). */
const PRETTY_SKIP = new Set(['time', 'level', 'msg', 'pid', 'hostname', 'err']);

/** One JSON line as `HH:MM:SS.mmm LEVEL message key=value …`, an error's stack indented below. */
function prettyLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : '';
  const parts = [time, String(entry.level ?? '').toUpperCase().padEnd(5), String(entry.msg ?? '')];
  for (const [key, value] of Object.entries(entry)) {
    if (PRETTY_SKIP.has(key) || value === undefined) continue;
    parts.push(`${key}=${typeof value === 'string' && !/[\s"=]/.test(value) ? value : JSON.stringify(value)}`);
  }
  let line = parts.join(' ');
  const err = entry.err as { type?: string; message?: string; stack?: string } | string | undefined;
  if (typeof err === 'string') line += ` err=${JSON.stringify(err)}`;
  else if (err) {
    line += ` err=${JSON.stringify(`${err.type ?? 'Error'}: ${err.message ?? ''}`)}`;
    const stack = err.stack?.split('\n').slice(1).join('\n');
    if (stack) line += `\n${stack}`;
  }
  return `${line}\n`;
}

/**
 * A pino logger behind Parley's {@link Log}: level from `config.logLevel`,
 * `json` lines or `pretty` ones (`config.logFormat`), to standard output
 * unless `destination` is given. Every line carries the fields of the
 * current {@link withLogFields} scope; secrets are removed from fields,
 * errors and the finished line.
 */
export function createLog(config: Pick<Config, 'logLevel' | 'logFormat'>, destination?: LogDestination): Log {
  const out = destination ?? process.stdout;
  const pretty = config.logFormat === 'pretty';
  const logger = pino(
    {
      level: config.logLevel,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: (error: unknown) => redact(error instanceof Error ? stdSerializers.err(error) : error) },
    },
    {
      write(line: string) {
        const clean = scrubSecrets(line);
        out.write(pretty ? prettyLine(clean) : clean);
      },
    },
  );
  return (level, message, error, fields) => {
    if (!logger.isLevelEnabled(level)) return;
    const context = scope.getStore();
    const entry = (context || fields ? redact({ ...context, ...fields }) : {}) as LogFields;
    if (error !== undefined) entry.err = error;
    logger[level](entry, message);
  };
}
