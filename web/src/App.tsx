import { useEffect, useMemo, useState } from 'preact/hooks';
import { LogOutDocument, MeDocument, type MeQuery } from '../../client/generated/graphql.ts';
import type { ParleyClient } from '../../client/sdk/index.ts';
import { AuthScreen } from './Auth.tsx';
import { ConnectionBanner } from './ConnectionBanner.tsx';
import { Chat } from './Chat.tsx';
import { createClient, storeToken, storedToken } from './session.ts';

export type Me = MeQuery['me'];

/** Signed out: the sign-up / log-in screen. Signed in: the chat, on a client of its own. */
export function App() {
  const [token, setToken] = useState(storedToken);
  const signOut = () => {
    storeToken(null);
    setToken(null);
  };
  if (!token) {
    return (
      <AuthScreen
        onToken={(t) => {
          storeToken(t);
          setToken(t);
        }}
      />
    );
  }
  return <SignedIn key={token} onSignOut={signOut} />;
}

function SignedIn({ onSignOut }: { onSignOut: () => void }) {
  const client = useMemo(() => createClient(onSignOut), []);
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    client.query(MeDocument, {}).then((data) => setMe(data.me), (e: Error) => setError(e.message));
    return () => void client.dispose();
  }, [client]);

  const logOut = async () => {
    await client.mutate(LogOutDocument, {}).catch(() => undefined);
    onSignOut();
  };

  if (error) {
    return (
      <main class="center">
        <p role="alert">Could not load your account: {error}</p>
        <button onClick={() => location.reload()}>Try again</button> <button onClick={onSignOut}>Log out</button>
      </main>
    );
  }
  if (!me) return <main class="center" aria-busy="true">Loading…</main>;
  return (
    <>
      <ConnectionBanner client={client} />
      <Chat client={client} me={me} onLogOut={logOut} />
    </>
  );
}

export type { ParleyClient };
