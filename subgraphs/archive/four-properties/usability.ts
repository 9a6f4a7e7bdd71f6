// Usability (可用性): the metadata reads as text, the content opens as its allowed format, the environment that
// produced it is recorded, and nothing inside is encrypted or packed in a private way.
import { formatProblem } from './formats.ts';
import { ALLOWED_MEDIA_TYPES, hex, startsWith } from './media.ts';
import { isPdf, pdfNames } from './pdf.ts';
import type { Run } from './types.ts';
import { codePoint, show } from './values.ts';
import { ZIP_MAGIC, zipEntries } from './zip.ts';

/** Why a metadata string is not readable text, or null. */
function unreadable(s: string): string | null {
  const lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.exec(s);
  if (lone) return `an unpaired surrogate ${codePoint(lone[0])} at position ${lone.index}, which is not valid UTF-8`;
  // eslint-disable-next-line no-control-regex
  const control = /[\u0000-\u001F\u007F-\u009F]/.exec(s);
  if (control) return `the control character ${codePoint(control[0])} at position ${control.index}`;
  const bidi = /[\u202A-\u202E\u2066-\u2069]/.exec(s);
  if (bidi) return `the bidirectional control ${codePoint(bidi[0])} at position ${bidi.index}, which changes how it reads`;
  const replacement = s.indexOf('\uFFFD');
  if (replacement >= 0) return `U+FFFD at position ${replacement}, the mark of an earlier decoding error`;
  return null;
}

const metadataReadable: Run = ({ r }) => {
  const fields: Array<[string, unknown]> = [
    ['archiveNo', r.archiveNo], ['kind', r.kind], ['category', r.category], ['title', r.title], ['retention', r.retention],
    ['retentionStartsOn', r.retentionStartsOn], ['expiresOn', r.expiresOn], ['disposedOn', r.disposedOn], ['mediaType', r.mediaType],
    ['contentDigest', r.contentDigest], ['status', r.status], ['sourceClaimNo', r.sourceClaimNo], ['voucherId', r.voucherId],
    ['filedBy', r.filedBy], ['environment', r.environment],
    ['fixity.algorithm', r.fixity?.algorithm], ['fixity.digest', r.fixity?.digest], ['fixity.previousDigest', r.fixity?.previousDigest],
    ...(Array.isArray(r.invoiceNumbers) ? r.invoiceNumbers.map((n, i): [string, unknown] => [`invoiceNumbers[${i}]`, n]) : []),
  ];
  const p: string[] = [];
  for (const [name, value] of fields) {
    if (typeof value !== 'string') continue;
    const why = unreadable(value);
    if (why) p.push(`${name} contains ${why}`);
  }
  return { problems: p, ok: `all ${fields.filter(([, v]) => typeof v === 'string').length} string metadata fields are valid UTF-8 without control characters` };
};

const formatAllowed: Run = ({ r, hasContent, destroyed, bytes }) => {
  if (!ALLOWED_MEDIA_TYPES.includes(r.mediaType)) return { problems: [`mediaType ${show(r.mediaType)} is not an allowed format (allowed: ${ALLOWED_MEDIA_TYPES.join(', ')})`], ok: '' };
  if (!hasContent) {
    return destroyed ? { problems: [], ok: `mediaType ${r.mediaType} is allowed; content destroyed, nothing to open` } : { problems: [`mediaType ${r.mediaType} is allowed, but there is no content to open`], ok: '' };
  }
  const why = formatProblem(r.mediaType, r.content as string, bytes);
  return why ? { problems: [why], ok: '' } : { problems: [], ok: `content opens as ${r.mediaType} (${bytes.length} bytes)` };
};

