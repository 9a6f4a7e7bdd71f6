// Fixity: each record carries a SHA-256 digest over a canonical form of its content digest and its fixed
// metadata, chained to the previous record's digest. Any later change to a filed record, or the removal of one,
// breaks the chain at that record. Lifecycle fields (status, holds, retention extensions, a fixed-asset disposal
// date, destruction) are not covered: they change legitimately over a record's life, and destroying content keeps
// its digest, so a destroyed record still verifies.
import { createHash } from 'node:crypto';
import type { ArchiveRecordDoc } from './models.ts';

export const FIXITY_ALGORITHM = 'SHA-256';

export const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** JSON with object keys sorted at every level: the same value always gives the same text. */
export function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const keys = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

export type FixedFields = Pick<
  ArchiveRecordDoc,
  | 'chainSeq' | 'archiveNo' | 'kind' | 'category' | 'title' | 'fiscalYear' | 'retention' | 'voucherId' | 'sourceClaimNo'
  | 'invoiceNumbers' | 'mediaType' | 'contentDigest' | 'correctsId' | 'filedBy' | 'filedAt' | 'environment' | 'previousArchiveNo'
>;

export function fixityDigest(record: FixedFields, previousDigest: string | null): string {
  const fixed: FixedFields & { previousDigest: string | null } = {
    chainSeq: record.chainSeq,
    archiveNo: record.archiveNo,
    kind: record.kind,
    category: record.category,
    title: record.title,
    fiscalYear: record.fiscalYear,
    retention: record.retention,
    voucherId: record.voucherId,
    sourceClaimNo: record.sourceClaimNo,
    invoiceNumbers: record.invoiceNumbers,
    mediaType: record.mediaType,
    contentDigest: record.contentDigest,
    correctsId: record.correctsId,
    filedBy: record.filedBy,
    filedAt: record.filedAt,
    environment: record.environment,
    previousArchiveNo: record.previousArchiveNo,
    previousDigest,
  };
  return sha256(canonical(fixed));
}

export interface ChainVerification {
  ok: boolean;
  checked: number;
  firstBrokenArchiveNo: string | null;
  problem: 'CHANGED' | 'REMOVED' | 'REORDERED' | null;
}

/** Bytes of a record's content as filed (base64 for binary media types). */
export const contentOf = (content: string, mediaType: string): Buffer =>
  Buffer.from(content, /^(application\/(pdf|ofd|octet-stream)|image\/)/.test(mediaType) ? 'base64' : 'utf8');

/** Walks records in chain order and names the first that was changed or removed. */
export async function verifyChain(records: AsyncIterable<ArchiveRecordDoc> | Iterable<ArchiveRecordDoc>): Promise<ChainVerification> {
  let checked = 0;
  let expectedSeq = 1;
  let previous: ArchiveRecordDoc | null = null;
  const broken = (archiveNo: string | null, problem: ChainVerification['problem']): ChainVerification => ({ ok: false, checked, firstBrokenArchiveNo: archiveNo, problem });
  for await (const r of records) {
    checked++;
    if (r.chainSeq !== expectedSeq) {
      // A gap: the missing record is named by its successor, which recorded its predecessor's archive number.
      return broken(r.chainSeq > expectedSeq ? r.previousArchiveNo : r.archiveNo, r.chainSeq > expectedSeq ? 'REMOVED' : 'REORDERED');
    }
    const previousDigest = previous?.fixity.digest ?? null;
    if (r.previousArchiveNo !== (previous?.archiveNo ?? null) || r.fixity.previousDigest !== previousDigest) {
      // The link disagrees with its predecessor as stored: the predecessor was changed (its digest rewritten).
      return broken(previous?.archiveNo ?? r.archiveNo, 'CHANGED');
    }
    if (r.fixity.digest !== fixityDigest(r, previousDigest)) return broken(r.archiveNo, 'CHANGED');
    if (r.content !== null && sha256(contentOf(r.content, r.mediaType)) !== r.contentDigest) return broken(r.archiveNo, 'CHANGED');
    previous = r;
    expectedSeq++;
  }
  return { ok: true, checked, firstBrokenArchiveNo: null, problem: null };
}
