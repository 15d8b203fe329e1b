import crypto from 'node:crypto';
import { z } from 'zod';
import { conflict, forbidden, isUniqueViolation, notFound, parseInput } from '../errors.ts';
import type { Workspace, WorkspaceInvite } from '../generated/prisma/client.ts';
import { displayName } from '../security/text.ts';
import { requireWorkspaceMember } from './access.ts';
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
 * Any member may invite. Codes are unguessable and expire after seven days
 * (or at `expiresAt`, at most 30 days away); `maxUses` caps how many people
 * may join with one.
 */
export async function createInvite(rt: Runtime, 
  viewer: Viewer,
  workspaceId: string,
  options: z.input<typeof inviteSchema> = {},
): Promise<WorkspaceInvite> {
  const { maxUses, expiresAt } = parseInput(inviteSchema, options);
  await requireWorkspaceMember(rt, viewer, workspaceId);
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
