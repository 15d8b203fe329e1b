import { useState } from 'preact/hooks';
import { CreateChannelDocument, CreateWorkspaceInviteDocument, OpenDirectMessageDocument } from '../../client/generated/graphql.ts';
import type { ParleyClient } from '../../client/sdk/index.ts';
import type { Me } from './App.tsx';
import type { ChannelSummary, WorkspaceDetails, WorkspaceSummary } from './Chat.tsx';

interface Props {
  client: ParleyClient;
  me: Me;
  workspaces: WorkspaceSummary[];
  workspace: WorkspaceDetails | null;
  channelId: string | null;
  unread: Record<string, number>;
  notifications: number;
  onWorkspace(id: string): void;
  onChannel(id: string): void;
  onSetup(): void;
  onChanged(selectChannelId?: string): Promise<void>;
  onLogOut(): void;
}

/** A conversation's title: #name, or the other people's handles. */
export function channelTitle(channel: ChannelSummary, me: Me): string {
  if (channel.name) return `#${channel.name}`;
  const others = channel.members.edges.map((e) => e.node.user).filter((u) => u.id !== me.id);
  return others.length ? others.map((u) => u.handle).join(', ') : `${me.handle} (you)`;
}

export function Sidebar(props: Props) {
  const { client, me, workspace } = props;
  const [invite, setInvite] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const channels = workspace?.channels.edges.map((e) => e.node) ?? [];
  const members = workspace?.members.edges.map((e) => e.node) ?? [];
  const online = new Map(members.map((m) => [m.id, m.presence.status === 'ONLINE']));

  const attempt = async (action: () => Promise<void>) => {
    setError(null);
    try {
      await action();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const createChannel = (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const name = String(new FormData(form).get('name')).trim();
    void attempt(async () => {
      const created = await client.mutate(CreateChannelDocument, { input: { workspaceId: workspace!.id, name, private: false } });
      form.reset();
      setCreating(false);
      await props.onChanged(created.createChannel.id);
    });
  };
  const openDirect = (userId: string) =>
    attempt(async () => {
      const opened = await client.mutate(OpenDirectMessageDocument, { input: { workspaceId: workspace!.id, userIds: [userId] } });
      await props.onChanged(opened.openDirectMessage.id);
    });
  const createInvite = () =>
    attempt(async () => setInvite((await client.mutate(CreateWorkspaceInviteDocument, { workspaceId: workspace!.id })).createWorkspaceInvite.code));

  const item = (channel: ChannelSummary) => {
    const count = channel.id === props.channelId ? 0 : (props.unread[channel.id] ?? channel.myMembership?.unreadCount ?? 0);
    const other = channel.kind === 'DIRECT' ? channel.members.edges.map((e) => e.node.user).find((u) => u.id !== me.id) : undefined;
    const title = channelTitle(channel, me);
    return (
      <li key={channel.id}>
        <button
          class={`channel${channel.id === props.channelId ? ' current' : ''}${count ? ' unread' : ''}${channel.myMembership ? '' : ' not-joined'}`}
          aria-current={channel.id === props.channelId ? 'page' : undefined}
          aria-label={count ? `${title}, ${count} unread` : title}
          onClick={() => props.onChannel(channel.id)}
        >
          {other && <span class={`dot${online.get(other.id) ? ' online' : ''}`} aria-hidden="true" />}
          <span class="name">{title}</span>
          {count > 0 && <span class="badge" aria-hidden="true">{count}</span>}
        </button>
      </li>
    );
  };

  return (
    <nav class="sidebar" aria-label="Workspace">
      <div class="workspace-switcher">
        <label class="visually-hidden" for="workspace-select">Workspace</label>
        <select id="workspace-select" value={workspace?.id ?? ''} onChange={(e) => props.onWorkspace((e.currentTarget as HTMLSelectElement).value)}>
          {props.workspaces.map((w) => (
            <option key={w.id} value={w.id}>{w.name}</option>
          ))}
        </select>
        <button class="icon" aria-label="Create or join a workspace" title="Create or join a workspace" onClick={props.onSetup}>+</button>
      </div>
      <div class="me">
        <span class="dot online" aria-hidden="true" />
        <span>@{me.handle}</span>
        <span class="notifications" aria-label={`${props.notifications} unread notifications`} title="Unread notifications">🔔 {props.notifications}</span>
        <button class="link" onClick={props.onLogOut}>Log out</button>
      </div>
      {error && <p role="alert" class="error">{error}</p>}
      <section aria-labelledby="channels-heading">
        <h2 id="channels-heading">
          Channels
          <button class="icon" aria-label="New channel" title="New channel" onClick={() => setCreating(!creating)}>+</button>
        </h2>
        {creating && (
          <form class="inline" onSubmit={createChannel} aria-label="New channel">
            <input name="name" aria-label="Channel name" placeholder="channel-name" required maxLength={80} autoFocus />
            <button type="submit">Create</button>
          </form>
        )}
        <ul>{channels.filter((c) => c.kind === 'CHANNEL').map(item)}</ul>
      </section>
      <section aria-labelledby="direct-heading">
        <h2 id="direct-heading">Direct messages</h2>
        <ul>{channels.filter((c) => c.kind !== 'CHANNEL').map(item)}</ul>
      </section>
      <section aria-labelledby="people-heading">
        <h2 id="people-heading">People</h2>
        <ul>
          {members.map((m) => (
            <li key={m.id}>
              <button class="person" onClick={() => void openDirect(m.id)} aria-label={`${m.name} (@${m.handle}), ${m.presence.status === 'ONLINE' ? 'online' : 'offline'}`}>
                <span class={`dot${m.presence.status === 'ONLINE' ? ' online' : ''}`} aria-hidden="true" />
                <span class="name">{m.name}</span> <span class="handle">@{m.handle}</span>
              </button>
            </li>
          ))}
        </ul>
        <button class="link" onClick={() => void createInvite()}>Invite people</button>
        {invite && (
          <p class="invite">
            Invite code: <code aria-label="Invite code">{invite}</code>
          </p>
        )}
      </section>
    </nav>
  );
}
