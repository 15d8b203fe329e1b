import { useCallback, useEffect, useState } from 'preact/hooks';
import { InboxDocument, PresenceChangedDocument } from '../../client/generated/graphql.ts';
import type { ParleyClient } from '../../client/sdk/index.ts';
import type { Me } from './App.tsx';
import { ChannelView } from './ChannelView.tsx';
import { WebWorkspaceDocument, WebWorkspacesDocument, type WebWorkspaceQuery, type WebWorkspacesQuery } from './generated/graphql.ts';
import { Sidebar } from './Sidebar.tsx';
import { WorkspaceSetup } from './WorkspaceSetup.tsx';

export type WorkspaceSummary = WebWorkspacesQuery['workspaces']['edges'][number]['node'];
export type WorkspaceDetails = NonNullable<WebWorkspaceQuery['workspace']>;
export type ChannelSummary = WorkspaceDetails['channels']['edges'][number]['node'];
export type Member = WorkspaceDetails['members']['edges'][number]['node'];

const LAST_WORKSPACE = 'parley.workspace';

/** The route is /w/<workspace id>/<channel id>; the server answers any such path with the app. */
function routeFromLocation(): { workspaceId?: string; channelId?: string } {
  const [, w, workspaceId, channelId] = location.pathname.split('/');
  return w === 'w' ? { workspaceId: workspaceId && decodeURIComponent(workspaceId), channelId: channelId && decodeURIComponent(channelId) } : {};
}

export function Chat({ client, me, onLogOut }: { client: ParleyClient; me: Me; onLogOut(): void }) {
  const [workspaces, setWorkspaces] = useState<WorkspaceSummary[] | null>(null);
  const [workspaceId, setWorkspaceId] = useState<string | null>(routeFromLocation().workspaceId ?? localStorage.getItem(LAST_WORKSPACE));
  const [workspace, setWorkspace] = useState<WorkspaceDetails | null>(null);
  const [channelId, setChannelId] = useState<string | null>(routeFromLocation().channelId ?? null);
  const [unread, setUnread] = useState<Record<string, number>>({});
  const [notifications, setNotifications] = useState(0);
  const [setupOpen, setSetupOpen] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const loadWorkspaces = useCallback(async () => {
    const list = (await client.query(WebWorkspacesDocument, {})).workspaces.edges.map((e) => e.node);
    setWorkspaces(list);
    return list;
  }, [client]);

  const loadWorkspace = useCallback(
    async (id: string) => {
      const data = await client.query(WebWorkspaceDocument, { id });
      if (!data.workspace) throw new Error('That workspace is gone or you are no longer a member.');
      setWorkspace(data.workspace);
      return data.workspace;
    },
    [client],
  );

  useEffect(() => {
    loadWorkspaces().catch((e: Error) => setError(e.message));
  }, [loadWorkspaces]);

  // The current workspace: the remembered one if still a member, else the first.
  useEffect(() => {
    if (!workspaces) return;
    const chosen = workspaces.find((w) => w.id === workspaceId) ?? workspaces[0];
    if (!chosen) return setWorkspace(null);
    if (chosen.id !== workspaceId) return setWorkspaceId(chosen.id);
    localStorage.setItem(LAST_WORKSPACE, chosen.id);
    setWorkspace(null);
    loadWorkspace(chosen.id).catch((e: Error) => setError(e.message));
  }, [workspaces, workspaceId, loadWorkspace]);

  // The channel: the one in the address if it is in this workspace, else the first the user belongs to.
  useEffect(() => {
    if (!workspace) return;
    const channels = workspace.channels.edges.map((e) => e.node);
    if (channelId && channels.some((c) => c.id === channelId)) return;
    setChannelId((channels.find((c) => c.myMembership && c.kind === 'CHANNEL') ?? channels[0])?.id ?? null);
  }, [workspace, channelId]);

  useEffect(() => {
    if (!workspace) return;
    const path = `/w/${encodeURIComponent(workspace.id)}${channelId ? `/${encodeURIComponent(channelId)}` : ''}`;
    if (location.pathname !== path) history.replaceState(null, '', path);
  }, [workspace, channelId]);

  // Unread counts for every channel, live: the inbox stream starts with each channel's counts.
  useEffect(
    () =>
      client.subscribe(InboxDocument, {}, {
        next: ({ inbox }) => {
          if (inbox.type === 'NOTIFICATIONS_CHANGED') return setNotifications(inbox.unreadNotificationCount ?? 0);
          if (!inbox.channel || inbox.thread) return;
          const id = inbox.channel.id;
          setUnread((counts) => ({ ...counts, [id]: inbox.unreadCount }));
          // A channel someone added us to (or a new direct message) appears in the sidebar.
          if ((inbox.type === 'CHANNEL_ADDED' || inbox.type === 'CHANNEL_REMOVED') && workspaceId) void loadWorkspace(workspaceId).catch(() => undefined);
        },
      }),
    [client, workspaceId, loadWorkspace],
  );

  // Presence dots: members coming online and going offline.
  useEffect(() => {
    if (!workspace) return;
    return client.subscribe(PresenceChangedDocument, { workspaceId: workspace.id }, {
      next: ({ presenceChanged }) =>
        setWorkspace((current) => {
          if (!current) return current;
          // Someone who joined since the workspace was loaded: load it again, with them.
          if (!current.members.edges.some((edge) => edge.node.id === presenceChanged.user.id)) {
            void loadWorkspace(current.id).catch(() => undefined);
            return current;
          }
          const edges = current.members.edges.map((edge) =>
            edge.node.id === presenceChanged.user.id ? { node: { ...edge.node, presence: { status: presenceChanged.status } } } : edge,
          );
          return { ...current, members: { ...current.members, edges } };
        }),
    });
  }, [client, workspace?.id, loadWorkspace]);

  const afterSetup = async (id: string) => {
    setSetupOpen(false);
    await loadWorkspaces();
    setWorkspaceId(id);
    setChannelId(null);
  };

  if (error) return <main class="center"><p role="alert">{error}</p><button onClick={() => location.reload()}>Reload</button></main>;
  if (!workspaces) return <main class="center" aria-busy="true">Loading workspaces…</main>;
  if (workspaces.length === 0 || setupOpen) {
    return <WorkspaceSetup client={client} me={me} onDone={afterSetup} onCancel={workspaces.length ? () => setSetupOpen(false) : undefined} onLogOut={onLogOut} />;
  }
  const channel = workspace?.channels.edges.map((e) => e.node).find((c) => c.id === channelId) ?? null;
  return (
    <div class="layout">
      <Sidebar
        client={client}
        me={me}
        workspaces={workspaces}
        workspace={workspace}
        channelId={channelId}
        unread={unread}
        notifications={notifications}
        onWorkspace={(id) => {
          setWorkspaceId(id);
          setChannelId(null);
        }}
        onChannel={setChannelId}
        onSetup={() => setSetupOpen(true)}
        onChanged={async (selectId) => {
          if (workspace) await loadWorkspace(workspace.id);
          if (selectId) setChannelId(selectId);
        }}
        onLogOut={onLogOut}
      />
      {workspace && channel ? (
        <ChannelView
          key={channel.id}
          client={client}
          me={me}
          channel={channel}
          members={workspace.members.edges.map((e) => e.node)}
          onJoined={() => loadWorkspace(workspace.id)}
          onNewMember={() => void loadWorkspace(workspace.id).catch(() => undefined)}
        />
      ) : (
        <main class="empty" aria-busy={!workspace}>{workspace ? 'Create a channel to start talking.' : 'Loading…'}</main>
      )}
    </div>
  );
}
