// Security (安全性): no malware signature in the content, storage verified, and a sound filing process.
import { hex, startsWith } from './media.ts';
import { isPdf, pdfNames } from './pdf.ts';
import type { Run } from './types.ts';
import { show } from './values.ts';

// The EICAR anti-virus test string, assembled so that this source file does not itself trip a scanner.
const EICAR = ['X5O!P%@AP[4\\PZX54(P^)7CC)7}$', 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!', '$H+H*'].join('');
const MACHO_MAGICS: number[][] = [[0xfe, 0xed, 0xfa, 0xce], [0xfe, 0xed, 0xfa, 0xcf], [0xce, 0xfa, 0xed, 0xfe], [0xcf, 0xfa, 0xed, 0xfe], [0xca, 0xfe, 0xba, 0xbe]];
const PDF_ACTIVE_NAMES = ['JavaScript', 'JS', 'Launch', 'EmbeddedFile', 'EmbeddedFiles'];

/*
 * A signature check, not an anti-virus engine: it recognises the EICAR test file, native executables (Windows PE,
 * ELF, Mach-O and fat/Java class files) by their headers at offset 0, and active content in PDFs (scripts, launch
 * actions, embedded files), including PDF names hidden by #xx escapes or inside Flate streams. It does not unpack
 * OFD/ZIP entries, emulate code or know any real malware family. Run a real scanner on the storage as well.
 */
const malwareScan: Run = (ctx) => {
  const { r, hasContent, destroyed, bytes, views } = ctx;
  if (!hasContent) return { problems: [], ok: destroyed ? 'content destroyed; nothing to scan' : 'no content to scan' };
  const p: string[] = [];
  const eicar = Math.max(...views.map((v) => v.indexOf(EICAR, 0, 'latin1')));
  if (eicar >= 0) p.push(`EICAR test signature at byte ${eicar}`);
  for (const v of views) {
    if (startsWith(v, [0x4d, 0x5a]) && v.length >= 0x40) {
      const peAt = v.readUInt32LE(0x3c);
      if (startsWith(v, [0x50, 0x45, 0x00, 0x00], peAt)) p.push(`Windows PE executable: MZ header with PE signature at offset 0x${peAt.toString(16).toUpperCase()}`);
    }
    if (startsWith(v, [0x7f, 0x45, 0x4c, 0x46])) p.push('ELF executable (7F 45 4C 46 at offset 0)');
    const macho = MACHO_MAGICS.find((m) => startsWith(v, m));
    if (macho) p.push(`Mach-O or fat binary (${hex(Buffer.from(macho))} at offset 0)`);
  }
  if (isPdf(r.mediaType, bytes)) {
    const names = pdfNames(ctx);
    for (const name of PDF_ACTIVE_NAMES) {
      const where = names.get(name);
      if (where) p.push(`PDF holds /${name} ${where}`);
    }
  }
  return { problems: [...new Set(p)], ok: `signature scan of ${bytes.length} bytes found no EICAR string, executable header or active PDF content` };
};

const storageSound: Run = ({ f }) =>
  f.storageVerified === true
    ? { problems: [], ok: 'storage acknowledged the write and a re-read returned the same digest' }
    : { problems: ['storage not verified: the write was not acknowledged or a re-read did not return the same digest'], ok: '' };

const filingProcess: Run = ({ f, r }) => {
  const p: string[] = [];
  if (f.filedByAuthorisedIdentity !== true) p.push(`filedBy ${show(r.filedBy)} was not an authenticated, authorised identity`);
  if (f.filedInTransaction !== true) p.push('the filing write did not run in one transaction');
  return { problems: p, ok: `filed by authorised identity ${show(r.filedBy)} in one transaction` };
};

export const SECURITY_RUNS: Readonly<Record<string, Run>> = {
  'malware-scan': malwareScan,
  'storage-sound': storageSound,
  'filing-process': filingProcess,
};
