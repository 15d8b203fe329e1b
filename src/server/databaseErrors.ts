/**
 * Whether an error means the database could not be reached or did not answer
 * in time (as opposed to a bug): connection refused, reset or timed out, the
 * client's query timeout, or the server's statement timeout. Looks through
 * the wrappers Prisma and its driver adapter put around the driver's error.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 6; depth++) {
    if (typeof current !== 'object') return false;
    const { code, kind, message, cause, originalError } = current as Record<string, unknown>;
    if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
    if (typeof kind === 'string' && UNAVAILABLE_KINDS.has(kind)) return true;
    if (typeof message === 'string' && UNAVAILABLE_MESSAGE.test(message)) return true;
    current = cause ?? originalError;
  }
  return false;
}

const UNAVAILABLE_CODES = new Set([
  // Node's socket errors
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH',
  // Postgres: query canceled (statement_timeout), shutting down, connection exceptions, too many connections
  '57014', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006', '53300',
  // Prisma: can't reach, timed out, connection closed, pool timeout
  'P1001', 'P1002', 'P1008', 'P1017', 'P2024',
]);

/** Prisma driver-adapter error kinds. */
const UNAVAILABLE_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);

/** What `pg` and `pg-pool` say when a connection fails or a query times out (they set no code). */
const UNAVAILABLE_MESSAGE =
  /Query read timeout|timeout exceeded when trying to connect|Connection terminated|Server has closed the connection|Can't reach database server|Client has encountered a connection error/i;
