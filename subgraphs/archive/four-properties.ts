// The four-properties check (四性检测) of one electronic accounting archive record, after DA/T 70-2018 and
// DA/T 94-2022: authenticity 真实性, integrity 完整性, usability 可用性 and security 安全性. It runs at filing (a
// record that fails is not filed) and on demand for records in custody. A pure module: no I/O, no clock; the
// caller gathers the facts only it can know (duplicates, the chain, the storage, the filing identity, today) and
// passes them in. Every check runs and reports why it passed or failed, naming the field or value; a check that
// throws on malformed data fails with that reason instead of aborting the report (fail closed).
import { createHash, type BinaryLike } from 'node:crypto';
import { constants as zlibConstants, inflateSync } from 'node:zlib';
import { parseMoney, sumFen } from '../../platform/money.ts';
import { FIXITY_ALGORITHM } from './fixity.ts';
import type { ArchiveStatus } from './models.ts';
import { ARCHIVE_KINDS, ARCHIVE_NO_RE, RETENTION_CODE, RETENTION_TABLE, retentionFor } from './retention.ts';
import type { ArchiveKind, CategoryCode, RetentionPeriod } from './retention.ts';

export type Property = 'AUTHENTICITY' | 'INTEGRITY' | 'USABILITY' | 'SECURITY';

export interface CheckResult {
  property: Property;
  /** Short stable id, e.g. 'content-digest'. */
  check: string;
  passed: boolean;
  /** Why, in plain English, naming the field or value. */
  detail: string;
}

export interface FourPropertiesReport {
  passed: boolean;
  results: CheckResult[];
}

export interface RecordUnderCheck {
  archiveNo: string;
  kind: ArchiveKind;
  category: CategoryCode;
  title: string;
  fiscalYear: number;
  retention: RetentionPeriod;
  retentionStartsOn: string;
  expiresOn: string | null;
  /** Disposal date of the asset of a fixed-asset card (its five years run from the year after). */
  disposedOn: string | null;
  mediaType: string;
  /** Text, or base64 for binary media types; null once destroyed. */
  content: string | null;
  /** Hex SHA-256 of the content bytes as filed. */
  contentDigest: string;
  status: ArchiveStatus;
  invoiceNumbers: string[];
  sourceClaimNo: string | null;
  voucherId: string | null;
  filedBy: string;
  environment: string;
  chainSeq: number;
  fixity: { algorithm: string; digest: string; previousDigest: string | null };
}

export interface CheckFacts {
  /** true when another record already holds this archiveNo (or, for a voucher, another record files the same voucher). */
  duplicate: boolean;
  /** Item number of the previous record in the same archive-number series (null when this is the first), to prove no gap. */
  previousItemInSeries: number | null;
  /** Digest the chain expects this record to carry: recomputed fixity digest (the caller computes it with its canonical form). */
  expectedDigest: string;
  /** Digest of the previous record in the chain (null for the first). */
  previousDigest: string | null;
  /** Where the record is stored, as recorded, and where it really is (e.g. 'mongodb:archive_records'). */
  recordedLocation: string;
  actualLocation: string;
  /** The filing identity was authenticated and authorised, and the write ran in one transaction. */
  filedByAuthorisedIdentity: boolean;
  filedInTransaction: boolean;
  /** The storage acknowledged the write and a re-read returned the same digest (on-demand checks: the re-read digest matches). */
  storageVerified: boolean;
  /** Today's date YYYY-MM-DD, for range checks. */
  today: string;
}

/** Formats an archive may be kept in: open, documented, long-term readable (GB/T 33190 OFD among them). */
export const ALLOWED_MEDIA_TYPES: readonly string[] = Object.freeze([
  'application/json', 'application/xml', 'text/xml', 'text/csv', 'text/plain',
  'application/pdf', 'application/ofd', 'image/jpeg', 'image/png', 'image/tiff',
]);

/** Allowed media types whose content travels as base64; the others are text. */
export const BINARY_MEDIA_TYPES: readonly string[] = Object.freeze(['application/pdf', 'application/ofd', 'image/jpeg', 'image/png', 'image/tiff']);

