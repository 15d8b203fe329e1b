import { DomainError, unauthenticated } from './errors.ts';
import { authenticate, type Viewer } from './services/auth.ts';

/** Per-request (or per-subscription) data. The Prisma client is not here: see db.ts. */
export interface Context {
  viewer: Viewer | null;
  /** Why a token that was sent did not authenticate; reported where sign-in is required. */
  authError: DomainError | null;
  /** For a WebSocket: when the connection opened (ms since the epoch); null over HTTP. */
  connectedAt: number | null;
}

/**
 * The one context factory for HTTP and WebSocket: both hand over the raw
 * `Authorization` value (header, or `connectionParams.authorization`).
 */
export async function createContext(
  authorization: string | null | undefined,
  connectedAt: number | null = null,
): Promise<Context> {
  if (!authorization) return { viewer: null, authError: null, connectedAt };
  try {
    return { viewer: await authenticate(authorization), authError: null, connectedAt };
  } catch (error) {
    // A refused token is reported where sign-in is required; a database
    // failure is not a refusal and fails the request.
    if (error instanceof DomainError) return { viewer: null, authError: error, connectedAt };
    throw error;
  }
}

/** The viewer, or the reason there is none (UNAUTHENTICATED). */
export function requireViewer(ctx: Context): Viewer {
  if (ctx.viewer) return ctx.viewer;
  throw ctx.authError ?? unauthenticated();
}
