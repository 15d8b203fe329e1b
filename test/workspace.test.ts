import { beforeAll, describe, expect, it } from 'vitest';
import {
  CreateWorkspaceDocument,
  CreateWorkspaceInviteDocument,
  JoinWorkspaceDocument,
  UserNodeDocument,
  WorkspaceDocument,
} from '../client/generated/graphql.ts';
import { ok, refused } from './support/client.ts';
import { backendName, startServer, type TestServer } from './support/server.ts';
import { channelWith, signUpUser, signUpUsers, workspaceWith, type TestUser } from './support/world.ts';

let server: TestServer;
let owner: TestUser;
let member: TestUser;
let outsider: TestUser;
let workspaceId: string;

beforeAll(async () => {
  server = await startServer();
  [owner, member, outsider] = await signUpUsers(server, 'owner', 'member', 'outsider');
  workspaceId = await workspaceWith(server, owner, [member]);
});

describe(`workspaces and invites (${backendName})`, () => {
  it('makes the creator OWNER and others MEMBER', async () => {
    const { createWorkspace } = await ok(server, CreateWorkspaceDocument, { input: { name: 'Acme', slug: 'Acme-Corp' } }, owner.token);
    expect(createWorkspace).toMatchObject({ name: 'Acme', slug: 'acme-corp', viewerRole: 'OWNER' });
  });

  it('refuses a taken slug (CONFLICT) and a malformed one (BAD_USER_INPUT)', async () => {
    await ok(server, CreateWorkspaceDocument, { input: { name: 'One', slug: 'taken-slug' } }, owner.token);
    await refused(server, 'CONFLICT', CreateWorkspaceDocument, { input: { name: 'Two', slug: 'taken-slug' } }, member.token);
    await refused(server, 'BAD_USER_INPUT', CreateWorkspaceDocument, { input: { name: 'Two', slug: '-bad slug-' } }, member.token);
    await refused(server, 'BAD_USER_INPUT', CreateWorkspaceDocument, { input: { name: '  ', slug: 'blank-name' } }, member.token);
  });

  it('refuses workspace mutations without a token (UNAUTHENTICATED)', async () => {
    await refused(server, 'UNAUTHENTICATED', CreateWorkspaceDocument, { input: { name: 'X', slug: 'no-token' } });
  });

  it('joins by invite code; joining twice is harmless', async () => {
    const newcomer = await signUpUser(server, 'newcomer');
    const { createWorkspaceInvite } = await ok(server, CreateWorkspaceInviteDocument, { workspaceId }, member.token);
    expect(createWorkspaceInvite.workspace.id).toBe(workspaceId);
    const [first, second] = await Promise.all([
      ok(server, JoinWorkspaceDocument, { code: createWorkspaceInvite.code }, newcomer.token),
      ok(server, JoinWorkspaceDocument, { code: createWorkspaceInvite.code }, newcomer.token),
    ]);
    await ok(server, JoinWorkspaceDocument, { code: createWorkspaceInvite.code }, newcomer.token);
    expect(first.joinWorkspace.id).toBe(workspaceId);
    expect(second.joinWorkspace.id).toBe(workspaceId);
    const { workspace } = await ok(server, WorkspaceDocument, { id: workspaceId, first: 100 }, newcomer.token);
    const ids = workspace!.members.edges.map((e) => e.node.id);
    expect(ids.filter((id) => id === newcomer.id)).toHaveLength(1);
  });

  it('refuses an unknown invite code (NOT_FOUND)', async () => {
    await refused(server, 'NOT_FOUND', JoinWorkspaceDocument, { code: 'no-such-code' }, outsider.token);
  });

  it('hides a workspace from non-members: NOT_FOUND, the same as a missing one', async () => {
    const notMember = await refused(server, 'NOT_FOUND', WorkspaceDocument, { id: workspaceId }, outsider.token);
    const missing = await refused(
      server,
      'NOT_FOUND',
      WorkspaceDocument,
      { id: Buffer.from('Workspace:00000000-0000-7000-8000-000000000000').toString('base64') },
      outsider.token,
    );
    expect(notMember.message).toBe(missing.message);
    await refused(server, 'NOT_FOUND', CreateWorkspaceInviteDocument, { workspaceId }, outsider.token);
  });

  it('answers garbage IDs with BAD_USER_INPUT, never a server error', async () => {
    await refused(server, 'BAD_USER_INPUT', WorkspaceDocument, { id: 'garbage' }, owner.token);
    await refused(server, 'BAD_USER_INPUT', WorkspaceDocument, { id: Buffer.from('Workspace:not-a-uuid').toString('base64') }, owner.token);
  });

  it('shows members, with email only to the user themself', async () => {
    const { workspace } = await ok(server, WorkspaceDocument, { id: workspaceId, first: 100 }, member.token);
    const nodes = workspace!.members.edges.map((e) => e.node);
    expect(nodes.find((n) => n.id === member.id)?.email).toBe(member.email);
    expect(nodes.find((n) => n.id === owner.id)?.email).toBeNull();
    expect(nodes.some((n) => n.id === outsider.id)).toBe(false);
  });

  it('lists public channels and private ones the caller belongs to, not others', async () => {
    const open = await channelWith(server, workspaceId, owner, [], { name: 'open-one' });
    const secret = await channelWith(server, workspaceId, owner, [], { name: 'secret-one', private: true });
    const mine = await channelWith(server, workspaceId, owner, [member], { name: 'secret-two', private: true });
    const { workspace } = await ok(server, WorkspaceDocument, { id: workspaceId, first: 100 }, member.token);
    const ids = workspace!.channels.edges.map((e) => e.node.id);
    expect(ids).toContain(open);
    expect(ids).toContain(mine);
    expect(ids).not.toContain(secret);
  });

  it('resolves users by node(id) only for people who share a workspace', async () => {
    const { node } = await ok(server, UserNodeDocument, { id: owner.id }, member.token);
    expect(node).toMatchObject({ id: owner.id, handle: owner.handle, email: null });
    await refused(server, 'NOT_FOUND', UserNodeDocument, { id: owner.id }, outsider.token);
  });
});