/** Every check in report order. */
export const CHECKS: ReadonlyArray<{ readonly property: Property; readonly check: string }> = Object.freeze([
  { property: 'AUTHENTICITY', check: 'content-digest' },
  { property: 'AUTHENTICITY', check: 'fixity-digest' },
  { property: 'AUTHENTICITY', check: 'metadata-types' },
  { property: 'AUTHENTICITY', check: 'archive-number' },
  { property: 'AUTHENTICITY', check: 'no-duplicate' },
  { property: 'AUTHENTICITY', check: 'location' },
  { property: 'INTEGRITY', check: 'required-metadata' },
  { property: 'INTEGRITY', check: 'sequence' },
  { property: 'INTEGRITY', check: 'content-present' },
  { property: 'INTEGRITY', check: 'package-complete' },
  { property: 'USABILITY', check: 'metadata-readable' },
  { property: 'USABILITY', check: 'format-allowed' },
  { property: 'USABILITY', check: 'environment-recorded' },
  { property: 'USABILITY', check: 'no-private-encoding' },
  { property: 'SECURITY', check: 'malware-scan' },
  { property: 'SECURITY', check: 'storage-sound' },
  { property: 'SECURITY', check: 'filing-process' },
] as const);

// Binary per the allowed list; other types fixity.ts's contentOf also decodes as base64 (application/octet-stream,
// any image/*) are decoded the same way, so the digest check agrees with the digest filing computed.
const isBinary = (mediaType: string): boolean =>
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

// ---------------------------------------------------------------------------------------------------------------

interface Ctx {
  r: RecordUnderCheck;
  f: CheckFacts;
  /** content is a non-empty string. */
  hasContent: boolean;
  destroyed: boolean;
  binary: boolean;
  bytes: Buffer;
  /** Byte views to scan for signatures: the bytes, and for text the string's code units as Latin-1 bytes
   *  (binary pasted into a text field survives there, while its UTF-8 encoding would split bytes >= 0x80). */
  views: Buffer[];
}

interface Outcome {
  problems: string[];
  ok: string;
}

type Run = (ctx: Ctx) => Outcome;

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : v === undefined ? 'undefined' : JSON.stringify(v) ?? String(v));
const nonBlank = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';
const HEX64_RE = /^[0-9a-f]{64}$/;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const INVOICE_RE = /^[A-Z0-9-]{1,64}$/;
const VOUCHER_KINDS: readonly string[] = ARCHIVE_KINDS.filter((k) => RETENTION_TABLE[k].category === 'PZ');
const STATUSES: readonly string[] = ['FILED', 'BORROWED', 'ON_HOLD', 'DESTROYED'];

