import crypto from 'node:crypto';
import { z } from 'zod';
import { badInput, conflict, forbidden, isUniqueViolation, notFound, parseInput } from '../errors.ts';
import type { Workspace, WorkspaceInvite, WorkspaceMember } from '../generated/prisma/client.ts';
import type { WorkspaceRole } from '../generated/prisma/enums.ts';
import { displayName } from '../security/text.ts';
import { isAdminRole, requireWorkspaceAdmin, requireWorkspaceMember } from './access.ts';
import { removeMemberships } from './channelSettings.ts';
import { publishToUsers, type Tx } from './eventLog.ts';
import type { Viewer } from './auth.ts';
import type { Runtime } from '../runtime.ts';

const INVITE_TTL_MS = 7 * 24 * 3600 * 1000;
const MAX_INVITE_TTL_MS = 30 * 24 * 3600 * 1000;

const createSchema = z.object({
  name: displayName(100),
  slug: z
    .string()
    .max(100, 'must be 1 to 40 letters, digits or "-", not starting or ending with "-"')
    .trim()
    .toLowerCase()
    .regex(/^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/, 'must be 1 to 40 letters, digits or "-", not starting or ending with "-"'),
});

/** Creates a workspace with the viewer as its OWNER. The slug is unique (CONFLICT). */
export async function createWorkspace(rt: Runtime, viewer: Viewer, input: unknown): Promise<Workspace> {
  const { name, slug } = parseInput(createSchema, input);
  try {
    return await rt.prisma.workspace.create({
      data: { name, slug, members: { create: { userId: viewer.userId, role: 'OWNER' } } },
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict(`The slug "${slug}" is taken; choose another.`, 'slug');
    throw error;
  }
}

/** A workspace the viewer belongs to, or NOT_FOUND. */
export async function getWorkspace(rt: Runtime, viewer: Viewer, workspaceId: string): Promise<Workspace> {
  await requireWorkspaceMember(rt, viewer, workspaceId);
  return rt.prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } });
}

const inviteSchema = z.object({
  maxUses: z.number().int().min(1, 'must be at least 1').max(10_000, 'must be at most 10,000').nullish(),
  expiresAt: z
    .date()
    .refine((date) => date.getTime() > Date.now(), 'must be in the future')
    .refine((date) => date.getTime() <= Date.now() + MAX_INVITE_TTL_MS, 'must be within 30 days')
    .nullish(),
});

/**
 * Any member but a guest may invite. Codes are unguessable and expire after seven days
 * (or at `expiresAt`, at most 30 days away); `maxUses` caps how many people
 * may join with one.
 */
export async function createInvite(rt: Runtime, 
  viewer: Viewer,
  workspaceId: string,
  options: z.input<typeof inviteSchema> = {},
): Promise<WorkspaceInvite> {
  const { maxUses, expiresAt } = parseInput(inviteSchema, options);
  const { role } = await requireWorkspaceMember(rt, viewer, workspaceId);
  if (role === 'GUEST') throw forbidden('Guests cannot invite people.');
  return rt.prisma.workspaceInvite.create({
    data: {
      workspaceId,
      createdById: viewer.userId,
      code: crypto.randomBytes(12).toString('base64url'),
      expiresAt: expiresAt ?? new Date(Date.now() + INVITE_TTL_MS),
      maxUses: maxUses ?? null,
    },
  });
}

/**
 * Revokes an invite code: owners and admins of its workspace only. A code
 * the viewer cannot see (unknown, or of a workspace they are not in) is
 * NOT_FOUND. Revoking twice is a no-op.
 */
