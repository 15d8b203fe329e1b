import crypto from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Attachment } from '../generated/prisma/client.ts';
import type { Runtime } from '../runtime.ts';
import { THUMBNAIL_TYPE } from '../storage/inspect.ts';
import type { PresignedRequest } from '../storage/index.ts';

/** Where Parley serves (and, with the local store, takes) attachments' bytes. */
export const FILES_PATH = '/files/';
/** How long a download URL works. */
export const DOWNLOAD_URL_TTL_SECONDS = 3600;
/** How long an upload URL works. */
export const UPLOAD_URL_TTL_SECONDS = 3600;

export type FileVariant = 'original' | 'thumbnail';

/** Types a browser may show inline; anything else is served as a download. */
const INLINE = /^(image\/(png|jpeg|gif|webp)|application\/pdf|video\/(mp4|webm|quicktime)|audio\/(mpeg|mp4|ogg|wav))$/;

const mac = (rt: Runtime, payload: string) =>
  crypto.createHmac('sha256', rt.tokens.signingKey).update(`file:${payload}`).digest('base64url');

/** PUBLIC_URL when set; otherwise Parley's URLs are paths on the server the client called. */
const base = (rt: Runtime) => rt.config.notifications.publicUrl ?? '';

function signedPath(rt: Runtime, id: string, payload: string, ttlSeconds: number, now: number, extra: Record<string, string> = {}): string {
  const expires = Math.floor(now / 1000) + ttlSeconds;
  const params = new URLSearchParams({ ...extra, expires: String(expires), signature: mac(rt, `${payload}:${expires}`) });
  return `${base(rt)}${FILES_PATH}${id}?${params}`;
}

/** Where the client of a two-step upload PUTs the bytes, and the headers it sends. */
export async function uploadTarget(rt: Runtime, attachment: Attachment, now = Date.now()): Promise<PresignedRequest> {
  const presigned = await rt.files.presignPut(attachment.storageKey, {
    size: attachment.size,
    contentType: attachment.contentType,
    expiresInSeconds: UPLOAD_URL_TTL_SECONDS,
  });
  if (presigned) return presigned;
  return {
    url: signedPath(rt, attachment.id, `put:${attachment.id}:${attachment.size}`, UPLOAD_URL_TTL_SECONDS, now),
    headers: { 'Content-Type': attachment.contentType },
  };
}

/**
 * A download URL of the file or its thumbnail, valid for an hour: presigned
 * by S3, or signed by Parley and served by it (which also checks, on every
 * use, that the file still exists and its message was not deleted).
 */
export async function downloadUrl(rt: Runtime, attachment: Attachment, variant: FileVariant, now = Date.now()): Promise<string | null> {
  const key = variant === 'original' ? attachment.storageKey : attachment.thumbnailKey;
  if (!key) return null;
  const contentType = variant === 'original' ? attachment.contentType : THUMBNAIL_TYPE;
  const presigned = await rt.files.presignGet(key, {
    contentType,
    fileName: variant === 'original' ? attachment.name : `${attachment.name}.webp`,
    inline: INLINE.test(contentType),
    expiresInSeconds: DOWNLOAD_URL_TTL_SECONDS,
  });
  if (presigned) return presigned;
  return signedPath(rt, attachment.id, `get:${attachment.id}:${variant}`, DOWNLOAD_URL_TTL_SECONDS, now, { variant });
}

/** Whether a signed path's signature is Parley's and has not expired. */
export function checkSignature(rt: Runtime, payload: string, expires: string | null, signature: string | null, now = Date.now()): 'ok' | 'expired' | 'invalid' {
  if (!expires || !signature || !/^\d{1,12}$/.test(expires)) return 'invalid';
  const expected = Buffer.from(mac(rt, `${payload}:${expires}`));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !crypto.timingSafeEqual(expected, given)) return 'invalid';
  return Number(expires) * 1000 < now ? 'expired' : 'ok';
}

export interface Download {
  body: Readable;
  contentType: string;
  size: number | null;
  fileName: string;
  inline: boolean;
}

/**
 * The bytes a signed download URL of the local store names, if it is valid,
 * unexpired, and the file is still there: an attachment whose message was
 * deleted is gone. Null otherwise (the route answers 404 or 403).
 */
export async function openDownload(rt: Runtime, attachmentId: string, variant: FileVariant): Promise<Download | null> {
  const attachment = await rt.prisma.attachment.findUnique({ where: { id: attachmentId } });
  if (!attachment || attachment.deletedAt || !attachment.uploadedAt) return null;
  const key = variant === 'original' ? attachment.storageKey : attachment.thumbnailKey;
  if (!key) return null;
  const body = await rt.files.get(key);
  if (!body) return null;
  const contentType = variant === 'original' ? attachment.contentType : THUMBNAIL_TYPE;
  return {
    body,
    contentType,
    size: variant === 'original' ? attachment.size : null,
    fileName: variant === 'original' ? attachment.name : `${attachment.name}.webp`,
    inline: INLINE.test(contentType),
  };
}
