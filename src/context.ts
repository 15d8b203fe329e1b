import { DomainError, unauthenticated } from './errors.ts';
import type { Runtime } from './runtime.ts';
import { Batch } from './schema/batch.ts';
import { authenticate, type Viewer } from './services/auth.ts';

/** Per-request (or per-subscription) data, and the app it runs in. */
export interface Context {
  /** The app's state: database, pub/sub, presence… (see runtime.ts). */
  rt: Runtime;
  viewer: Viewer | null;
  /** Why a token that was sent did not authenticate; reported where sign-in is required. */
  authError: DomainError | null;
  /** For a WebSocket: when the connection opened (ms since the epoch); null over HTTP. */
  connectedAt: number | null;
  /** The client's address (for per-address rate limits); null when unknown. */
  address: string | null;
  /** Loaders shared by this request (or, for a subscription event, by every subscriber of the event). */
  batch: Batch;
}

/**
 * The one context factory for HTTP and WebSocket: both hand over the raw
 * `Authorization` value (header, or `connectionParams.authorization`).
 */
export async function createContext(
  rt: Runtime,
  authorization: string | null | undefined,
  connectedAt: number | null = null,
  address: string | null = null,
): Promise<Context> {
  const base = { rt, viewer: null, authError: null, connectedAt, address, batch: new Batch() };
  if (!authorization) return base;
  try {
    return { ...base, viewer: await authenticate(rt, authorization) };
  } catch (error) {
    // A refused token is reported where sign-in is required; a database
    // failure is not a refusal and fails the request.
    if (error instanceof DomainError) return { ...base, authError: error };
    throw error;
  }
}

/**
 * The client's address: the connection's peer, or, behind a trusted proxy
 * (TRUST_PROXY=true), the first address of X-Forwarded-For.
 */
export function clientAddress(
  rt: Runtime,
  peer: string | undefined | null,
  forwardedFor: string | string[] | null | undefined,
): string | null {
  if (rt.config.trustProxy && forwardedFor) {
    const first = (Array.isArray(forwardedFor) ? forwardedFor[0] : forwardedFor)?.split(',')[0]?.trim();
    if (first) return first.slice(0, 64);
  }
  return peer ?? null;
}

/** The viewer, or the reason there is none (UNAUTHENTICATED). */
export function requireViewer(ctx: Context): Viewer {
  if (ctx.viewer) return ctx.viewer;
  throw ctx.authError ?? unauthenticated();
}
