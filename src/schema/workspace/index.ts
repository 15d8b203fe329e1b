import { builder } from '../../builder.ts';
import { prisma } from '../../db.ts';
import { requireViewer } from '../../context.ts';
import { readableChannelsWhere } from '../../services/access.ts';
import { createInvite, createWorkspace, getWorkspace, joinWorkspace } from '../../services/workspace.ts';
import { parseId } from '../ids.ts';

const WorkspaceRoleRef = builder.enumType('WorkspaceRole', { values: ['OWNER', 'ADMIN', 'MEMBER'] as const });

export const WorkspaceRef = builder.prismaNode('Workspace', {
  id: { field: 'id' },
  fields: (t) => ({
    name: t.exposeString('name'),
    slug: t.exposeString('slug'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    viewerRole: t.field({
      type: WorkspaceRoleRef,
      description: "The signed-in user's role here.",
      resolve: async (workspace, _args, ctx) => {
        const member = await prisma.workspaceMember.findUniqueOrThrow({
          where: { workspaceId_userId: { workspaceId: workspace.id, userId: requireViewer(ctx).userId } },
          select: { role: true },
        });
        return member.role;
      },
    }),
    channels: t.relatedConnection('channels', {
      description: 'Channels the caller can see: public channels and those they belong to, including direct and group messages.',
      cursor: 'id',
      query: (_args, ctx) => ({ where: readableChannelsWhere(requireViewer(ctx)), orderBy: { id: 'asc' } }),
    }),
    members: t.prismaConnection({
      type: 'User',
      cursor: 'id',
      resolve: (query, workspace) =>
        prisma.user.findMany({
          ...query,
          where: { workspaces: { some: { workspaceId: workspace.id } } },
          orderBy: { id: 'asc' },
        }),
    }),
  }),
});

const WorkspaceInviteRef = builder.prismaObject('WorkspaceInvite', {
  fields: (t) => ({
    code: t.exposeString('code', { description: 'Give it to someone; they call joinWorkspace(code).' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
    workspace: t.relation('workspace'),
  }),
});

const CreateWorkspaceInput = builder.inputType('CreateWorkspaceInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    slug: t.string({ required: true, description: '1 to 40 letters, digits or "-"; unique.' }),
  }),
});

builder.queryFields((t) => ({
  workspace: t.withAuth({ loggedIn: true }).prismaField({
    type: 'Workspace',
    nullable: true,
    description: 'NOT_FOUND unless the caller is a member.',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (query, _root, { id }, ctx) => {
      const workspace = await getWorkspace(ctx.viewer, parseId('Workspace', id));
      return prisma.workspace.findUniqueOrThrow({ ...query, where: { id: workspace.id } });
    },
  }),
  workspaces: t.withAuth({ loggedIn: true }).prismaConnection({
    type: 'Workspace',
    cursor: 'id',
    description: 'The workspaces the caller belongs to.',
    resolve: (query, _root, _args, ctx) =>
      prisma.workspace.findMany({
        ...query,
        where: { members: { some: { userId: ctx.viewer.userId } } },
        orderBy: { id: 'asc' },
      }),
  }),
}));

builder.mutationFields((t) => ({
  createWorkspace: t.withAuth({ loggedIn: true }).field({
    type: WorkspaceRef,
    args: { input: t.arg({ type: CreateWorkspaceInput, required: true }) },
    resolve: (_root, { input }, ctx) => createWorkspace(ctx.viewer, input),
  }),
  createWorkspaceInvite: t.withAuth({ loggedIn: true }).field({
    type: WorkspaceInviteRef,
    args: { workspaceId: t.arg.id({ required: true }) },
    resolve: (_root, { workspaceId }, ctx) => createInvite(ctx.viewer, parseId('Workspace', workspaceId)),
  }),
  joinWorkspace: t.withAuth({ loggedIn: true }).field({
    type: WorkspaceRef,
    args: { code: t.arg.string({ required: true }) },
    resolve: (_root, { code }, ctx) => joinWorkspace(ctx.viewer, code),
  }),
}));
