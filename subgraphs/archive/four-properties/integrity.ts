// Integrity (完整性): the metadata is complete, the record's number follows its series without a gap, the content
// is present, and a voucher package holds balanced entries and every invoice it lists.
import { parseMoney, sumFen } from '../../../platform/money.ts';
import { ARCHIVE_KINDS, ARCHIVE_NO_RE, RETENTION_TABLE } from '../retention.ts';
import type { Run } from './types.ts';
import { nonBlank, plural, show, stripBom } from './values.ts';

const VOUCHER_KINDS: readonly string[] = ARCHIVE_KINDS.filter((k) => RETENTION_TABLE[k].category === 'PZ');

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

export const INTEGRITY_RUNS: Readonly<Record<string, Run>> = {
  'required-metadata': requiredMetadata,
  sequence,
  'content-present': contentPresent,
  'package-complete': packageComplete,
};
