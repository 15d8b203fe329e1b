import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { badInput, conflict, DomainError, notFound, parseInput } from '../errors.ts';
import type { Attachment } from '../generated/prisma/client.ts';
import type { Runtime } from '../runtime.ts';
import { displayName } from '../security/text.ts';
import { inspect, THUMBNAIL_TYPE } from '../storage/inspect.ts';
import { requireReadableChannel, requireWorkspaceMember } from './access.ts';
import type { Viewer } from './auth.ts';
import { uploadTarget } from './attachmentUrls.ts';
import { uuidv7 } from './sendQueue.ts';

/** The most files one message carries. */
export const MAX_ATTACHMENTS_PER_MESSAGE = 10;
/** An upload not sent with a message within this long is deleted. */
export const UNATTACHED_TTL_MS = 24 * 3600 * 1000;

const fileName = displayName(255);

/** The name a file is shown with: its last path segment, one visible line of at most 255 characters. */
function parseFileName(name: string): string {
  const base = name.split(/[/\\]/).pop() ?? '';
  return parseInput(fileName, base.trim() === '' ? name : base);
}

/** Reads a stream into memory, refusing it (BAD_USER_INPUT) as soon as it passes `limit` bytes. */
export async function readLimited(stream: AsyncIterable<Uint8Array>, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.byteLength;
    if (size > limit) throw tooLarge(limit);
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }
  return Buffer.concat(chunks, size);
}

const tooLarge = (limit: number) =>
  badInput(`The file is larger than the limit of ${limit.toLocaleString('en')} bytes (MAX_UPLOAD_BYTES).`, 'file');

const storageKey = (workspaceId: string, id: string) => `${workspaceId}/${id}`;
const thumbnailKey = (key: string) => `${key}.thumb`;

/**
 * Stores checked bytes and their thumbnail under `key`; returns what the
 * attachment row records about them.
 */
async function storeBytes(rt: Runtime, key: string, bytes: Buffer, storeOriginal: boolean) {
  if (bytes.byteLength === 0) throw badInput('The file is empty.', 'file');
  const found = await inspect(bytes);
  if (storeOriginal) await rt.files.put(key, Readable.from([bytes]), bytes.byteLength, found.contentType);
  if (found.thumbnail) await rt.files.put(thumbnailKey(key), Readable.from([found.thumbnail]), found.thumbnail.byteLength, THUMBNAIL_TYPE);
  return {
    contentType: found.contentType,
    size: bytes.byteLength,
    width: found.width,
    height: found.height,
    thumbnailKey: found.thumbnail ? thumbnailKey(key) : null,
    uploadedAt: new Date(),
  };
}

export interface UploadedFile {
  name: string;
  /** The file's bytes, read as they arrive. */
  stream: AsyncIterable<Uint8Array>;
}

/**
 * Uploads a file in one request (the GraphQL multipart request): checks the
 * size while reading, sniffs the content type from the bytes (the client's is
 * ignored), measures images and makes their thumbnails, stores it and records
 * it as the viewer's upload, not yet sent with any message.
 */
export async function uploadFile(rt: Runtime, viewer: Viewer, workspaceId: string, file: UploadedFile): Promise<Attachment> {
  await requireWorkspaceMember(rt, viewer, workspaceId);
  const name = parseFileName(file.name);
  const bytes = await readLimited(file.stream, rt.config.attachments.maxUploadBytes);
  const id = uuidv7();
  const key = storageKey(workspaceId, id);
  try {
    const stored = await storeBytes(rt, key, bytes, true);
    return await rt.prisma.attachment.create({
      data: { id, workspaceId, uploaderId: viewer.userId, name, storageKey: key, ...stored },
    });
  } catch (error) {
    await rt.files.delete([key, thumbnailKey(key)]).catch(() => {});
    throw error;
  }
}

const createUploadSchema = z.object({
  workspaceId: z.string(),
  name: z.string().max(4096, 'must be at most 255 characters'),
  contentType: z
    .string()
    .max(255, 'must be at most 255 characters')
    .regex(/^[\w.+-]+\/[\w.+-]+$/, 'must be a media type such as image/png'),
  size: z.number().int().min(1, 'must be at least 1 byte'),
});

export interface PendingUpload {
  attachment: Attachment;
  uploadUrl: string;
  uploadHeaders: Record<string, string>;
}

/**
 * The first step of an upload too big for one GraphQL request: records the
 * upload and answers where to PUT exactly `size` bytes (a presigned S3 URL,
 * or Parley's own signed URL with the local store), valid for an hour. The
 * declared content type only travels with the PUT; the stored type is sniffed.
 */
export async function createUpload(rt: Runtime, viewer: Viewer, input: z.input<typeof createUploadSchema>): Promise<PendingUpload> {
  const { workspaceId, name: rawName, contentType, size } = parseInput(createUploadSchema, input);
  const limit = rt.config.attachments.maxUploadBytes;
  if (size > limit) throw tooLarge(limit);
  const name = parseFileName(rawName);
  await requireWorkspaceMember(rt, viewer, workspaceId);
  const id = uuidv7();
  const attachment = await rt.prisma.attachment.create({
    data: { id, workspaceId, uploaderId: viewer.userId, name, contentType, size, storageKey: storageKey(workspaceId, id) },
  });
  const target = await uploadTarget(rt, attachment);
  return { attachment, uploadUrl: target.url, uploadHeaders: target.headers };
}

