import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FileStore } from './index.ts';

/**
 * Files on local disk under `<DATA_DIR>/files`. Writes go to a temporary
 * file renamed into place, so a reader never sees half a file.
 */
export class LocalStore implements FileStore {
  readonly kind = 'local';
  readonly root: string;

  constructor(dataDir: string) {
    this.root = path.join(dataDir, 'files');
  }

  private pathOf(key: string): string {
    // Keys are made by Parley (uuids and fixed suffixes); this refuses anything else.
    if (!/^[0-9a-f-]+(\/[0-9a-f-]+)*(\.[a-z]+)?$/.test(key)) throw new Error(`not a storage key: ${key}`);
    return path.join(this.root, key);
  }

  async put(key: string, body: Readable, size: number): Promise<void> {
    const target = this.pathOf(key);
    await fsp.mkdir(path.dirname(target), { recursive: true });
    const partial = `${target}.${crypto.randomBytes(6).toString('hex')}.part`;
    try {
      await pipeline(body, fs.createWriteStream(partial, { flags: 'wx' }));
      const { size: written } = await fsp.stat(partial);
      if (written !== size) throw new Error(`stored ${written} bytes of ${size}`);
      await fsp.rename(partial, target);
    } catch (error) {
      await fsp.rm(partial, { force: true });
      throw error;
    }
  }

  async get(key: string): Promise<Readable | null> {
    const file = this.pathOf(key);
    try {
      const handle = await fsp.open(file, 'r');
      return handle.createReadStream();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async size(key: string): Promise<number | null> {
    try {
      return (await fsp.stat(this.pathOf(key))).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async delete(keys: string[]): Promise<void> {
    await Promise.all(keys.map((key) => fsp.rm(this.pathOf(key), { force: true })));
  }

  async presignPut(): Promise<null> {
    return null;
  }

  async presignGet(): Promise<null> {
    return null;
  }

  async close(): Promise<void> {}
}
