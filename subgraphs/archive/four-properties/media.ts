// Media types an archive may be kept in, and the content as bytes.
import { createHash, type BinaryLike } from 'node:crypto';
import type { RecordUnderCheck } from './types.ts';

/** Formats an archive may be kept in: open, documented, long-term readable (GB/T 33190 OFD among them). */
export const ALLOWED_MEDIA_TYPES: readonly string[] = Object.freeze([
  'application/json', 'application/xml', 'text/xml', 'text/csv', 'text/plain',
  'application/pdf', 'application/ofd', 'image/jpeg', 'image/png', 'image/tiff',
]);

/** Allowed media types whose content travels as base64; the others are text. */
export const BINARY_MEDIA_TYPES: readonly string[] = Object.freeze(['application/pdf', 'application/ofd', 'image/jpeg', 'image/png', 'image/tiff']);

// Binary per the allowed list; other types fixity.ts's contentOf also decodes as base64 (application/octet-stream,
// any image/*) are decoded the same way, so the digest check agrees with the digest filing computed.
export const isBinary = (mediaType: string): boolean =>
  BINARY_MEDIA_TYPES.includes(mediaType) || /^(application\/octet-stream|image\/)/.test(mediaType);

/** The content's bytes: base64-decoded for binary media types, UTF-8 otherwise; empty when there is no content. */
export function contentBytes(record: Pick<RecordUnderCheck, 'content' | 'mediaType'>): Buffer {
  if (typeof record.content !== 'string') return Buffer.alloc(0);
  return Buffer.from(record.content, isBinary(String(record.mediaType)) ? 'base64' : 'utf8');
}

/** Lower-case hex SHA-256; a string is hashed as UTF-8. */
export function sha256Hex(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes as BinaryLike).digest('hex');
}

export const hex = (b: Buffer): string => [...b].map((x) => x.toString(16).padStart(2, '0').toUpperCase()).join(' ');
export const startsWith = (b: Buffer, magic: readonly number[], at = 0): boolean => b.length >= at + magic.length && magic.every((x, i) => b[at + i] === x);
