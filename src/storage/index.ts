import type { Readable } from 'node:stream';
import type { Config } from '../config.ts';
import { LocalStore } from './local.ts';

/** Where a client sends or fetches bytes itself: a presigned S3 request. */
export interface PresignedRequest {
  url: string;
  /** Headers the request must carry exactly as given (they are part of the signature). */
  headers: Record<string, string>;
}

/**
 * Where attachments' bytes live: a folder on local disk or an S3-compatible
 * bucket. Parley decides who may read or write; a store only keeps bytes.
 */
export interface FileStore {
  readonly kind: 'local' | 's3';
  /** Stores `size` bytes from `body` under `key`, replacing what was there. */
  put(key: string, body: Readable, size: number, contentType: string): Promise<void>;
  /** The stored bytes, or null when there are none under `key`. */
  get(key: string): Promise<Readable | null>;
  /** The stored size in bytes, or null when nothing is stored under `key`. */
  size(key: string): Promise<number | null>;
  /** Removes what is stored under the keys; keys with nothing stored are ignored. */
  delete(keys: string[]): Promise<void>;
  /**
   * A presigned PUT of exactly `size` bytes (S3), or null when clients send
   * the bytes to Parley itself (the local store).
   */
  presignPut(key: string, options: { size: number; contentType: string; expiresInSeconds: number }): Promise<PresignedRequest | null>;
  /**
   * A presigned GET answered with the given content type and file name (S3),
   * or null when Parley serves the bytes itself (the local store).
   */
  presignGet(key: string, options: { contentType: string; fileName: string; inline: boolean; expiresInSeconds: number }): Promise<string | null>;
  close(): Promise<void>;
}

/**
 * The store the configuration names: S3 when S3_BUCKET is set, else
 * `<DATA_DIR>/files`. The AWS SDK is loaded only when S3 is used (it adds
 * most of a second to start-up).
 */
export async function openFileStore(config: Config): Promise<FileStore> {
  if (!config.attachments.s3) return new LocalStore(config.dataDir);
  const { S3Store } = await import('./s3.ts');
  return new S3Store(config.attachments.s3);
}

/** A Content-Disposition value with the file's name (RFC 6266, with an ASCII fallback). */
export function contentDisposition(fileName: string, inline: boolean): string {
  const fallback = fileName.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  return `${inline ? 'inline' : 'attachment'}; filename="${fallback}"; filename*=UTF-8''${encodeURIComponent(fileName)}`;
}
