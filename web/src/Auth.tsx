import { useState } from 'preact/hooks';
import { createParleyClient } from '../../client/sdk/index.ts';
import { LogInDocument, SignUpDocument } from '../../client/generated/graphql.ts';

/** Sign up or log in; hands the token to the app (which keeps it in localStorage). */
export function AuthScreen({ onToken }: { onToken(token: string): void }) {
  const [mode, setMode] = useState<'login' | 'signup'>('login');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const field = (name: string) => String(form.get(name) ?? '');
    const client = createParleyClient({ url: new URL('/graphql', location.href).toString() });
    setBusy(true);
    setError(null);
    try {
      const token =
        mode === 'signup'
          ? (await client.mutate(SignUpDocument, { input: { name: field('name'), handle: field('handle'), email: field('email'), password: field('password') } })).signUp.token
          : (await client.mutate(LogInDocument, { input: { email: field('email'), password: field('password') } })).logIn.token;
      onToken(token);
    } catch (e) {
      setError((e as Error).message);
      setBusy(false);
    } finally {
      void client.dispose();
    }
  };

  return (
    <main class="auth">
      <h1 class="brand">Parley</h1>
      <div class="tabs" role="tablist" aria-label="Account">
        <button role="tab" aria-selected={mode === 'login'} onClick={() => setMode('login')}>Log in</button>
        <button role="tab" aria-selected={mode === 'signup'} onClick={() => setMode('signup')}>Sign up</button>
      </div>
      <form onSubmit={submit} aria-label={mode === 'signup' ? 'Sign up' : 'Log in'}>
        {mode === 'signup' && (
          <>
            <label>Name<input name="name" required autoComplete="name" /></label>
            <label>Handle<input name="handle" required pattern="[A-Za-z0-9_.\-]{2,30}" autoComplete="username" /></label>
          </>
        )}
        <label>Email<input name="email" type="email" required autoComplete="email" /></label>
        <label>
          Password
          <input name="password" type="password" required minLength={8} autoComplete={mode === 'signup' ? 'new-password' : 'current-password'} />
        </label>
        {error && <p role="alert" class="error">{error}</p>}
        <button type="submit" class="primary" disabled={busy}>{mode === 'signup' ? 'Create account' : 'Log in'}</button>
      </form>
    </main>
  );
}
