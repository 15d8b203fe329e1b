import { builder } from '../../builder.ts';
import type { Context } from '../../context.ts';
import type { Attachment } from '../../generated/prisma/client.ts';
import { createUpload, uploadFile } from '../../services/attachments.ts';
import { downloadUrl } from '../../services/attachmentUrls.ts';
import { ChannelRef } from '../channel/index.ts';
import { parseId } from '../ids.ts';
import { compare, keysetPage } from '../keyset.ts';
import { MessageRef } from '../message/index.ts';

export const AttachmentRef = builder.prismaNode('Attachment', {
  id: { field: 'id' },
  description: "A file: first its uploader's own, then, once sent with a message, visible to whoever may read its channel.",
  fields: (t) => ({
    name: t.exposeString('name', { description: 'The file name the uploader gave (its last path segment).' }),
    contentType: t.exposeString('contentType', {
      description:
        'Sniffed from the bytes (PNG, JPEG, GIF, WebP, PDF, MP4, …); application/octet-stream when not recognised. Before the bytes of a two-step upload arrive: the declared type.',
    }),
    size: t.exposeInt('size', { description: 'In bytes.' }),
    width: t.exposeInt('width', { nullable: true, description: 'Images: width in pixels, as shown (EXIF orientation applied).' }),
    height: t.exposeInt('height', { nullable: true, description: 'Images: height in pixels, as shown.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was uploaded.' }),
    url: t.string({
      description:
        "A download URL valid for an hour: Parley's own signed URL (a path on the server you called, unless PUBLIC_URL is set) or a presigned S3 URL. It stops working once the file's message is deleted.",
      resolve: async (attachment, _args, ctx) => (await downloadUrl(ctx.rt, attachment, 'original'))!,
    }),
    thumbnailUrl: t.string({
      nullable: true,
      description: 'Images: a WebP of at most 320×320 pixels, under the same rules as url.',
      resolve: (attachment, _args, ctx) => downloadUrl(ctx.rt, attachment, 'thumbnail'),
    }),
  }),
});

/**
 * The attachments of messages, in the order they were sent: one query for a
 * page of messages, or, in a subscription, for every subscriber of one event.
 */
const attachmentsOf = (ctx: Context) =>
  ctx.batch.loader<string, Attachment[]>('attachments', async (messageIds) => {
    const rows = await ctx.rt.prisma.attachment.findMany({
      where: { messageId: { in: [...messageIds] }, deletedAt: null },
      orderBy: [{ messageId: 'asc' }, { position: 'asc' }],
    });
    const byMessage = new Map<string, Attachment[]>();
    for (const row of rows) byMessage.set(row.messageId!, [...(byMessage.get(row.messageId!) ?? []), row]);
    return messageIds.map((id) => byMessage.get(id) ?? []);
  });

builder.prismaObjectField(MessageRef, 'attachments', (t) =>
  t.field({
    type: [AttachmentRef],
    description: 'The files sent with the message, in the order given; none once it is deleted.',
    resolve: (message, _args, ctx) => (message.deletedAt ? [] : attachmentsOf(ctx).load(message.id)),
  }),
);

builder.prismaObjectField(ChannelRef, 'files', (t) =>
  t.connection(
    {
      type: AttachmentRef,
      description: "Files sent in the channel (thread replies' included), newest first; deleted messages' files are left out.",
      resolve: (channel, args, ctx) =>
        keysetPage(
          channel.id,
          args,
          'newest',
          ({ seek, sort, take }) =>
            ctx.rt.prisma.attachment.findMany({
              where: {
                channelId: channel.id,
                deletedAt: null,
                ...(seek
                  ? {
                      OR: [
                        { sharedAt: compare(seek.cmp, seek.at.createdAt) },
                        { sharedAt: seek.at.createdAt, id: compare(seek.cmp, seek.at.id) },
                      ],
                    }
                  : {}),
              },
              orderBy: [{ sharedAt: sort }, { id: sort }],
              take,
            }),
          (file) => ({ createdAt: file.sharedAt!, id: file.id }),
        ),
    },
    { name: 'AttachmentConnection' },
    { name: 'AttachmentEdge' },
  ),
);

const CreateUploadInput = builder.inputType('CreateUploadInput', {
  fields: (t) => ({
    workspaceId: t.id({ required: true }),
    name: t.string({ required: true, description: 'The file name (at most 255 characters).' }),
    contentType: t.string({ required: true, description: 'The type the PUT will declare; the stored type is sniffed from the bytes.' }),
    size: t.int({ required: true, description: 'The exact size in bytes, at most MAX_UPLOAD_BYTES.' }),
  }),
});

interface PendingUploadShape {
  attachment: Attachment;
  uploadUrl: string;
  uploadHeaders: Record<string, string>;
}

const PendingUploadRef = builder.objectRef<PendingUploadShape>('PendingUpload').implement({
  description: 'Where to PUT the bytes of a two-step upload; then send the attachment id with sendMessage.',
  fields: (t) => ({
    attachment: t.field({ type: AttachmentRef, resolve: (pending) => pending.attachment }),
    uploadUrl: t.exposeString('uploadUrl', {
      description: "Valid for an hour: a presigned S3 PUT, or Parley's own signed URL (a path on the server you called unless PUBLIC_URL is set).",
    }),
    uploadHeaders: t.field({
      type: 'HttpHeaders',
      description: 'Headers the PUT must carry, exactly as given.',
      resolve: (pending) => pending.uploadHeaders,
    }),
  }),
});

builder.mutationFields((t) => ({
  uploadFile: t.withAuth({ loggedIn: true }).field({
    type: AttachmentRef,
    description:
      'Uploads a file of at most MAX_UPLOAD_BYTES in one multipart request; its type is sniffed from the bytes, images get width, height and a thumbnail. Send its id with sendMessage(attachmentIds:) within a day.',
    args: { workspaceId: t.arg.id({ required: true }), file: t.arg({ type: 'File', required: true }) },
    resolve: async (_root, { workspaceId, file }, ctx) => {
      await ctx.rt.limits.consume('sendMessage', ctx.viewer.userId);
      return uploadFile(ctx.rt, ctx.viewer, parseId('Workspace', workspaceId), { name: file.name, stream: file.stream() });
    },
  }),
  createUpload: t.withAuth({ loggedIn: true }).field({
    type: PendingUploadRef,
    description: 'Starts a two-step upload: PUT exactly `size` bytes to uploadUrl with uploadHeaders, then send the attachment id with sendMessage.',
    args: { input: t.arg({ type: CreateUploadInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      await ctx.rt.limits.consume('sendMessage', ctx.viewer.userId);
      return createUpload(ctx.rt, ctx.viewer, { ...input, workspaceId: parseId('Workspace', input.workspaceId) });
    },
  }),
}));