export async function revokeInvite(rt: Runtime, viewer: Viewer, code: string): Promise<boolean> {
  const invite = code.length <= 100 ? await rt.prisma.workspaceInvite.findUnique({ where: { code: code.trim() } }) : null;
  if (!invite) throw notFound('Invite');
  const member = await rt.prisma.workspaceMember.findUnique({
    where: { workspaceId_userId: { workspaceId: invite.workspaceId, userId: viewer.userId } },
    select: { role: true },
  });
  if (!member) throw notFound('Invite');
  if (member.role !== 'OWNER' && member.role !== 'ADMIN') {
    throw forbidden('Only workspace owners and admins can revoke invites.');
  }
  await rt.prisma.workspaceInvite.updateMany({ where: { id: invite.id, revokedAt: null }, data: { revokedAt: new Date() } });
  return true;
}

/** Joins the workspace an invite code names; joining twice is a no-op. */
export async function joinWorkspace(rt: Runtime, viewer: Viewer, code: string): Promise<Workspace> {
  const gone = () => notFound('Invite (it may have expired, been revoked or used up)');
  // Codes are 16 characters; nothing much longer is looked up.
  const invite = code.length <= 100 ? await rt.prisma.workspaceInvite.findUnique({ where: { code: code.trim() }, include: { workspace: true } }) : null;
  if (!invite || invite.revokedAt || invite.expiresAt.getTime() <= Date.now()) throw gone();
  await rt.prisma.$transaction(async (tx) => {
    // skipDuplicates: two joins at once (a double click) both succeed, once.
    const { count } = await tx.workspaceMember.createMany({
      data: [{ workspaceId: invite.workspaceId, userId: viewer.userId }],
      skipDuplicates: true,
    });
    if (count === 0) return;
    // Counted in the same statement that checks the cap, so joins at once cannot overshoot it.
    const { count: counted } = await tx.workspaceInvite.updateMany({
      where: {
        id: invite.id,
        revokedAt: null,
        OR: [{ maxUses: null }, { uses: { lt: tx.workspaceInvite.fields.maxUses } }],
      },
      data: { uses: { increment: 1 } },
    });
    if (counted === 0) throw gone();
  });
  return invite.workspace;
}

const updateSchema = z.object({ workspaceId: z.string(), name: displayName(100) });

/** Renames a workspace: owners and admins only. */
export async function updateWorkspace(rt: Runtime, viewer: Viewer, input: z.input<typeof updateSchema>): Promise<Workspace> {
  const { workspaceId, name } = parseInput(updateSchema, input);
  await requireWorkspaceAdmin(rt, viewer, workspaceId, 'rename the workspace');
  return rt.prisma.workspace.update({ where: { id: workspaceId }, data: { name } });
}

const ROLES = ['OWNER', 'ADMIN', 'MEMBER', 'GUEST'] as const;

/**
 * Whether someone with role `actor` may change a member from `from` to `to`:
 * owners manage everyone; admins manage members and guests, between those two
 * roles only.
 */
function mayChangeRole(actor: WorkspaceRole, from: WorkspaceRole, to: WorkspaceRole): boolean {
  if (actor === 'OWNER') return true;
  if (actor === 'ADMIN') return (from === 'MEMBER' || from === 'GUEST') && (to === 'MEMBER' || to === 'GUEST');
  return false;
}

/** The workspace's members, locked until the transaction ends, so that two demotions cannot both remove "another" owner. */
async function lockWorkspace(tx: Tx, workspaceId: string): Promise<void> {
  await tx.$queryRaw`SELECT id FROM "Workspace" WHERE id = ${workspaceId}::uuid FOR UPDATE`;
}

async function isLastOwner(tx: Tx, workspaceId: string, userId: string): Promise<boolean> {
  const owners = await tx.workspaceMember.findMany({ where: { workspaceId, role: 'OWNER' }, select: { userId: true }, take: 2 });
  return owners.length === 1 && owners[0]!.userId === userId;
}

const LAST_OWNER = 'A workspace must keep an owner: make someone else owner first.';

/**
 * Changes a member's role (see {@link mayChangeRole}). The last owner cannot
 * be demoted (CONFLICT). Someone made a guest loses the public channels they
 * had not joined: their open streams of those end at once.
 */
