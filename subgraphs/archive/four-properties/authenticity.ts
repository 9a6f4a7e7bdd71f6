// Authenticity (真实性): the content and metadata are those filed, the record is where it is recorded to be, and
// nothing else holds its number.
import { FIXITY_ALGORITHM } from '../fixity.ts';
import { ARCHIVE_KINDS, ARCHIVE_NO_RE, RETENTION_CODE, RETENTION_TABLE, type ArchiveKind, retentionFor } from '../retention.ts';
import { sha256Hex } from './media.ts';
import type { RecordUnderCheck, Run } from './types.ts';
import { isRealDate, nonBlank, plural, show } from './values.ts';

const HEX64_RE = /^[0-9a-f]{64}$/;
const INVOICE_RE = /^[A-Z0-9-]{1,64}$/;
const STATUSES: readonly string[] = ['FILED', 'BORROWED', 'ON_HOLD', 'DESTROYED'];

const isKnownKind = (kind: unknown): kind is ArchiveKind => (ARCHIVE_KINDS as readonly unknown[]).includes(kind);

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

export const AUTHENTICITY_RUNS: Readonly<Record<string, Run>> = {
  'content-digest': contentDigest,
  'fixity-digest': fixityDigestCheck,
  'metadata-types': metadataTypes,
  'archive-number': archiveNumberCheck,
  'no-duplicate': noDuplicate,
  location,
};
