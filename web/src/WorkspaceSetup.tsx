import { useState } from 'preact/hooks';
import { CreateChannelDocument, CreateWorkspaceDocument, JoinWorkspaceDocument } from '../../client/generated/graphql.ts';
import type { ParleyClient } from '../../client/sdk/index.ts';
import type { Me } from './App.tsx';

/** Create a workspace (with a #general channel) or join one with an invite code. */
export function WorkspaceSetup(props: { client: ParleyClient; me: Me; onDone(workspaceId: string): void; onCancel?: () => void; onLogOut(): void }) {
  const { client } = props;
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const run = (action: (form: FormData) => Promise<string>) => async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      props.onDone(await action(new FormData(event.currentTarget as HTMLFormElement)));
    } catch (e) {
      setError((e as Error).message);
      setBusy(false);
    }
  };

  const create = run(async (form) => {
    const name = String(form.get('name'));
    const slug = String(form.get('slug'));
    const workspace = (await client.mutate(CreateWorkspaceDocument, { input: { name, slug } })).createWorkspace;
    await client.mutate(CreateChannelDocument, { input: { workspaceId: workspace.id, name: 'general', private: false } });
    return workspace.id;
  });
  const join = run(async (form) => (await client.mutate(JoinWorkspaceDocument, { code: String(form.get('code')).trim() })).joinWorkspace.id);

  return (
    <main class="setup">
      <h1 class="brand">Parley</h1>
      <p>Signed in as <strong>@{props.me.handle}</strong>.</p>
      <div class="setup-forms">
        <form onSubmit={create} aria-label="Create a workspace">
          <h2>Create a workspace</h2>
          <label>Name<input name="name" required maxLength={80} /></label>
          <label>Address<input name="slug" required pattern="[A-Za-z0-9\-]{1,40}" placeholder="acme" /></label>
          <button type="submit" class="primary" disabled={busy}>Create workspace</button>
        </form>
        <form onSubmit={join} aria-label="Join a workspace">
          <h2>Join with an invite</h2>
          <label>Invite code<input name="code" required /></label>
          <button type="submit" class="primary" disabled={busy}>Join workspace</button>
        </form>
      </div>
      {error && <p role="alert" class="error">{error}</p>}
      <p>
        {props.onCancel && <button onClick={props.onCancel}>Back</button>} <button onClick={props.onLogOut}>Log out</button>
      </p>
    </main>
  );
}