export async function updateMemberRole(
  rt: Runtime,
  viewer: Viewer,
  workspaceId: string,
  userId: string,
  role: WorkspaceRole,
): Promise<WorkspaceMember> {
  if (!ROLES.includes(role)) throw badInput(`role must be one of ${ROLES.join(', ')}.`, 'role');
  const actor = await requireWorkspaceAdmin(rt, viewer, workspaceId, 'change roles');
  const updated = await rt.prisma.$transaction(async (tx) => {
    await lockWorkspace(tx, workspaceId);
    const target = await tx.workspaceMember.findUnique({ where: { workspaceId_userId: { workspaceId, userId } } });
    if (!target) throw notFound('Member');
    if (target.role === role) return target;
    if (!mayChangeRole(actor.role, target.role, role)) {
      throw forbidden(
        actor.role === 'ADMIN'
          ? 'Admins manage members and guests only; ask an owner to change owners and admins.'
          : 'Only workspace owners and admins can change roles.',
      );
    }
    if (target.role === 'OWNER' && (await isLastOwner(tx, workspaceId, userId))) throw conflict(LAST_OWNER, 'role');
    return tx.workspaceMember.update({ where: { workspaceId_userId: { workspaceId, userId } }, data: { role } });
  });
  if (role === 'GUEST') await publishToUsers(rt, [userId], { type: 'ACCESS_CHANGED', workspaceId });
  return updated;
}

/**
 * Removes someone from a workspace: owners remove anyone, admins remove
 * members and guests. Their channel memberships end (MEMBER_LEFT in each) and
 * their open streams of the workspace end with FORBIDDEN on every instance.
 * To remove oneself, leaveWorkspace.
 */
export async function removeWorkspaceMember(rt: Runtime, viewer: Viewer, workspaceId: string, userId: string): Promise<boolean> {
  const actor = await requireWorkspaceAdmin(rt, viewer, workspaceId, 'remove people');
  if (userId === viewer.userId) throw badInput('To remove yourself, leave the workspace (leaveWorkspace).', 'userId');
  await endWorkspaceMembership(rt, workspaceId, userId, (target) => {
    if (actor.role === 'ADMIN' && isAdminRole(target.role)) {
      throw forbidden('Admins remove members and guests only; ask an owner to remove owners and admins.');
    }
  });
  return true;
}

/** Leaves a workspace; the last owner cannot (CONFLICT). */
export async function leaveWorkspace(rt: Runtime, viewer: Viewer, workspaceId: string): Promise<boolean> {
  await requireWorkspaceMember(rt, viewer, workspaceId);
  await endWorkspaceMembership(rt, workspaceId, viewer.userId, () => {});
  return true;
}

/**
 * Deletes a workspace membership (after `check` accepted the target, and
 * unless it is the last owner), then the person's channel memberships there,
 * each with its MEMBER_LEFT event, and tells their open streams.
 */
export async function endWorkspaceMembership(
  rt: Runtime,
  workspaceId: string,
  userId: string,
  check: (target: WorkspaceMember) => void,
): Promise<void> {
  await rt.prisma.$transaction(async (tx) => {
    await lockWorkspace(tx, workspaceId);
    const target = await tx.workspaceMember.findUnique({ where: { workspaceId_userId: { workspaceId, userId } } });
    if (!target) throw notFound('Member');
    check(target);
    if (target.role === 'OWNER' && (await isLastOwner(tx, workspaceId, userId))) throw conflict(LAST_OWNER);
    await tx.workspaceMember.delete({ where: { workspaceId_userId: { workspaceId, userId } } });
  });
  // Access is gone with the workspace membership (every check joins it); the channels follow.
  await publishToUsers(rt, [userId], { type: 'ACCESS_CHANGED', workspaceId });
  const memberships = await rt.prisma.membership.findMany({
    where: { userId, channel: { workspaceId } },
    select: { channelId: true },
  });
  for (const { channelId } of memberships) await removeMemberships(rt, channelId, [userId]);
}
