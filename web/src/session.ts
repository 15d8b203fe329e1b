import { createParleyClient, type ParleyClient } from '../../client/sdk/index.ts';

const TOKEN_KEY = 'parley.token';

export const storedToken = (): string | null => localStorage.getItem(TOKEN_KEY);

export function storeToken(token: string | null): void {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

/**
 * The SDK client for this page: HTTP and WebSocket on this origin's /graphql,
 * the token read from localStorage at every request and reconnect. A page
 * keeps reconnecting for as long as it is open (about one try every 5 s once
 * the backoff has grown), and a send keeps its clientMessageId across retries.
 */
export function createClient(onSignedOut: () => void): ParleyClient {
  return createParleyClient({
    url: new URL('/graphql', location.href).toString(),
    getToken: storedToken,
    onUnauthenticated: () => {
      storeToken(null);
      onSignedOut();
      return null;
    },
    retry: { attempts: 10_000, baseDelayMs: 250, maxDelayMs: 5_000 },
  });
}

/** A clientMessageId; crypto.randomUUID exists only in secure contexts (https, localhost). */
export function newClientMessageId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
