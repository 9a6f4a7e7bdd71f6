// Verifying the archive (verifyArchiveChain): the records' chain (fixity.ts), each record's history (history.ts), and
// the two against each other. Besides the chains' own breaks (CHANGED, REMOVED, REORDERED), a record is broken where:
// - CONTENT_MISSING: its content is gone (or does not match its content digest: CHANGED) and it was not destroyed;
// - DESTROYED_WITHOUT_REGISTER: it is DESTROYED, but its history has no destruction under a register that is
//   stored, carried out and lists it;
// - LIFECYCLE_CHANGED: its lifecycle fields differ from its newest history entry, or it has no history at all;
// - CHANGED: its history names another fixity digest (the record was rewritten and the records' chain recomputed),
//   or one of its original documents (originals/) no longer hashes to its manifest's SHA-256 (each kept file is
//   read and hashed: verification reads the whole of archive_files once);
// The first record affected in chain order is named. Both chains' counters show entries removed from their ends; a
// record removed is named by its history. What a writer who rewrites every chain to the end (and fixes the counters)
// changes is found against the heads sealed outside the database (seals.ts): a sealed head whose entry differs or is
// gone names the first record it no longer vouches for (CHANGED, REMOVED), and a seal file cut short or edited is
// SEAL_BROKEN. An archive without any sealed head yet verifies as before (sealing starts from its current head).
import type { Connection } from 'mongoose';
import { toObjectId } from '../../platform/ids.ts';
import type { ChainBreak } from '../../platform/integration/hash-chain.ts';
import { canonicalJson } from '../../platform/integration/canonical-json.ts';
import { type ChainVerification, recordChain } from './fixity.ts';
import { type HistoryEntryDoc, type HistoryRef, RecordHistory, stateOf } from './history.ts';
import type { ArchiveModels, ArchiveRecordDoc } from './models.ts';
import type { ArchiveSeals } from './seals.ts';
import type { SealCheck } from '../../platform/integration/chain-seal.ts';
import { ArchiveFiles } from './originals/store.ts';

export type IntegrityProblem = NonNullable<ChainVerification['problem']> | 'CONTENT_MISSING' | 'DESTROYED_WITHOUT_REGISTER' | 'LIFECYCLE_CHANGED' | 'SEAL_BROKEN' | 'TIMESTAMP_INVALID';

export interface ArchiveVerification extends Omit<ChainVerification, 'problem'> {
  problem: IntegrityProblem | null;
  /** Where a TSA is configured: the newest records' head its token vouches for, and the TSA's time. */
  timestampedArchiveNo?: string | null;
  timestampedAt?: Date | null;
}

/** What a record's history says, folded as the chain is walked. */
interface Told {
  archiveNo: string;
  chainSeq: number;
  /** Every entry's record digest, while they agree; null once two differ. */
  recordDigest: string | null;
  firstAction: HistoryEntryDoc['action'];
  last: HistoryEntryDoc;
}

interface Finding {
  chainSeq: number;
  archiveNo: string;
  problem: IntegrityProblem;
}

type RegisterLookup = (ref: HistoryRef, recordId: string) => Promise<boolean>;
/** Hex SHA-256 of a kept original as stored now; null when it is gone. */
type FileDigest = (fileId: string) => Promise<string | null>;

/** The first problem of one record against its history, or null. */
async function problemOf(record: ArchiveRecordDoc, told: Told | undefined, registerListing: RegisterLookup, fileDigest: FileDigest): Promise<IntegrityProblem | null> {
  const destroyed = record.status === 'DESTROYED';
  if (!destroyed && record.content === null) return 'CONTENT_MISSING';
  if (told && told.recordDigest !== record.fixity.digest) return 'CHANGED';
  if (!destroyed) {
    for (const file of record.files ?? []) {
      const digest = await fileDigest(file.fileId);
      if (digest === null) return 'CONTENT_MISSING';
      if (digest !== file.sha256) return 'CHANGED';
    }
  }
  const { last } = told ?? {};
  if (destroyed) {
    const ref = last?.state.status === 'DESTROYED' ? last.ref : null;
    if (!ref || ref.kind !== 'DESTRUCTION_REGISTER' || !(await registerListing(ref, record._id.toHexString()))) return 'DESTROYED_WITHOUT_REGISTER';
  }
  if (!told || !['FILED', 'ADOPTED'].includes(told.firstAction)) return 'LIFECYCLE_CHANGED';
  if (canonicalJson(stateOf(record)) !== canonicalJson(stateOf(last!.state))) return 'LIFECYCLE_CHANGED';
  // Destroyed, the content stays gone.
  if (destroyed && record.content !== null) return 'LIFECYCLE_CHANGED';
  return null;
}

/** Digests and names of both chains by position, gathered as they are walked, for the sealed heads. */
interface Walked {
  records: Map<number, { digest: string; archiveNo: string }>;
  history: Map<number, { digest: string; archiveNo: string }>;
}

/**
 * Verifies the records' chain, their histories, each record against its history, and, where heads are sealed, both
 * chains against their seals. The first record affected wins; a seal break is reported where the database alone
 * verifies, or where it names an earlier record.
 */