function isRealDate(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  const m = DATE_RE.exec(v);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

const isKnownKind = (kind: unknown): kind is ArchiveKind => (ARCHIVE_KINDS as readonly unknown[]).includes(kind);
const hex = (b: Buffer): string => [...b].map((x) => x.toString(16).padStart(2, '0').toUpperCase()).join(' ');
const startsWith = (b: Buffer, magic: readonly number[], at = 0): boolean => b.length >= at + magic.length && magic.every((x, i) => b[at + i] === x);
const plural = (n: number, one: string, many: string): string => (n === 1 ? one : many);

// ----- AUTHENTICITY ----------------------------------------------------------------------------------------------

const contentDigest: Run = ({ r, hasContent, destroyed, bytes }) => {
  if (!hasContent) {
    if (!destroyed) return { problems: [`content is missing (status ${r.status}), so contentDigest ${show(r.contentDigest)} cannot be verified`], ok: '' };
    if (!HEX64_RE.test(String(r.contentDigest))) return { problems: [`content destroyed, but the kept contentDigest ${show(r.contentDigest)} is not a hex SHA-256 digest`], ok: '' };
    return { problems: [], ok: 'content destroyed; digest kept' };
  }
  const actual = sha256Hex(bytes);
  if (actual !== r.contentDigest) {
    return { problems: [`SHA-256 of the content bytes is ${actual} but contentDigest is ${show(r.contentDigest)}: the content is not the content as filed`], ok: '' };
  }
  return { problems: [], ok: `SHA-256 of the ${bytes.length} content bytes matches contentDigest ${actual}` };
};

const fixityDigestCheck: Run = ({ r, f }) => {
  const p: string[] = [];
  const fx = r.fixity as Partial<RecordUnderCheck['fixity']> | null | undefined;
  if (!fx || typeof fx !== 'object') return { problems: ['fixity is missing'], ok: '' };
  if (fx.algorithm !== FIXITY_ALGORITHM) p.push(`fixity.algorithm ${show(fx.algorithm)} is not ${FIXITY_ALGORITHM}`);
  if (fx.digest !== f.expectedDigest) {
    p.push(`fixity.digest ${show(fx.digest)} differs from the recomputed digest ${show(f.expectedDigest)}: the record's fixed metadata or content digest changed after filing`);
  }
  if ((fx.previousDigest ?? null) !== f.previousDigest) {
    p.push(`fixity.previousDigest ${show(fx.previousDigest ?? null)} differs from the previous record's digest ${show(f.previousDigest)}: the chain is broken before this record`);
  }
  if (!Number.isInteger(r.chainSeq) || r.chainSeq < 1) p.push(`chainSeq ${show(r.chainSeq)} is not a positive integer`);
  else if (r.chainSeq === 1 && f.previousDigest !== null) p.push('chainSeq 1 opens the chain, yet a previous record exists');
  else if (r.chainSeq > 1 && f.previousDigest === null) p.push(`chainSeq ${r.chainSeq} has no previous record in the chain`);
  return { problems: p, ok: `fixity.digest ${String(fx.digest)} (${FIXITY_ALGORITHM}, chainSeq ${r.chainSeq}) matches the recomputed digest and links to ${fx.previousDigest === null ? 'no previous record (first in the chain)' : `previous digest ${String(fx.previousDigest)}`}` };
};

const metadataTypes: Run = ({ r, f }) => {
  const p: string[] = [];
  const maxYear = Number(f.today.slice(0, 4)) + 1;
  const yearOk = Number.isInteger(r.fiscalYear) && r.fiscalYear >= 1949 && r.fiscalYear <= maxYear;
  if (!yearOk) p.push(`fiscalYear ${show(r.fiscalYear)} is not an integer year from 1949 to ${maxYear}`);
  if (!STATUSES.includes(r.status)) p.push(`status ${show(r.status)} is not one of ${STATUSES.join(', ')}`);
  const kindOk = isKnownKind(r.kind);
  if (!kindOk) p.push(`kind ${show(r.kind)} is not a kind of the retention table`);
  else {
    const rule = RETENTION_TABLE[r.kind];
    if (r.category !== rule.category) p.push(`category ${show(r.category)} does not belong to kind ${r.kind} (${rule.category})`);
    if (r.retention !== rule.retention) p.push(`retention ${show(r.retention)} is not the period of kind ${r.kind} (${rule.retention})`);
  }

  const dates: Array<[string, unknown, boolean]> = [['retentionStartsOn', r.retentionStartsOn, false], ['expiresOn', r.expiresOn, true], ['disposedOn', r.disposedOn, true]];
  const valid: Record<string, boolean> = {};
  for (const [name, value, nullable] of dates) {
    valid[name] = isRealDate(value);
    if (!valid[name] && !(nullable && value === null)) p.push(`${name} ${show(value)} is not a real date YYYY-MM-DD`);
  }
  if (r.disposedOn !== null && valid.disposedOn) {
    if (kindOk && RETENTION_TABLE[r.kind].retention !== 'Y5_AFTER_DISPOSAL') p.push(`disposedOn ${r.disposedOn} is set, but only a fixed-asset card has a disposal date`);
    if (r.disposedOn > f.today) p.push(`disposedOn ${r.disposedOn} is after today ${f.today}`);
  }
  if (kindOk && yearOk && (r.disposedOn === null || valid.disposedOn)) {
    const statutory = retentionFor(r.kind, r.fiscalYear, r.disposedOn);
    const disposalGoverns = RETENTION_TABLE[r.kind].retention === 'Y5_AFTER_DISPOSAL' && r.disposedOn !== null;
    if (valid.retentionStartsOn && r.retentionStartsOn !== statutory.retentionStartsOn) {
      p.push(`retentionStartsOn ${r.retentionStartsOn} should be ${statutory.retentionStartsOn}, the day after ${disposalGoverns ? `the fiscal year of disposal (disposedOn ${String(r.disposedOn)})` : `fiscal year ${r.fiscalYear}`}`);
    }
    if (statutory.expiresOn === null && r.expiresOn !== null) {
      p.push(`expiresOn ${show(r.expiresOn)} is set, but ${RETENTION_TABLE[r.kind].retention === 'PERMANENT' ? `a permanent record (${r.kind})` : 'a fixed-asset card not yet disposed of'} does not expire`);
    } else if (statutory.expiresOn !== null && r.expiresOn === null) {
      p.push(`expiresOn is missing; the statutory period ends on ${statutory.expiresOn}`);
    } else if (statutory.expiresOn !== null && valid.expiresOn && (r.expiresOn as string) < statutory.expiresOn) {
      p.push(`expiresOn ${String(r.expiresOn)} is earlier than the statutory end ${statutory.expiresOn} (an appraisal may extend retention, never shorten it)`);
    }
  }
  if (valid.retentionStartsOn && valid.expiresOn && (r.expiresOn as string) <= r.retentionStartsOn) {
    p.push(`expiresOn ${String(r.expiresOn)} is not after retentionStartsOn ${r.retentionStartsOn}`);
  }

  if (typeof r.title !== 'string') p.push(`title ${show(r.title)} is not a string`);
  else {
    const length = [...r.title].length;
    if (length < 1 || length > 200) p.push(`title is ${length} characters long, not 1 to 200`);
  }
  if (!Array.isArray(r.invoiceNumbers)) p.push(`invoiceNumbers ${show(r.invoiceNumbers)} is not a list`);
  else {
    const seen = new Set<unknown>();
    r.invoiceNumbers.forEach((n, i) => {
      if (typeof n !== 'string' || !INVOICE_RE.test(n)) p.push(`invoiceNumbers[${i}] ${show(n)} is not 1 to 64 of A-Z, 0-9 and -`);
      else if (seen.has(n)) p.push(`invoice number ${n} is listed twice`);
      seen.add(n);
    });
  }
  const invoices = Array.isArray(r.invoiceNumbers) ? r.invoiceNumbers.length : 0;
  return { problems: p, ok: `fiscalYear ${r.fiscalYear}, kind ${r.kind} (${r.category}, ${r.retention}), retention from ${r.retentionStartsOn} to ${r.expiresOn ?? 'no end'}, title and ${invoices} invoice ${plural(invoices, 'number', 'numbers')} are well-formed and in range` };
};

const archiveNumberCheck: Run = ({ r }) => {
  const m = typeof r.archiveNo === 'string' ? ARCHIVE_NO_RE.exec(r.archiveNo) : null;
  if (!m) return { problems: [`archiveNo ${show(r.archiveNo)} does not match fonds-year-retention-category-item (e.g. ACME-2026-D30-PZ-00001)`], ok: '' };
  const [, , year, code, category, item] = m;
  const p: string[] = [];
  if (year !== String(r.fiscalYear)) p.push(`archiveNo year ${year} disagrees with fiscalYear ${show(r.fiscalYear)}`);
  const expectedCode = (RETENTION_CODE as Record<string, string | undefined>)[r.retention];
  if (code !== expectedCode) p.push(`archiveNo retention code ${code} disagrees with retention ${show(r.retention)} (${expectedCode ?? 'no code'})`);
  if (category !== r.category) p.push(`archiveNo category ${category} disagrees with category ${show(r.category)}`);
  if (Number(item) === 0) p.push(`archiveNo item number ${item} is not positive`);
  return { problems: p, ok: `archiveNo ${r.archiveNo} is well-formed and agrees with fiscalYear ${r.fiscalYear}, retention ${r.retention} and category ${r.category}` };
};

const noDuplicate: Run = ({ r, f }) => {
  const what = `archiveNo ${show(r.archiveNo)}${r.voucherId ? ` or voucher ${show(r.voucherId)}` : ''}`;
  if (f.duplicate !== false) return { problems: [`another record already holds ${what}`], ok: '' };
  return { problems: [], ok: `no other record holds ${what}` };
};

const location: Run = ({ f }) => {
  if (!nonBlank(f.recordedLocation)) return { problems: ['the recorded location is empty'], ok: '' };
  if (f.recordedLocation !== f.actualLocation) return { problems: [`recorded location ${show(f.recordedLocation)} differs from the actual location ${show(f.actualLocation)}`], ok: '' };
  return { problems: [], ok: `recorded location ${show(f.recordedLocation)} is where the record is` };
};

// ----- INTEGRITY -------------------------------------------------------------------------------------------------

const requiredMetadata: Run = ({ r }) => {
  const missing: string[] = [];
  for (const name of ['archiveNo', 'title', 'kind', 'category'] as const) if (!nonBlank(r[name])) missing.push(name);
  if (typeof r.fiscalYear !== 'number' || !Number.isFinite(r.fiscalYear)) missing.push('fiscalYear');
  for (const name of ['retention', 'retentionStartsOn', 'mediaType', 'contentDigest', 'filedBy'] as const) if (!nonBlank(r[name])) missing.push(name);
  const voucher = VOUCHER_KINDS.includes(r.kind);
  if (voucher) for (const name of ['voucherId', 'sourceClaimNo'] as const) if (!nonBlank(r[name])) missing.push(name);
  if (missing.length) return { problems: [`required metadata missing: ${missing.join(', ')}${voucher && (missing.includes('voucherId') || missing.includes('sourceClaimNo')) ? ` (a ${r.kind} names its voucher and source claim)` : ''}`], ok: '' };
  return { problems: [], ok: `all required metadata present${voucher ? ', including voucherId and sourceClaimNo' : ''}` };
};

const sequence: Run = ({ r, f }) => {
  const m = typeof r.archiveNo === 'string' ? ARCHIVE_NO_RE.exec(r.archiveNo) : null;
  if (!m) return { problems: [`archiveNo ${show(r.archiveNo)} carries no item number`], ok: '' };
  const item = Number(m[5]);
  const prev = f.previousItemInSeries;
  const expected = prev === null ? 1 : prev + 1;
  if (item === expected) return { problems: [], ok: prev === null ? `item 1 opens its series` : `item ${item} follows item ${prev} without a gap` };
  if (item > expected) {
    const gap = item - 1 === expected ? `item ${expected} is missing` : `items ${expected} to ${item - 1} are missing`;
    return { problems: [prev === null ? `item ${item} is the first of its series, which starts at 1: ${gap}` : `item ${item} follows item ${prev}: ${gap}`], ok: '' };
  }
  return { problems: [`item ${item} does not follow item ${prev ?? 'none'} (expected ${expected}): repeated or out of order`], ok: '' };
};

const contentPresent: Run = ({ r, hasContent, destroyed, bytes }) => {
  if (destroyed) {
    if (hasContent) return { problems: [`status is DESTROYED but the content is still held (${bytes.length} bytes)`], ok: '' };
    return { problems: [], ok: 'content destroyed (status DESTROYED); its digest is kept' };
  }
  if (r.content === null || r.content === undefined) return { problems: [`content is missing (status ${r.status})`], ok: '' };
  if (!hasContent) return { problems: [`content is ${typeof r.content === 'string' ? 'empty' : `not a string but ${typeof r.content}`} (status ${r.status})`], ok: '' };
  if (bytes.length === 0) return { problems: [`content decodes to 0 bytes (${r.mediaType} travels as base64)`], ok: '' };
  return { problems: [], ok: `content present (${bytes.length} bytes)` };
};

/** Amount of a voucher entry field in fen: integer fen (debitFen) or a Money decimal string (debit: "1280.00"). */
function amountFen(entry: Record<string, unknown>, side: 'debit' | 'credit', where: string): number {
  const fen = entry[`${side}Fen`];
  if (fen !== undefined) {
    if (!Number.isSafeInteger(fen)) throw new Error(`${where}.${side}Fen ${show(fen)} is not an integer amount in fen`);
    return fen as number;
  }
  const money = entry[side];
  if (money === undefined) throw new Error(`${where} has no ${side} amount`);
  try {
    return parseMoney(money);
  } catch {
    throw new Error(`${where}.${side} ${show(money)} is not a Money amount such as "1280.00"`);
  }
}

function stringsIn(value: unknown, out: Set<string>): Set<string> {
  if (typeof value === 'string') out.add(value);
  else if (typeof value === 'number') out.add(String(value));
  else if (Array.isArray(value)) for (const v of value) stringsIn(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) stringsIn(v, out);
  return out;
}

const packageComplete: Run = ({ r, hasContent, destroyed, bytes }) => {
  if (r.kind !== 'BOOKKEEPING_VOUCHER' || r.mediaType !== 'application/json') {
    return { problems: [], ok: `not applicable: the package rules cover bookkeeping vouchers in JSON (this is ${String(r.kind)} as ${String(r.mediaType)})` };
  }
  if (!hasContent) return destroyed ? { problems: [], ok: 'content destroyed; nothing to unpack' } : { problems: ['the voucher package has no content'], ok: '' };
  let doc: unknown;
  try {
    doc = JSON.parse(stripBom(bytes.toString('utf8')));
  } catch (e) {
    return { problems: [`the voucher package is not valid JSON: ${(e as Error).message}`], ok: '' };
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return { problems: ['the voucher package is not a JSON object'], ok: '' };
  const v = doc as Record<string, unknown>;
  const p: string[] = [];
  let debit = 0;
  let credit = 0;
  if (!Array.isArray(v.entries) || v.entries.length === 0) p.push('the voucher package has no entries');
  else {
    const debits: number[] = [];
    const credits: number[] = [];
    v.entries.forEach((e, i) => {
      if (!e || typeof e !== 'object') return void p.push(`entries[${i}] is not an object`);
      try {
        debits.push(amountFen(e as Record<string, unknown>, 'debit', `entries[${i}]`));
        credits.push(amountFen(e as Record<string, unknown>, 'credit', `entries[${i}]`));
      } catch (err) {
        p.push((err as Error).message);
      }
    });
    if (p.length === 0) {
      debit = sumFen(debits);
      credit = sumFen(credits);
      if (debit !== credit) p.push(`entries do not balance: debit total ${debit} fen, credit total ${credit} fen`);
      for (const [side, sum] of [['debit', debit], ['credit', credit]] as const) {
        const stated = v[`${side}TotalFen`] ?? v[`${side}Total`];
        if (stated === undefined) continue;
        let statedFen: number | null = null;
        try {
          statedFen = typeof stated === 'number' && Number.isSafeInteger(stated) && v[`${side}TotalFen`] !== undefined ? stated : parseMoney(stated);
        } catch {
          statedFen = null;
        }
        if (statedFen !== sum) p.push(`stated ${side} total ${show(stated)} disagrees with the entries' ${side} sum ${sum} fen`);
      }
    }
  }
  const source = v.source && typeof v.source === 'object' ? (v.source as Record<string, unknown>) : {};
  const claimNo = source.claimNo ?? v.claimNo;
  if (claimNo !== undefined && r.sourceClaimNo !== null && claimNo !== r.sourceClaimNo) p.push(`the package's claim number ${show(claimNo)} disagrees with sourceClaimNo ${show(r.sourceClaimNo)}`);
  if (v.fiscalYear !== undefined && v.fiscalYear !== r.fiscalYear) p.push(`the package's fiscalYear ${show(v.fiscalYear)} disagrees with fiscalYear ${show(r.fiscalYear)}`);
  const present = stringsIn(v, new Set());
  const missing = (Array.isArray(r.invoiceNumbers) ? r.invoiceNumbers : []).filter((n) => !present.has(n));
  if (missing.length) p.push(`${plural(missing.length, 'invoice number', 'invoice numbers')} ${missing.join(', ')} listed in invoiceNumbers ${plural(missing.length, 'is', 'are')} not in the content`);
  const n = Array.isArray(r.invoiceNumbers) ? r.invoiceNumbers.length : 0;
  const entries = Array.isArray(v.entries) ? v.entries.length : 0;
  return { problems: p, ok: `${entries} entries balance at ${debit} fen; all ${n} invoice ${plural(n, 'number is', 'numbers are')} in the content` };
};

// ----- USABILITY -------------------------------------------------------------------------------------------------

const stripBom = (s: string): string => (s.charCodeAt(0) === 0xfeff ? s.slice(1) : s);
const codePoint = (c: string): string => `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;

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

/** Why text content is not valid UTF-8 text, or null. */
function textProblem(s: string): string | null {
  const lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.exec(s);
  if (lone) return `content is not valid UTF-8: unpaired surrogate ${codePoint(lone[0])} at position ${lone.index}`;
  // eslint-disable-next-line no-control-regex
  const control = /[\u0000-\u0008\u000B\u000E-\u001F\u007F]/.exec(s);
  if (control) return `content holds the binary control character ${codePoint(control[0])} at position ${control.index}, so it is not text`;
  return null;
}

const XML_NAME = String.raw`[\p{L}_:][\p{L}\p{N}\p{M}_.:\u00B7-]*`;
const XML_OPEN = new RegExp(String.raw`<(${XML_NAME})(?:\s+[^\s=/>"']+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*\s*(/?)>`, 'uy');
const XML_CLOSE = new RegExp(String.raw`</(${XML_NAME})\s*>`, 'uy');

/** A basic well-formedness check: one root element, tags balanced, comments/CDATA/PIs closed. Not a validator. */
function xmlProblem(text: string): string | null {
  const s = stripBom(text);
  if (!s.trimStart().startsWith('<')) return 'XML content does not start with <?xml or <';
  const stack: string[] = [];
  let roots = 0;
  let pos = 0;
  const outside = (from: number, to: number): string | null => (stack.length === 0 && s.slice(from, to).trim() !== '' ? `text outside the root element at offset ${from}` : null);
  for (let i = s.indexOf('<'); i !== -1; i = s.indexOf('<', pos)) {
    const stray = outside(pos, i);
    if (stray) return stray;
    const skip = (open: string, close: string, what: string): number | string => {
      const end = s.indexOf(close, i + open.length);
      return end === -1 ? `${what} at offset ${i} is not closed` : end + close.length;
    };
    let next: number | string;
    if (s.startsWith('<!--', i)) next = skip('<!--', '-->', 'comment');
    else if (s.startsWith('<![CDATA[', i)) next = stack.length === 0 ? `CDATA at offset ${i} is outside the root element` : skip('<![CDATA[', ']]>', 'CDATA section');
    else if (s.startsWith('<?', i)) next = skip('<?', '?>', 'processing instruction');
    else if (s.startsWith('<!', i)) {
      const gt = s.indexOf('>', i);
      const bracket = s.indexOf('[', i);
      next = bracket !== -1 && (gt === -1 || bracket < gt) ? skip('<!', ']>', 'DOCTYPE') : gt === -1 ? `declaration at offset ${i} is not closed` : gt + 1;
    } else {
      XML_CLOSE.lastIndex = i;
      XML_OPEN.lastIndex = i;
      const close = XML_CLOSE.exec(s);
      const open = close ? null : XML_OPEN.exec(s);
      if (close) {
        const top = stack.pop();
        if (top !== close[1]) return top === undefined ? `closing tag </${close[1]}> at offset ${i} has no opening tag` : `closing tag </${close[1]}> at offset ${i} does not close <${top}>`;
        next = XML_CLOSE.lastIndex;
      } else if (open) {
        if (stack.length === 0) {
          if (roots > 0) return `second root element <${open[1]}> at offset ${i}`;
          roots++;
        }
        if (open[2] !== '/') stack.push(open[1]);
        next = XML_OPEN.lastIndex;
      } else next = `malformed tag at offset ${i}`;
    }
    if (typeof next === 'string') return next;
    pos = next;
  }
  const trailing = outside(pos, s.length);
  if (trailing) return trailing;
  if (stack.length) return `element <${stack[stack.length - 1]}> is not closed`;
  if (roots === 0) return 'XML content has no root element';
  return null;
}

interface ZipEntry {
  name: string;
  flags: number;
  method: number;
}

/** Entry names from a ZIP's local and central directory headers (a tolerant scan, not an extractor). */
function zipEntries(b: Buffer): ZipEntry[] {
  const entries = new Map<string, ZipEntry>();
  for (let i = b.indexOf('PK', 0, 'latin1'); i !== -1 && i + 4 <= b.length; i = b.indexOf('PK', i + 2, 'latin1')) {
    const sig = b.readUInt32LE(i);
    let at: number | null = null;
    let nameLength = 0;
    if (sig === 0x04034b50 && i + 30 <= b.length) [at, nameLength] = [i + 30, b.readUInt16LE(i + 26)];
    else if (sig === 0x02014b50 && i + 46 <= b.length) [at, nameLength] = [i + 46, b.readUInt16LE(i + 28)];
    if (at === null || at + nameLength > b.length) continue;
    const flags = b.readUInt16LE(i + (sig === 0x04034b50 ? 6 : 8));
    const method = b.readUInt16LE(i + (sig === 0x04034b50 ? 8 : 10));
    const name = b.toString('utf8', at, at + nameLength);
    if (!entries.has(name)) entries.set(name, { name, flags, method });
  }
  return [...entries.values()];
}

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const IMAGE_MAGIC: Record<string, { name: string; magics: number[][] }> = {
  'image/png': { name: 'PNG', magics: [[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]] },
  'image/jpeg': { name: 'JPEG', magics: [[0xff, 0xd8, 0xff]] },
  'image/tiff': { name: 'TIFF', magics: [[0x49, 0x49, 0x2a, 0x00], [0x4d, 0x4d, 0x00, 0x2a]] },
};

/** Why the bytes are not really of the media type, or null. */
function formatProblem(mediaType: string, content: string, bytes: Buffer): string | null {
  if (isBinary(mediaType)) {
    const compact = content.replace(/\s+/g, '');
    if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) return `content is not valid base64 (${mediaType} travels as base64)`;
  } else {
    const why = textProblem(content);
    if (why) return why;
  }
  switch (mediaType) {
    case 'application/json':
      try {
        JSON.parse(stripBom(content));
        return null;
      } catch (e) {
        return `content is not valid JSON: ${(e as Error).message}`;
      }
    case 'application/xml':
    case 'text/xml':
      return xmlProblem(content);
    case 'text/csv':
    case 'text/plain':
      return null;
    case 'application/pdf': {
      if (!startsWith(bytes, [...Buffer.from('%PDF-', 'latin1')])) return `content does not start with %PDF- (starts ${hex(bytes.subarray(0, 8))})`;
      if (bytes.lastIndexOf('%%EOF', undefined, 'latin1') < Math.max(0, bytes.length - 1024)) return 'PDF has no %%EOF marker in its last 1024 bytes: it is truncated';
      return null;
    }
    case 'application/ofd': {
      if (!startsWith(bytes, ZIP_MAGIC)) return `OFD content is not a ZIP package (starts ${hex(bytes.subarray(0, 4))}, not 50 4B 03 04)`;
      const names = zipEntries(bytes).map((e) => e.name);
      if (!names.includes('OFD.xml')) return `OFD package has no OFD.xml entry (entries: ${names.join(', ') || 'none'})`;
      return null;
    }
    default: {
      const image = IMAGE_MAGIC[mediaType];
      if (image && !image.magics.some((m) => startsWith(bytes, m))) return `content does not start with the ${image.name} signature ${image.magics.map((m) => hex(Buffer.from(m))).join(' or ')} (starts ${hex(bytes.subarray(0, 8))})`;
      return null;
    }
  }
}

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

const isPdf = (mediaType: string, bytes: Buffer): boolean => mediaType === 'application/pdf' || startsWith(bytes, [0x25, 0x50, 0x44, 0x46, 0x2d]);

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

// ----- SECURITY --------------------------------------------------------------------------------------------------

// The EICAR anti-virus test string, assembled so that this source file does not itself trip a scanner.
const EICAR = ['X5O!P%@AP[4\\PZX54(P^)7CC)7}$', 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!', '$H+H*'].join('');
const MACHO_MAGICS: number[][] = [[0xfe, 0xed, 0xfa, 0xce], [0xfe, 0xed, 0xfa, 0xcf], [0xce, 0xfa, 0xed, 0xfe], [0xcf, 0xfa, 0xed, 0xfe], [0xca, 0xfe, 0xba, 0xbe]];
const PDF_ACTIVE_NAMES = ['JavaScript', 'JS', 'Launch', 'EmbeddedFile', 'EmbeddedFiles'];
const MAX_INFLATED = 16 * 1024 * 1024;

const pdfNameCache = new WeakMap<Ctx, Map<string, string>>();

/**
 * PDF names (/Name, with #xx escapes decoded) found in the file and in its Flate-compressed streams (object
 * streams hide dictionaries there), each with where it was first seen. Streams that do not inflate are skipped.
 */
function pdfNames(ctx: Ctx): Map<string, string> {
  const cached = pdfNameCache.get(ctx);
  if (cached) return cached;
  const names = new Map<string, string>();
  const collect = (text: string, where: (offset: number) => string): void => {
    for (const m of text.matchAll(/\/([^\s\0/<>[\]()%{}]*)/g)) {
      const name = m[1].replace(/#([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
      if (!names.has(name)) names.set(name, where(m.index));
    }
  };
  const text = ctx.bytes.toString('latin1');
  collect(text, (o) => `at byte ${o}`);
  let budget = MAX_INFLATED;
  for (const m of text.matchAll(/stream\r?\n/g)) {
    if (budget <= 0) break;
    const start = m.index + m[0].length;
    const end = text.indexOf('endstream', start);
    if (end === -1) break;
    try {
      const inflated = inflateSync(ctx.bytes.subarray(start, end), { maxOutputLength: budget, finishFlush: zlibConstants.Z_SYNC_FLUSH /* tolerate the EOL before endstream */ });
      budget -= inflated.length;
      collect(inflated.toString('latin1'), () => `in the compressed stream at byte ${start}`);
    } catch {
      // not Flate, encrypted or too large: the raw scan above is all we have
    }
  }
  pdfNameCache.set(ctx, names);
  return names;
}

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

const RUNS: Record<string, Run> = {
  'content-digest': contentDigest,
  'fixity-digest': fixityDigestCheck,
  'metadata-types': metadataTypes,
  'archive-number': archiveNumberCheck,
  'no-duplicate': noDuplicate,
  location,
  'required-metadata': requiredMetadata,
  sequence,
  'content-present': contentPresent,
  'package-complete': packageComplete,
  'metadata-readable': metadataReadable,
  'format-allowed': formatAllowed,
  'environment-recorded': environmentRecorded,
  'no-private-encoding': noPrivateEncoding,
  'malware-scan': malwareScan,
  'storage-sound': storageSound,
  'filing-process': filingProcess,
};

/** Runs every check of the four properties; the record passes when every check passes. */
export function checkFourProperties(record: RecordUnderCheck, facts: CheckFacts): FourPropertiesReport {
  // Facts come from the caller's own code: a malformed fact is a programming error, not a finding about the record.
  if (!isRealDate(facts.today)) throw new TypeError(`facts.today ${show(facts.today)} is not a date YYYY-MM-DD`);
  if (facts.previousItemInSeries !== null && !(Number.isInteger(facts.previousItemInSeries) && facts.previousItemInSeries >= 1)) {
    throw new TypeError(`facts.previousItemInSeries ${show(facts.previousItemInSeries)} is neither null nor a positive integer`);
  }
  const hasContent = typeof record.content === 'string' && record.content.length > 0;
  const binary = isBinary(String(record.mediaType));
  const bytes = contentBytes(record);
  const views = [bytes];
  if (hasContent && !binary) {
    const latin1 = Buffer.from(record.content as string, 'latin1');
    if (!latin1.equals(bytes)) views.push(latin1);
  }
  const ctx: Ctx = { r: record, f: facts, hasContent, destroyed: record.status === 'DESTROYED', binary, bytes, views };
  const results = CHECKS.map(({ property, check }): CheckResult => {
    try {
      const { problems, ok } = RUNS[check](ctx);
      return { property, check, passed: problems.length === 0, detail: problems.length ? problems.join('; ') : ok };
    } catch (e) {
      return { property, check, passed: false, detail: `check could not run: ${(e as Error).message}` };
    }
  });
  return { passed: results.every((r) => r.passed), results };
}