/** Why bytes sent to Parley's upload URL were refused, with the HTTP status that says so. */
export class UploadRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Takes the bytes of a two-step upload sent to Parley's own upload URL (the
 * local store; the URL's signature has been checked): exactly the size
 * promised, read with that limit, then checked and stored as
 * {@link uploadFile} does.
 */
export async function receiveUpload(rt: Runtime, attachmentId: string, body: AsyncIterable<Uint8Array>): Promise<Attachment> {
  const pending = await rt.prisma.attachment.findUnique({ where: { id: attachmentId } });
  if (!pending || pending.deletedAt) throw new UploadRefusal(404, 'This upload does not exist (any more).');
  if (pending.uploadedAt) throw new UploadRefusal(409, 'This upload already has its bytes.');
  let bytes: Buffer;
  try {
    bytes = await readLimited(body, pending.size);
  } catch (error) {
    if (error instanceof DomainError) throw new UploadRefusal(413, `This upload takes exactly ${pending.size} bytes.`);
    throw error;
  }
  if (bytes.byteLength !== pending.size) {
    throw new UploadRefusal(400, `This upload takes exactly ${pending.size} bytes; ${bytes.byteLength} arrived.`);
  }
  // Each attempt writes under a key of its own, so two PUTs racing cannot mix
  // one's bytes with the other's measurements: the first to record its key wins.
  const key = `${pending.storageKey}-${crypto.randomBytes(6).toString('hex')}`;
  try {
    const stored = await storeBytes(rt, key, bytes, true);
    const { count } = await rt.prisma.attachment.updateMany({
      where: { id: attachmentId, uploadedAt: null },
      data: { ...stored, storageKey: key },
    });
    if (count === 0) throw new UploadRefusal(409, 'This upload already has its bytes.');
  } catch (error) {
    await rt.files.delete([key, thumbnailKey(key)]).catch(() => {});
    throw error;
  }
  return rt.prisma.attachment.findUniqueOrThrow({ where: { id: attachmentId } });
}

/**
 * Completes two-step uploads whose bytes a client PUT straight into S3:
 * reads them back (at most the size promised), sniffs and measures them as
 * {@link uploadFile} does. Uploads whose bytes are not there yet are left
 * as they are.
 */
async function completeStoredUploads(rt: Runtime, pending: Attachment[]): Promise<void> {
  for (const upload of pending) {
    const size = await rt.files.size(upload.storageKey);
    if (size === null || size !== upload.size) continue;
    const stream = await rt.files.get(upload.storageKey);
    if (!stream) continue;
    const bytes = await readLimited(stream, upload.size);
    const stored = await storeBytes(rt, upload.storageKey, bytes, false);
    await rt.prisma.attachment.updateMany({ where: { id: upload.id, uploadedAt: null }, data: stored });
  }
}

/**
 * The user's own upload, with its bytes: for features that take a file the
 * user uploaded (a message's attachments, an avatar). Someone else's upload
 * is NOT_FOUND; one whose bytes have not arrived is CONFLICT.
 */
export async function requireOwnUpload(rt: Runtime, userId: string, attachmentId: string): Promise<Attachment> {
  const [upload] = await requireOwnUploads(rt, userId, [attachmentId]);
  return upload!;
}

/** {@link requireOwnUpload} for several uploads, in the order given. */
export async function requireOwnUploads(rt: Runtime, userId: string, attachmentIds: string[]): Promise<Attachment[]> {
  let uploads = await rt.prisma.attachment.findMany({ where: { id: { in: attachmentIds }, uploaderId: userId, deletedAt: null } });
  const pending = uploads.filter((upload) => !upload.uploadedAt);
  if (pending.length && rt.files.kind === 's3') {
    await completeStoredUploads(rt, pending);
    uploads = await rt.prisma.attachment.findMany({ where: { id: { in: attachmentIds }, uploaderId: userId, deletedAt: null } });
  }
  const byId = new Map(uploads.map((upload) => [upload.id, upload]));
  return attachmentIds.map((id) => {
    const upload = byId.get(id);
    if (!upload) throw notFound('Attachment');
    if (!upload.uploadedAt) throw conflict("This upload's bytes have not arrived yet: PUT them to its uploadUrl first.", 'attachmentIds');
    return upload;
  });
}

/**
 * Checks the files a send names before it is queued, for refusals with
 * clear codes: at most ten, no repeats, the author's own completed uploads
 * in the channel's workspace, not sent with another message (one sent with
 * the author's message of the same clientMessageId is that send retried).
 * The send's statement checks the same again under lock.
 */