export async function verifyArchive(connection: Connection, models: ArchiveModels, seals?: ArchiveSeals): Promise<ArchiveVerification> {
  const walked: Walked = { records: new Map(), history: new Map() };
  const stored = await verifyStored(connection, models, walked);
  if (!seals) return stored;
  const byRecords = await seals.records.check({ digestAt: (s) => walked.records.get(s)?.digest, labelAt: (s) => walked.records.get(s)?.archiveNo ?? null });
  const byHistory = await seals.history.check({ digestAt: (s) => walked.history.get(s)?.digest, labelAt: (s) => walked.history.get(s)?.archiveNo ?? null });
  const sealBreak = sealFinding(byRecords) ?? sealFinding(byHistory);
  const stamped = byRecords.timestamp?.state === 'STAMPED' ? { timestampedArchiveNo: byRecords.timestamp.label, timestampedAt: byRecords.timestamp.genTime } : {};
  if (!sealBreak) return { ...stored, ...stamped };
  if (!stored.ok) {
    const seqOf = (archiveNo: string | null) => [...walked.records.values()].findIndex((r) => r.archiveNo === archiveNo);
    const storedAt = seqOf(stored.firstBrokenArchiveNo);
    const sealAt = seqOf(sealBreak.archiveNo);
    if (storedAt < 0 || sealAt < 0 || storedAt <= sealAt) return stored;
  }
  return { ok: false, checked: stored.checked, firstBrokenArchiveNo: sealBreak.archiveNo, problem: sealBreak.problem };
}

const sealFinding = (c: SealCheck): { archiveNo: string | null; problem: IntegrityProblem } | null =>
  c.state === 'BROKEN' ? { archiveNo: c.firstAffectedLabel, problem: c.problem ?? 'SEAL_BROKEN' } : null;

async function verifyStored(connection: Connection, models: ArchiveModels, walked: Walked): Promise<ArchiveVerification> {
  const history = new RecordHistory(connection);
  const told = new Map<string, Told>();
  const historyWalk = await history.chain.verify((e) => {
    walked.history.set(e.seq, { digest: e.digest, archiveNo: e.archiveNo });
    const t = told.get(e.recordId);
    if (!t) told.set(e.recordId, { archiveNo: e.archiveNo, chainSeq: e.chainSeq, recordDigest: e.recordDigest, firstAction: e.action, last: e });
    else {
      if (t.recordDigest !== e.recordDigest) t.recordDigest = null;
      t.last = e;
    }
  });

  const registers = connection.collection('archive_destruction_registers');
  const registerListing: RegisterLookup = async (ref, recordId) => {
    const _id = toObjectId(ref.id);
    return _id !== null && (await registers.countDocuments({ _id, registerNo: ref.no, status: 'DESTROYED', 'lines.recordId': recordId }, { limit: 1 })) === 1;
  };

  const files = new ArchiveFiles(connection);
  const fileDigest: FileDigest = (id) => files.digest(id);
  let found: Finding | null = null;
  const recordWalk = await recordChain(models.ArchiveRecord).verify(async (record) => {
    walked.records.set(record.chainSeq, { digest: record.fixity.digest, archiveNo: record.archiveNo });
    const t = told.get(record._id.toHexString());
    told.delete(record._id.toHexString());
    if (found) return;
    const problem = await problemOf(record, t, registerListing, fileDigest);
    if (problem) found = { chainSeq: record.chainSeq, archiveNo: record.archiveNo, problem };
  });
  const { checked } = recordWalk;
  const broken = (archiveNo: string | null, problem: IntegrityProblem): ArchiveVerification => ({ ok: false, checked, firstBrokenArchiveNo: archiveNo, problem });

  const seqBroken = recordWalk.firstBroken?.seq ?? Infinity;
  const finding = found as Finding | null;
  // A record checked before the records' chain broke is the first affected.
  if (finding && finding.chainSeq < seqBroken) return broken(finding.archiveNo, finding.problem);
  if (recordWalk.firstBroken) return broken(nameOf(recordWalk.firstBroken, told), recordWalk.problem ?? 'CHANGED');
  if (finding) return broken(finding.archiveNo, finding.problem);
  if (historyWalk.firstBroken) {
    const b = historyWalk.firstBroken;
    return broken(b.entry?.archiveNo ?? b.successor?.archiveNo ?? null, historyWalk.problem === 'REORDERED' ? 'CHANGED' : (historyWalk.problem ?? 'CHANGED'));
  }
  // Histories of records no longer stored: the records were removed and the records' chain rewritten over the gap.
  const gone = [...told.values()].sort((a, b) => a.chainSeq - b.chainSeq)[0];
  if (gone) return broken(gone.archiveNo, 'REMOVED');
  return { ok: true, checked, firstBrokenArchiveNo: null, problem: null };
}

/** The archive number of a records' chain break: the record itself, its successor's link, or its history. */
function nameOf(b: ChainBreak<ArchiveRecordDoc>, told: Map<string, Told>): string | null {
  if (b.entry) return b.entry.archiveNo;
  if (b.successor?.previousArchiveNo) return b.successor.previousArchiveNo;
  // Removed from the end (the counter shows it): only the removed record's history still names it.
  for (const t of told.values()) if (t.chainSeq === b.seq) return t.archiveNo;
  return null;
}
