/** The content types Parley recognises by their first bytes; anything else is application/octet-stream. */
export function sniffContentType(bytes: Uint8Array): string {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 64));
  const ascii = (start: number, end: number) => b.subarray(start, end).toString('latin1');
  const starts = (...values: number[]) => values.every((value, i) => b[i] === value);
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'image/png';
  if (starts(0xff, 0xd8, 0xff)) return 'image/jpeg';
  if (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a') return 'image/gif';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'image/webp';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WAVE') return 'audio/wav';
  if (ascii(0, 5) === '%PDF-') return 'application/pdf';
  if (ascii(4, 8) === 'ftyp') {
    const brand = ascii(8, 12);
    if (brand === 'qt  ') return 'video/quicktime';
    if (brand === 'M4A ') return 'audio/mp4';
    if (['heic', 'heix', 'mif1', 'msf1'].includes(brand)) return 'image/heic';
    return 'video/mp4';
  }
  if (starts(0x1a, 0x45, 0xdf, 0xa3)) return 'video/webm';
  if (ascii(0, 4) === 'OggS') return 'audio/ogg';
  if (ascii(0, 3) === 'ID3' || (b[0] === 0xff && b.length > 1 && (b[1]! & 0xe6) === 0xe2)) return 'audio/mpeg';
  if (starts(0x50, 0x4b, 0x03, 0x04)) return 'application/zip';
  if (starts(0x1f, 0x8b)) return 'application/gzip';
  return 'application/octet-stream';
}

/** Images Parley measures and makes thumbnails of (with sharp). */
const IMAGES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

/** The longest side of a thumbnail, in pixels. */
export const THUMBNAIL_SIZE = 320;
export const THUMBNAIL_TYPE = 'image/webp';
/** Images larger than this (in pixels) are stored without a thumbnail rather than decoded. */
const MAX_IMAGE_PIXELS = 50_000_000;

export interface Inspection {
  contentType: string;
  width: number | null;
  height: number | null;
  /** A WebP of at most THUMBNAIL_SIZE pixels a side, for images. */
  thumbnail: Buffer | null;
}

/**
 * What a file is, from its bytes: its sniffed content type and, for images,
 * their upright size and a thumbnail. A file with an image's signature that
 * does not decode as one is stored as application/octet-stream.
 */
export async function inspect(bytes: Buffer): Promise<Inspection> {
  const contentType = sniffContentType(bytes);
  if (!IMAGES.has(contentType)) return { contentType, width: null, height: null, thumbnail: null };
  // Loaded with the first image rather than at start-up.
  const { default: sharp } = await import('sharp');
  try {
    const image = sharp(bytes, { limitInputPixels: MAX_IMAGE_PIXELS, failOn: 'error' });
    const meta = await image.metadata();
    const rawWidth = meta.width;
    const rawHeight = meta.pageHeight ?? meta.height;
    if (!rawWidth || !rawHeight) return { contentType: 'application/octet-stream', width: null, height: null, thumbnail: null };
    // EXIF orientations 5 to 8 turn the picture a quarter: people see it with width and height swapped.
    const turned = (meta.orientation ?? 1) >= 5;
    const thumbnail = await sharp(bytes, { limitInputPixels: MAX_IMAGE_PIXELS })
      .rotate()
      .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 80 })
      .toBuffer();
    return { contentType, width: turned ? rawHeight : rawWidth, height: turned ? rawWidth : rawHeight, thumbnail };
  } catch {
    return { contentType: 'application/octet-stream', width: null, height: null, thumbnail: null };
  }
}
