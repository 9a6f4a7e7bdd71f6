// What an uploaded or downloaded file is, from its bytes, never its name (docs/api.md#attachments): a small table of magic numbers
// for the few types claims accept, rather than a general detector (file-type knows hundreds of formats, and each
// would still have to be mapped onto this list; the table is the list). A ZIP is an OFD only when its central
// directory lists OFD.xml at the root (GB/T 33190), read with yauzl from the spooled file.
import { open } from 'node:fs/promises';
import yauzl from 'yauzl';

export const ACCEPTED_TYPES = ['application/pdf', 'application/ofd', 'application/xml', 'image/jpeg', 'image/png', 'image/tiff', 'image/heic'] as const;
export type AcceptedType = (typeof ACCEPTED_TYPES)[number];

/** Bytes read from the start of the file to recognise it. */
export const HEAD_BYTES = 4096;
/** Central-directory entries read looking for OFD.xml before giving up. */
const MAX_ZIP_ENTRIES = 10_000;

const startsWith = (head: Buffer, magic: readonly number[], at = 0): boolean => head.length >= at + magic.length && magic.every((b, i) => head[at + i] === b);
const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

const HEIF_BRANDS = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1']);

/** The binary types recognised from the first bytes alone. */
function binaryKind(head: Buffer): AcceptedType | 'zip' | null {
  if (startsWith(head, ascii('%PDF-'))) return 'application/pdf';
  if (startsWith(head, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (startsWith(head, [0x49, 0x49, 0x2a, 0x00]) || startsWith(head, [0x4d, 0x4d, 0x00, 0x2a])) return 'image/tiff';
  // ISO BMFF: size, 'ftyp', major brand.
  if (startsWith(head, ascii('ftyp'), 4) && HEIF_BRANDS.has(head.subarray(8, 12).toString('latin1'))) return 'image/heic';
  if (startsWith(head, [0x50, 0x4b, 0x03, 0x04])) return 'zip';
  return null;
}

/**
 * XML as 数电票 (fully digital e-invoices) are issued: UTF-8 (optional BOM), starting with a declaration, a comment or
 * a root element. HTML and SVG are refused (a browser would run their scripts), as is anything with NUL bytes or
 * invalid UTF-8 in its head.
 */
function isXml(head: Buffer): boolean {
  let text: string;
  try {
    // stream: a multi-byte character cut at the end of the head is not an error.
    text = new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true });
  } catch {
    return false;
  }
  if (text.includes('\u0000')) return false;
  text = text.replace(/^\ufeff/, '').trimStart();
  if (!/^<(\?xml[\s?]|!--|[A-Za-z_\u00c0-\uffff])/.test(text)) return false;
  return !/<(!doctype\s+html|html[\s>]|svg[\s>:]|script[\s>])/i.test(text) && !/<[\w.-]+:(svg|html|script)[\s>]/i.test(text);
}

/** Whether the ZIP at `path` lists OFD.xml at its root. */
function isOfd(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    yauzl.open(path, { lazyEntries: true, autoClose: false, validateEntrySizes: false }, (err, zip) => {
      if (err || !zip) return resolve(false);
      let seen = 0;
      let closed = false;
      const done = (v: boolean) => {
        if (!closed) {
          closed = true;
          zip.close();
        }
        resolve(v);
      };
      zip.on('entry', (entry: yauzl.Entry) => {
        if (entry.fileName === 'OFD.xml') return done(true);
        if (++seen >= MAX_ZIP_ENTRIES) return done(false);
        zip.readEntry();
      });
      zip.on('end', () => done(false));
      zip.on('error', () => done(false));
      zip.readEntry();
    });
  });
}

/** The accepted type of the file at `path`, or null (refused). */
export async function fileKind(path: string): Promise<AcceptedType | null> {
  const handle = await open(path, 'r');
  let head: Buffer;
  try {
    const buf = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(buf, 0, HEAD_BYTES, 0);
    head = buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  const kind = binaryKind(head);
  if (kind === 'zip') return (await isOfd(path)) ? 'application/ofd' : null;
  if (kind) return kind;
  return isXml(head) ? 'application/xml' : null;
}
