import { checkCursorArity } from '../../security/cursors.ts';
import { builder } from '../../builder.ts';
import { requireViewer } from '../../context.ts';
import { readableChannelsWhere } from '../../services/access.ts';
import { createInvite, createWorkspace, getWorkspace, joinWorkspace, revokeInvite } from '../../services/workspace.ts';
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
        const member = await ctx.rt.prisma.workspaceMember.findUniqueOrThrow({
          where: { workspaceId_userId: { workspaceId: workspace.id, userId: requireViewer(ctx).userId } },
          select: { role: true },
        });
        return member.role;
      },
    }),
    channels: t.relatedConnection('channels', {
      description: 'Channels the caller can see: public channels and those they belong to, including direct and group messages.',
      cursor: 'id',
      query: (args, ctx) => {
        checkCursorArity(args, 1);
        return { where: readableChannelsWhere(requireViewer(ctx)), orderBy: { id: 'asc' } };
      },
    }),
    members: t.prismaConnection({
      type: 'User',
      cursor: 'id',
      resolve: (query, workspace, _args, ctx) =>
        ctx.rt.prisma.user.findMany({
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
    maxUses: t.exposeInt('maxUses', { nullable: true, description: 'How many people may join with it; null: no limit.' }),
    uses: t.exposeInt('uses', { description: 'How many people have joined with it.' }),
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
      const workspace = await getWorkspace(ctx.rt, ctx.viewer, parseId('Workspace', id));
      return ctx.rt.prisma.workspace.findUniqueOrThrow({ ...query, where: { id: workspace.id } });
    },
  }),
  workspaces: t.withAuth({ loggedIn: true }).prismaConnection({
    type: 'Workspace',
    cursor: 'id',
    description: 'The workspaces the caller belongs to.',
    resolve: (query, _root, _args, ctx) =>
      ctx.rt.prisma.workspace.findMany({
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
    resolve: (_root, { input }, ctx) => createWorkspace(ctx.rt, ctx.viewer, input),
  }),
  createWorkspaceInvite: t.withAuth({ loggedIn: true }).field({
    type: WorkspaceInviteRef,
    description: 'Any member may invite. The code expires after 7 days unless `expiresAt` (at most 30 days away) says otherwise.',
    args: {
      workspaceId: t.arg.id({ required: true }),
      maxUses: t.arg.int({ description: 'How many people may join with the code (1 to 10,000); default: no limit.' }),
      expiresAt: t.arg({ type: 'DateTime', description: 'When the code stops working; default: 7 days from now.' }),
    },
    resolve: (_root, { workspaceId, maxUses, expiresAt }, ctx) =>
      createInvite(ctx.rt, ctx.viewer, parseId('Workspace', workspaceId), { maxUses, expiresAt }),
  }),
  revokeWorkspaceInvite: t.withAuth({ loggedIn: true }).boolean({
    description: 'Owners and admins of the workspace only. The code stops working at once; revoking twice is a no-op.',
    args: { code: t.arg.string({ required: true }) },
    resolve: (_root, { code }, ctx) => revokeInvite(ctx.rt, ctx.viewer, code),
  }),
  joinWorkspace: t.withAuth({ loggedIn: true }).field({
    type: WorkspaceRef,
    args: { code: t.arg.string({ required: true }) },
    resolve: async (_root, { code }, ctx) => {
      await ctx.rt.limits.consume('joinWorkspace', ctx.viewer.userId);
      return joinWorkspace(ctx.rt, ctx.viewer, code);
    },
  }),
}));
