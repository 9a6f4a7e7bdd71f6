// Fixity: each record carries a SHA-256 digest over a canonical form of its content digest and its fixed
// metadata, chained to the previous record's digest. Any later change to a filed record, or the removal of one,
// breaks the chain at that record. Lifecycle fields (status, holds, retention extensions, a fixed-asset disposal
// date, destruction) are not covered: they change legitimately over a record's life, and destroying content keeps
// its digest, so a destroyed record still verifies. The chain is the shared one (platform/integration/hash-chain.ts).
// Lifecycle changes are entries of the records' history instead (history.ts); integrity.ts verifies both together.
import { createHash } from 'node:crypto';
import type { Model } from 'mongoose';
import { type ChainRules, HashChain, chainDigest, verifyEntries } from '../../platform/integration/hash-chain.ts';
import type { ArchiveRecordDoc } from './models.ts';

export const FIXITY_ALGORITHM = 'SHA-256';

export const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

export type FixedFields = Pick<
  ArchiveRecordDoc,
  | 'chainSeq' | 'archiveNo' | 'kind' | 'category' | 'title' | 'fiscalYear' | 'retention' | 'voucherId' | 'sourceClaimNo'
  | 'invoiceNumbers' | 'mediaType' | 'contentDigest' | 'correctsId' | 'filedBy' | 'filedAt' | 'environment' | 'previousArchiveNo' | 'files'
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
    // The manifest of the original documents, on records that have one: the digest of every other record (all
    // filed before originals were kept, and those without any) is computed exactly as before.
    ...(record.files?.length
      ? { files: record.files.map((f) => ({ fileId: f.fileId, name: f.name, mediaType: f.mediaType, size: f.size, sha256: f.sha256, sourceAttachmentId: f.sourceAttachmentId })) }
      : {}),
    previousDigest,
  };
  return chainDigest(fixed);
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

/** A record before it is sealed: everything but its id and its fixity. */
export type UnsealedRecord = Omit<ArchiveRecordDoc, '_id' | 'fixity'>;

const recordRules: ChainRules<ArchiveRecordDoc, UnsealedRecord> = {
  seqField: 'chainSeq',
  genesis: null,
  digest: fixityDigest,
  seal: (record, digest, previousDigest) => ({ ...record, fixity: { algorithm: FIXITY_ALGORITHM, digest, previousDigest } }),
  digestOf: (record) => record.fixity.digest,
  previousDigestOf: (record) => record.fixity.previousDigest,
  // A record also names its predecessor by archive number, and its content, while kept, must be the content filed.
  linked: (record, previous) => record.previousArchiveNo === (previous?.archiveNo ?? null),
  intact: (record) => record.content === null || sha256(contentOf(record.content, record.mediaType)) === record.contentDigest,
};

/** The chain of archive records, numbered by the `archiveChain` counter. */
export const recordChain = (model: Model<ArchiveRecordDoc>) => new HashChain({ ...recordRules, model, counter: 'archiveChain' });

/** Walks records in chain order and names the first that was changed or removed. */
export async function verifyChain(records: AsyncIterable<ArchiveRecordDoc> | Iterable<ArchiveRecordDoc>): Promise<ChainVerification> {
  const { ok, checked, firstBroken: b, problem } = await verifyEntries(recordRules, records);
  // A removed record is named by its successor, which recorded its predecessor's archive number.
  const firstBrokenArchiveNo = b === null ? null : b.entry ? b.entry.archiveNo : (b.successor?.previousArchiveNo ?? null);
  return { ok, checked, firstBrokenArchiveNo, problem };
}
