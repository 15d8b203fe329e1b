import { builder } from '../../builder.ts';
import { requireWorkspaceMember } from '../../services/access.ts';
import { getChannel } from '../../services/channel.ts';
import { getAttachment } from '../../services/attachments.ts';
import { getMessage } from '../../services/message.ts';
import { getComment, getPost } from '../../services/post.ts';
import { notFound } from '../../errors.ts';
import type { Runtime } from '../../runtime.ts';
import type { Viewer } from '../../services/auth.ts';
import { decodeId } from '../ids.ts';

/** Users are visible to people who share a workspace with them. */
async function getVisibleUser(rt: Runtime, viewer: Viewer, userId: string) {
  if (userId !== viewer.userId) {
    const shared = await rt.prisma.workspaceMember.findFirst({
      where: { userId, workspace: { members: { some: { userId: viewer.userId } } } },
      select: { userId: true },
    });
    if (!shared) throw notFound('User');
  }
  const user = await rt.prisma.user.findUnique({ where: { id: userId } });
  if (!user) throw notFound('User');
  return user;
}

builder.queryField('node', (t) =>
  t.withAuth({ loggedIn: true }).field({
    type: builder.nodeInterfaceRef(),
    nullable: true,
    description: 'Any object by its ID, if the caller may see it (NOT_FOUND otherwise).',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const { typename, id: rawId } = decodeId(id);
      switch (typename) {
        case 'User':
          return Object.assign(await getVisibleUser(ctx.rt, ctx.viewer, rawId), { __typename: 'User' });
        case 'Workspace': {
          await requireWorkspaceMember(ctx.rt, ctx.viewer, rawId);
          const workspace = await ctx.rt.prisma.workspace.findUniqueOrThrow({ where: { id: rawId } });
          return Object.assign(workspace, { __typename: 'Workspace' });
        }
        case 'Channel':
          return Object.assign(await getChannel(ctx.rt, ctx.viewer, rawId), { __typename: 'Channel' });
        case 'Message':
          return Object.assign(await getMessage(ctx.rt, ctx.viewer, rawId), { __typename: 'Message' });
        case 'Post':
          return Object.assign(await getPost(ctx.rt, ctx.viewer, rawId), { __typename: 'Post' });
        case 'Comment': {
          const { post: _post, ...comment } = await getComment(ctx.rt, ctx.viewer, rawId);
          return Object.assign(comment, { __typename: 'Comment' });
        }
        case 'Notification': {
          // Only the recipient's own.
          const notification = await ctx.rt.prisma.notification.findFirst({ where: { id: rawId, userId: ctx.viewer.userId } });
          if (!notification) throw notFound('Notification');
          return Object.assign(notification, { __typename: 'Notification' });
        }
        case 'Attachment':
          return Object.assign(await getAttachment(ctx.rt, ctx.viewer, rawId), { __typename: 'Attachment' });
        default:
          throw notFound('Node');
      }
    },
  }),
);
