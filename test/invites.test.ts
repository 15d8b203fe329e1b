import { beforeAll, describe, expect, it } from 'vitest';
import {
  CreateLimitedInviteDocument,
  CreateWorkspaceInviteDocument,
  JoinWorkspaceDocument,
  RevokeWorkspaceInviteDocument,
  WorkspaceDocument,
} from '../client/generated/graphql.ts';
import { ok, refused } from './support/client.ts';
import { backendName, startServer, type TestServer } from './support/server.ts';
import { signUpUsers, workspaceWith, type TestUser } from './support/world.ts';
import { decodeId } from '../src/schema/ids.ts';

let server: TestServer;
let owner: TestUser;
let admin: TestUser;
let member: TestUser;
let outsider: TestUser;
let workspaceId: string;
beforeAll(async () => {
  server = await startServer();
  [owner, admin, member, outsider] = await signUpUsers(server, 'owner', 'admin', 'member', 'outsider');
  workspaceId = await workspaceWith(server, owner, [admin, member]);
  await server.app.runtime.db.prisma.workspaceMember.update({
    where: { workspaceId_userId: { workspaceId: decodeId(workspaceId).id, userId: decodeId(admin.id).id } },
    data: { role: 'ADMIN' },
  });
});

const memberCount = async () => {
  const { workspace } = await ok(server, WorkspaceDocument, { id: workspaceId, first: 100 }, owner.token);
  return workspace!.members.edges.length;
};

describe(`workspace invites (${backendName})`, () => {
  it('can be revoked by owners and admins only; a revoked code lets nobody in', async () => {
    const { createWorkspaceInvite: first } = await ok(server, CreateWorkspaceInviteDocument, { workspaceId }, member.token);
    expect(await refused(server, 'FORBIDDEN', RevokeWorkspaceInviteDocument, { code: first.code }, member.token)).toMatchObject({
      message: expect.stringMatching(/owners and admins/),
    });
    // Someone outside the workspace learns nothing about the code.
    await refused(server, 'NOT_FOUND', RevokeWorkspaceInviteDocument, { code: first.code }, outsider.token);
    await refused(server, 'NOT_FOUND', RevokeWorkspaceInviteDocument, { code: 'no-such-code' }, owner.token);
    expect((await ok(server, RevokeWorkspaceInviteDocument, { code: first.code }, admin.token)).revokeWorkspaceInvite).toBe(true);
    expect((await ok(server, RevokeWorkspaceInviteDocument, { code: first.code }, owner.token)).revokeWorkspaceInvite).toBe(true);
    const before = await memberCount();
    await refused(server, 'NOT_FOUND', JoinWorkspaceDocument, { code: first.code }, outsider.token);
    expect(await memberCount()).toBe(before);
  });

  it('let at most maxUses people join, also when they join at once', async () => {
    const { createWorkspaceInvite: invite } = await ok(server, CreateLimitedInviteDocument, { workspaceId, maxUses: 2 }, owner.token);
    expect(invite).toMatchObject({ maxUses: 2, uses: 0 });
    const joiners = await signUpUsers(server, 'j1', 'j2', 'j3', 'j4');
    const before = await memberCount();
    const results = await Promise.allSettled(
      joiners.map((joiner) => ok(server, JoinWorkspaceDocument, { code: invite.code }, joiner.token)),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    expect(await memberCount()).toBe(before + 2);
    const late = await signUpUsers(server, 'late');
    const error = await refused(server, 'NOT_FOUND', JoinWorkspaceDocument, { code: invite.code }, late[0].token);
    expect(error.message).toMatch(/used up/);
  });

  it('expire at expiresAt, which must be in the next 30 days', async () => {
    await refused(server, 'BAD_USER_INPUT', CreateLimitedInviteDocument, { workspaceId, expiresAt: new Date(Date.now() - 1000).toISOString() }, owner.token);
    await refused(server, 'BAD_USER_INPUT', CreateLimitedInviteDocument, { workspaceId, expiresAt: new Date(Date.now() + 40 * 86_400_000).toISOString() }, owner.token);
    await refused(server, 'BAD_USER_INPUT', CreateLimitedInviteDocument, { workspaceId, maxUses: 0 }, owner.token);
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    const { createWorkspaceInvite } = await ok(server, CreateLimitedInviteDocument, { workspaceId, expiresAt }, owner.token);
    expect(createWorkspaceInvite.expiresAt).toBe(expiresAt);
    // Move it into the past, as time would.
    await server.app.runtime.db.prisma.workspaceInvite.update({ where: { code: createWorkspaceInvite.code }, data: { expiresAt: new Date(Date.now() - 1) } });
    await refused(server, 'NOT_FOUND', JoinWorkspaceDocument, { code: createWorkspaceInvite.code }, outsider.token);
  });
});
