import crypto from 'node:crypto';
import { z } from 'zod';
import { prisma } from '../db.ts';
import { conflict, isUniqueViolation, notFound, parseInput } from '../errors.ts';
import type { Workspace, WorkspaceInvite } from '../generated/prisma/client.ts';
import { requireWorkspaceMember } from './access.ts';
import type { Viewer } from './auth.ts';

const INVITE_TTL_MS = 7 * 24 * 3600 * 1000;

const createSchema = z.object({
  name: z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters'),
  slug: z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/, 'must be 1 to 40 letters, digits or "-", not starting or ending with "-"'),
});

/** Creates a workspace with the viewer as its OWNER. The slug is unique (CONFLICT). */
export async function createWorkspace(viewer: Viewer, input: unknown): Promise<Workspace> {
  const { name, slug } = parseInput(createSchema, input);
  try {
    return await prisma.workspace.create({
      data: { name, slug, members: { create: { userId: viewer.userId, role: 'OWNER' } } },
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict(`The slug "${slug}" is taken; choose another.`, 'slug');
    throw error;
  }
}

/** A workspace the viewer belongs to, or NOT_FOUND. */
export async function getWorkspace(viewer: Viewer, workspaceId: string): Promise<Workspace> {
  await requireWorkspaceMember(viewer, workspaceId);
  return prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } });
}

/** Any member may invite. Codes are unguessable and expire after seven days. */
export async function createInvite(viewer: Viewer, workspaceId: string): Promise<WorkspaceInvite> {
  await requireWorkspaceMember(viewer, workspaceId);
  return prisma.workspaceInvite.create({
    data: {
      workspaceId,
      createdById: viewer.userId,
      code: crypto.randomBytes(12).toString('base64url'),
      expiresAt: new Date(Date.now() + INVITE_TTL_MS),
    },
  });
}

/** Joins the workspace an invite code names; joining twice is a no-op. */
export async function joinWorkspace(viewer: Viewer, code: string): Promise<Workspace> {
  const invite = await prisma.workspaceInvite.findUnique({ where: { code: code.trim() }, include: { workspace: true } });
  if (!invite || invite.revokedAt || invite.expiresAt.getTime() <= Date.now()) {
    throw notFound('Invite (it may have expired)');
  }
  await prisma.$transaction(async (tx) => {
    // skipDuplicates: two joins at once (a double click) both succeed, once.
    const { count } = await tx.workspaceMember.createMany({
      data: [{ workspaceId: invite.workspaceId, userId: viewer.userId }],
      skipDuplicates: true,
    });
    if (count > 0) await tx.workspaceInvite.update({ where: { id: invite.id }, data: { uses: { increment: 1 } } });
  });
  return invite.workspace;
}
