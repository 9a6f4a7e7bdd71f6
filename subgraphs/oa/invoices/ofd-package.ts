// The OFD package as a ZIP (GB/T 33190-2016: an OFD file is a ZIP container of XML parts), read defensively: yauzl
// refuses names with "..", absolute paths or backslashes; entry sizes are checked against the declared ones while
// inflating (validateEntrySizes), so the limits below on declared sizes bound what is really inflated (zip bombs),
// and only the XML parts asked for are inflated at all, each at most MAX_XML_BYTES.
import path from 'node:path/posix';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { InvoiceParseError, MAX_XML_BYTES } from './xml.ts';

export const OFD_LIMITS = Object.freeze({
  /** Entries in the ZIP's central directory. */
  maxEntries: 2000,
  /** Sum of the declared uncompressed sizes. */
  maxTotalUncompressed: 200 * 1024 * 1024,
  /** Declared uncompressed / compressed size of one entry (real OFD parts stay far below). */
  maxRatio: 200,
  /** Attachments read for invoice data. */
  maxAttachments: 20,
});

export async function openZip(bytes: Uint8Array): Promise<yauzl.ZipFile> {
  try {
    return await yauzl.fromBufferPromise(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { lazyEntries: true, decodeStrings: true, validateEntrySizes: true, strictFileNames: true });
  } catch (err) {
    throw new InvoiceParseError(`not a ZIP package, so not an OFD file: ${(err as Error).message.slice(0, 120)}`);
  }
}

export async function listEntries(zip: yauzl.ZipFile): Promise<Map<string, yauzl.Entry>> {
  if (zip.entryCount > OFD_LIMITS.maxEntries) throw new InvoiceParseError(`the OFD package has ${zip.entryCount} entries, more than ${OFD_LIMITS.maxEntries}`);
  const entries = new Map<string, yauzl.Entry>();
  let total = 0;
  try {
    for await (const entry of zip.eachEntry()) {
      const name = entry.fileName;
      // yauzl refused "..", absolute paths and backslashes already; control characters are refused here.
      if (/[\u0000-\u001f\u007f]/.test(name) || name.length > 512) throw new InvoiceParseError('the OFD package has an entry with an unusable name');
      if (entry.isEncrypted()) throw new InvoiceParseError(`the OFD package entry ${name.slice(0, 100)} is encrypted`);
      total += entry.uncompressedSize;
      if (total > OFD_LIMITS.maxTotalUncompressed) throw new InvoiceParseError(`the OFD package would inflate to more than ${OFD_LIMITS.maxTotalUncompressed} bytes`);
      if (entry.uncompressedSize > 1024 * 1024 && entry.uncompressedSize > OFD_LIMITS.maxRatio * Math.max(entry.compressedSize, 1)) {
        throw new InvoiceParseError(`the OFD package entry ${name.slice(0, 100)} is compressed more than ${OFD_LIMITS.maxRatio}:1 (a zip bomb?)`);
      }
      if (entries.has(name)) throw new InvoiceParseError(`the OFD package holds ${name.slice(0, 100)} twice`);
      entries.set(name, entry);
    }
  } catch (err) {
    if (err instanceof InvoiceParseError) throw err;
    throw new InvoiceParseError(`the OFD package is not a valid ZIP: ${(err as Error).message.slice(0, 120)}`);
  }
  return entries;
}

/** The bytes of entry `name`, or null when absent; XML parts only, so bounded by MAX_XML_BYTES. */
export async function readEntry(zip: yauzl.ZipFile, entries: Map<string, yauzl.Entry>, name: string): Promise<Uint8Array | null> {
  const entry = entries.get(name);
  if (entry === undefined) return null;
  if (entry.uncompressedSize > MAX_XML_BYTES) throw new InvoiceParseError(`${name.slice(0, 100)} is larger than ${MAX_XML_BYTES} bytes`);
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) throw new InvoiceParseError(`${name.slice(0, 100)} uses an unsupported compression method`);
  try {
    const stream: Readable = await zip.openReadStreamPromise(entry);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream) {
      size += (chunk as Buffer).length;
      if (size > MAX_XML_BYTES) {
        stream.destroy();
        throw new InvoiceParseError(`${name.slice(0, 100)} is larger than ${MAX_XML_BYTES} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  } catch (err) {
    if (err instanceof InvoiceParseError) throw err;
    throw new InvoiceParseError(`${name.slice(0, 100)} could not be inflated: ${(err as Error).message.slice(0, 120)}`);
  }
}

/** A path inside the package from a reference in a part under `base` (OFD references are relative, or absolute from the root). */
export function packagePath(base: string, ref: string): string | null {
  const joined = ref.startsWith('/') ? ref.slice(1) : path.join(base, ref);
  const normal = path.normalize(joined);
  return normal.startsWith('..') || normal.startsWith('/') || normal === '.' ? null : normal;
}

/** Reads one part of the package by its path: its bytes, or null when the package has no such part. */
export type PartReader = (name: string) => Promise<Uint8Array | null>;