export async function checkAttachable(
  rt: Runtime,
  viewer: Viewer,
  channelId: string,
  attachmentIds: string[],
  clientMessageId: string | null,
): Promise<void> {
  if (attachmentIds.length === 0) return;
  if (attachmentIds.length > MAX_ATTACHMENTS_PER_MESSAGE) {
    throw badInput(`A message carries at most ${MAX_ATTACHMENTS_PER_MESSAGE} attachments.`, 'attachmentIds');
  }
  if (new Set(attachmentIds).size !== attachmentIds.length) throw badInput('attachmentIds names a file twice.', 'attachmentIds');
  const uploads = await requireOwnUploads(rt, viewer.userId, attachmentIds);
  const { channel } = await requireReadableChannel(rt, viewer, channelId);
  const avatar = await rt.prisma.user.findFirst({ where: { avatarId: { in: attachmentIds } }, select: { id: true } });
  if (avatar) throw conflict('This file is your profile picture; upload it again to send it.', 'attachmentIds');
  for (const upload of uploads) {
    if (upload.workspaceId !== channel.workspaceId) throw notFound('Attachment');
    if (upload.messageId) {
      const first = clientMessageId
        ? await rt.prisma.message.findUnique({ where: { id: upload.messageId }, select: { authorId: true, clientMessageId: true } })
        : null;
      if (first?.authorId !== viewer.userId || first.clientMessageId !== clientMessageId) {
        throw conflict('This file was already sent with another message; upload it again to send it again.', 'attachmentIds');
      }
    }
  }
}

/**
 * An attachment the viewer may see: one sent in a channel they may read, or
 * their own upload not sent yet. Anything else is NOT_FOUND.
 */
export async function getAttachment(rt: Runtime, viewer: Viewer, attachmentId: string): Promise<Attachment> {
  const attachment = await rt.prisma.attachment.findUnique({ where: { id: attachmentId } });
  if (!attachment || attachment.deletedAt) throw notFound('Attachment');
  if (!attachment.channelId) {
    if (attachment.uploaderId !== viewer.userId) throw notFound('Attachment');
    return attachment;
  }
  try {
    await requireReadableChannel(rt, viewer, attachment.channelId);
  } catch (error) {
    if (error instanceof DomainError) throw notFound('Attachment');
    throw error;
  }
  return attachment;
}

/**
 * After a message is deleted (its attachments marked in the same
 * transaction): removes their bytes from the store, then their rows. What
 * fails here is finished by {@link cleanUpFiles}.
 */
export async function removeDeletedFiles(rt: Runtime, messageId: string): Promise<number> {
  const gone = await rt.prisma.attachment.findMany({
    where: { messageId, deletedAt: { not: null } },
    select: { id: true, storageKey: true, thumbnailKey: true },
  });
  return removeDeleted(rt, gone);
}

type StoredFile = Pick<Attachment, 'id' | 'storageKey' | 'thumbnailKey'>;
const keysOf = (files: StoredFile[]) => files.flatMap((f) => [f.storageKey, ...(f.thumbnailKey ? [f.thumbnailKey] : [])]);

/** Files of deleted messages: bytes first, so that a failure leaves the row for the next pass. */
async function removeDeleted(rt: Runtime, files: StoredFile[]): Promise<number> {
  if (files.length === 0) return 0;
  await rt.files.delete(keysOf(files));
  const { count } = await rt.prisma.attachment.deleteMany({ where: { id: { in: files.map((f) => f.id) }, deletedAt: { not: null } } });
  return count;
}

/** How many files one cleanup pass removes at most of each kind (the next pass takes the rest). */
const CLEANUP_BATCH = 500;

/**
 * Removes uploads never sent with a message that were created more than a
 * day before `now`, and the files of deleted messages still in the store;
 * returns how many it removed. Safe to run on several instances at once, and
 * while people send: an upload sent meanwhile is kept.
 */
export async function cleanUpFiles(rt: Runtime, now: Date = new Date()): Promise<number> {
  const cutoff = new Date(now.getTime() - UNATTACHED_TTL_MS);
  // The row goes first, under the condition that it is still unsent, so a send that claims it wins or loses cleanly.
  const unsent = await rt.prisma.$queryRaw<StoredFile[]>`
    DELETE FROM "Attachment"
     WHERE id IN (SELECT id FROM "Attachment" WHERE "messageId" IS NULL AND "createdAt" < ${cutoff} LIMIT ${CLEANUP_BATCH})
       AND "messageId" IS NULL
       -- A profile picture is in use, though never sent.
       AND NOT EXISTS (SELECT 1 FROM "User" u WHERE u."avatarId" = "Attachment".id)
    RETURNING id::text AS id, "storageKey", "thumbnailKey"`;
  if (unsent.length) await rt.files.delete(keysOf(unsent));
  const deleted = await rt.prisma.attachment.findMany({
    where: { deletedAt: { not: null } },
    select: { id: true, storageKey: true, thumbnailKey: true },
    take: CLEANUP_BATCH,
  });
  return unsent.length + (await removeDeleted(rt, deleted));
}
