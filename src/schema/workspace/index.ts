import { checkCursorArity } from '../../security/cursors.ts';
import { builder } from '../../builder.ts';
import { requireViewer } from '../../context.ts';
import { readableChannelsWhere } from '../../services/access.ts';
import {
  createInvite,
  createWorkspace,
  getWorkspace,
  joinWorkspace,
  leaveWorkspace,
  removeWorkspaceMember,
  revokeInvite,
  updateMemberRole,
  updateWorkspace,
} from '../../services/workspace.ts';
import { parseId } from '../ids.ts';

const WorkspaceRoleRef = builder.enumType('WorkspaceRole', {
  values: {
    OWNER: { description: 'Everything an admin can do, and manage admins and owners.' },
    ADMIN: { description: 'Rename the workspace, manage members and guests, administer every channel.' },
    MEMBER: { description: 'See and join public channels, create channels, invite people.' },
    GUEST: { description: 'Sees only the channels they are added to; cannot create, join or list public channels, nor invite.' },
  } as const,
});

const WorkspaceMemberRef = builder.prismaObject('WorkspaceMember', {
  description: "Someone's membership of a workspace.",
  fields: (t) => ({
    user: t.relation('user'),
    workspace: t.relation('workspace'),
    role: t.expose('role', { type: WorkspaceRoleRef }),
    joinedAt: t.expose('joinedAt', { type: 'DateTime' }),
  }),
});

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

const UpdateWorkspaceInput = builder.inputType('UpdateWorkspaceInput', {
  fields: (t) => ({
    workspaceId: t.id({ required: true }),
    name: t.string({ required: true, description: '1 to 100 characters.' }),
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
    description: 'Any member but a guest may invite. The code expires after 7 days unless `expiresAt` (at most 30 days away) says otherwise.',
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
  updateWorkspace: t.withAuth({ loggedIn: true }).field({
    type: WorkspaceRef,
    description: 'Owners and admins only.',
    args: { input: t.arg({ type: UpdateWorkspaceInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      updateWorkspace(ctx.rt, ctx.viewer, { workspaceId: parseId('Workspace', input.workspaceId), name: input.name }),
  }),
  updateMemberRole: t.withAuth({ loggedIn: true }).field({
    type: WorkspaceMemberRef,
    description:
      'Owners change anyone’s role; admins move people between MEMBER and GUEST. The last owner cannot be demoted (CONFLICT).',
    args: {
      workspaceId: t.arg.id({ required: true }),
      userId: t.arg.id({ required: true }),
      role: t.arg({ type: WorkspaceRoleRef, required: true }),
    },
    resolve: (_root, { workspaceId, userId, role }, ctx) =>
      updateMemberRole(ctx.rt, ctx.viewer, parseId('Workspace', workspaceId), parseId('User', userId), role),
  }),
  removeWorkspaceMember: t.withAuth({ loggedIn: true }).boolean({
    description:
      'Owners remove anyone, admins remove members and guests. Their channel memberships end and their open streams of the workspace end with FORBIDDEN.',
    args: { workspaceId: t.arg.id({ required: true }), userId: t.arg.id({ required: true }) },
    resolve: (_root, { workspaceId, userId }, ctx) =>
      removeWorkspaceMember(ctx.rt, ctx.viewer, parseId('Workspace', workspaceId), parseId('User', userId)),
  }),
  leaveWorkspace: t.withAuth({ loggedIn: true }).boolean({
    description: 'The last owner cannot leave (CONFLICT): make someone else owner first.',
    args: { workspaceId: t.arg.id({ required: true }) },
    resolve: (_root, { workspaceId }, ctx) => leaveWorkspace(ctx.rt, ctx.viewer, parseId('Workspace', workspaceId)),
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
