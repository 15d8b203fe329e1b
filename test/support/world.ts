import crypto from 'node:crypto';
import {
  CreateChannelDocument,
  CreateWorkspaceDocument,
  CreateWorkspaceInviteDocument,
  JoinWorkspaceDocument,
  SendMessageDocument,
  SignUpDocument,
} from '../../client/generated/graphql.ts';
import { decodeId } from '../../src/schema/ids.ts';
import { authenticate } from '../../src/services/auth.ts';
import { sendMessage } from '../../src/services/message.ts';
import { ok } from './client.ts';
import { startServer, type TestServer } from './server.ts';

type Target = Pick<TestServer, 'url'>;

export interface TestUser {
  id: string;
  handle: string;
  email: string;
  password: string;
  token: string;
}

/** Signs up a fresh user with a unique email and handle. */
export async function signUpUser(server: Target, name = 'user'): Promise<TestUser> {
  const suffix = crypto.randomBytes(4).toString('hex');
  const handle = `${name}-${suffix}`.toLowerCase();
  const email = `${handle}@example.com`;
  const password = `pw-${suffix}-secret`;
  const { signUp } = await ok(server, SignUpDocument, { input: { email, password, name, handle } });
  return { id: signUp.user.id, handle, email, password, token: signUp.token };
}

/** Signs up one fresh user per name, in parallel. */
export async function signUpUsers<const N extends readonly string[]>(
  server: Target,
  ...names: N
): Promise<{ -readonly [K in keyof N]: TestUser }> {
  return (await Promise.all(names.map((name) => signUpUser(server, name)))) as { -readonly [K in keyof N]: TestUser };
}

/** A workspace owned by `owner` that `members` joined by invite. */
export async function workspaceWith(server: Target, owner: TestUser, members: TestUser[] = []): Promise<string> {
  const slug = `ws-${crypto.randomBytes(4).toString('hex')}`;
  const { createWorkspace } = await ok(server, CreateWorkspaceDocument, { input: { name: `Workspace ${slug}`, slug } }, owner.token);
  if (members.length) {
    const { createWorkspaceInvite } = await ok(server, CreateWorkspaceInviteDocument, { workspaceId: createWorkspace.id }, owner.token);
    for (const member of members) {
      await ok(server, JoinWorkspaceDocument, { code: createWorkspaceInvite.code }, member.token);
    }
  }
  return createWorkspace.id;
}

/** A public (or private) channel created by `creator` with `members`. */
export async function channelWith(
  server: Target,
  workspaceId: string,
  creator: TestUser,
  members: TestUser[] = [],
  options: { private?: boolean; name?: string } = {},
): Promise<string> {
  const name = options.name ?? `ch-${crypto.randomBytes(4).toString('hex')}`;
  const { createChannel } = await ok(
    server,
    CreateChannelDocument,
    { input: { workspaceId, name, private: options.private ?? false, memberIds: members.map((m) => m.id) } },
    creator.token,
  );
  return createChannel.id;
}

/** A server with a team: ann owns a workspace that bob and cat joined; an outsider has a workspace of their own. */
export interface Team {
  server: TestServer;
  ann: TestUser;
  bob: TestUser;
  cat: TestUser;
  outsider: TestUser;
  workspaceId: string;
  otherWorkspaceId: string;
}

export async function startTeam(): Promise<Team> {
  const server = await startServer();
  const [ann, bob, cat, outsider] = await signUpUsers(server, 'ann', 'bob', 'cat', 'outsider');
  const workspaceId = await workspaceWith(server, ann, [bob, cat]);
  const otherWorkspaceId = await workspaceWith(server, outsider);
  return { server, ann, bob, cat, outsider, workspaceId, otherWorkspaceId };
}

/** Posts a message (or a reply, with threadRootId) as the token's user and returns it. */
export async function sendText(
  server: Target,
  token: string,
  channelId: string,
  text: string,
  extra: { clientMessageId?: string; threadRootId?: string } = {},
) {
  const { sendMessage } = await ok(server, SendMessageDocument, { input: { channelId, text, ...extra } }, token);
  return sendMessage;
}

/**
 * Posts `texts` in order as `user`, through the service rather than HTTP:
 * long histories are seeded in seconds even on a loaded machine.
 */
export async function seedMessages(server: TestServer, user: TestUser, channelId: string, texts: string[]): Promise<void> {
  const rt = server.app.runtime;
  const viewer = await authenticate(rt, `Bearer ${user.token}`);
  const channel = decodeId(channelId).id;
  for (const text of texts) await sendMessage(rt, viewer, { channelId: channel, text });
}