const environmentRecorded: Run = ({ r }) => {
  const env = typeof r.environment === 'string' ? r.environment.trim() : '';
  if (env === '') return { problems: ['environment is not recorded'], ok: '' };
  const tokens = env.split(/\s+/);
  if (tokens.length < 2 || !tokens.slice(1).some((t) => /\d/.test(t))) {
    return { problems: [`environment ${show(r.environment)} does not name both a producer and its version (e.g. "oa-archive-federation 0.1.0")`], ok: '' };
  }
  return { problems: [], ok: `environment ${show(env)} names the producer and its version` };
};

const ARCHIVE_MAGICS: Array<{ name: string; magic: number[] }> = [
  { name: 'ZIP', magic: ZIP_MAGIC },
  { name: 'GZIP', magic: [0x1f, 0x8b, 0x08] },
  { name: '7z', magic: [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c] },
  { name: 'RAR', magic: [0x52, 0x61, 0x72, 0x21, 0x1a, 0x07] },
  { name: 'XZ', magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },
  { name: 'Zstandard', magic: [0x28, 0xb5, 0x2f, 0xfd] },
  { name: 'BZIP2', magic: [...Buffer.from('BZh91AY&SY', 'latin1')] },
];
/** Base64 text that decodes to an archive: ZIP, GZIP, 7z, RAR, XZ. */
const BASE64_ARCHIVE_RE = /(?<![A-Za-z0-9+/])(UEsDB|H4sI|N3q8ryc|UmFyIRoH|\/Td6WFo)[A-Za-z0-9+/]{16,}/;
const CONTAINER_MEDIA_TYPES: readonly string[] = ['application/ofd'];
const PGP_RE = /-----BEGIN PGP (MESSAGE|ARMORED FILE)-----/;

const noPrivateEncoding: Run = (ctx) => {
  const { r, hasContent, destroyed, bytes, views, binary } = ctx;
  if (!hasContent) return { problems: [], ok: destroyed ? 'content destroyed; nothing to inspect' : 'no content to inspect' };
  const p: string[] = [];
  if (isPdf(r.mediaType, bytes)) {
    const encrypt = pdfNames(ctx).get('Encrypt');
    if (encrypt) p.push(`PDF is encrypted (/Encrypt ${encrypt})`);
  }
  if (!CONTAINER_MEDIA_TYPES.includes(r.mediaType)) {
    for (const { name, magic } of ARCHIVE_MAGICS) {
      // Binary formats: only at offset 0 (short magics occur by chance inside compressed images and PDF streams).
      // Text: anywhere, since none of these byte runs occurs in real text.
      const at = binary ? (startsWith(bytes, magic) ? 0 : -1) : Math.max(...views.map((v) => v.indexOf(Buffer.from(magic))));
      if (at >= 0) p.push(`content holds ${name} magic (${hex(Buffer.from(magic))}) at byte ${at}: a compressed archive inside ${r.mediaType}`);
    }
    if (!binary) {
      const embedded = BASE64_ARCHIVE_RE.exec(r.content as string);
      if (embedded) p.push(`content holds base64 of a compressed archive (${show(embedded[0].slice(0, 12))}…) at position ${embedded.index}`);
    }
  } else {
    for (const e of zipEntries(bytes)) {
      if (e.flags & 1) p.push(`OFD entry ${show(e.name)} is encrypted`);
      else if (e.method !== 0 && e.method !== 8) p.push(`OFD entry ${show(e.name)} uses compression method ${e.method}, neither stored nor deflate`);
    }
  }
  for (const v of views) {
    const pgp = PGP_RE.exec(v.toString('latin1'));
    if (pgp) {
      p.push(`content holds PGP armour (${pgp[0]}) at byte ${pgp.index}`);
      break;
    }
  }
  return { problems: [...new Set(p)], ok: `no encryption, compressed archive or PGP armour inside ${r.mediaType}` };
};

export const USABILITY_RUNS: Readonly<Record<string, Run>> = {
  'metadata-readable': metadataReadable,
  'format-allowed': formatAllowed,
  'environment-recorded': environmentRecorded,
  'no-private-encoding': noPrivateEncoding,
};
