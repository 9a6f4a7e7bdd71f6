// What a holder of the database can do without the seal key: rewrite both chains to the end after an edit, or cut
// the newest record with its history and fix every counter. Shared by the seal and alert tests.
import type { Connection } from 'mongoose';
import { transaction } from '../../platform/integration/transactions.ts';
import { fixityDigest, recordChain, sha256 } from '../../subgraphs/archive/fixity.ts';
import { type HistoryEntryDoc, historyDigest } from '../../subgraphs/archive/history.ts';
import { type ArchiveRecordDoc, archiveModels } from '../../subgraphs/archive/models.ts';
import { seriesOf } from '../../subgraphs/archive/retention.ts';

/** Edits one record's content (with its content digest) and recomputes the records' chain and the history chain to the end. */
export async function rewriteChains(connection: Connection, archiveNo: string, content: string): Promise<void> {
  const records = connection.db!.collection<ArchiveRecordDoc>('archive_records');
  const history = connection.db!.collection<HistoryEntryDoc>('archive_record_history');
  const newDigest = new Map<string, string>();
  let previousDigest: string | null = null;
  for (const r of await records.find({}, { sort: { chainSeq: 1 } }).toArray()) {
    const edited = r.archiveNo === archiveNo ? { ...r, content, contentDigest: sha256(content) } : r;
    const digest = fixityDigest(edited, previousDigest);
    await records.updateOne({ _id: r._id }, { $set: { content: edited.content, contentDigest: edited.contentDigest, fixity: { algorithm: 'SHA-256', digest, previousDigest } } });
    newDigest.set(r._id.toHexString(), digest);
    previousDigest = digest;
  }
  previousDigest = null;
  for (const e of await history.find({}, { sort: { seq: 1 } }).toArray()) {
    const entry = { ...e, recordDigest: newDigest.get(e.recordId) ?? e.recordDigest, previousDigest };
    const digest = historyDigest(entry);
    await history.updateOne({ _id: e._id }, { $set: { recordDigest: entry.recordDigest, previousDigest, digest } });
    previousDigest = digest;
  }
}

/** Removes the newest record and its history entries (the newest ones), and sets every counter back. */
export async function cutNewest(connection: Connection, fonds = 'Q001'): Promise<ArchiveRecordDoc> {
  const db = connection.db!;
  const records = db.collection<ArchiveRecordDoc>('archive_records');
  const history = db.collection<HistoryEntryDoc>('archive_record_history');
  const counters = db.collection<{ _id: string; seq: number }>('counters');
  const [newest] = await records.find({}, { sort: { chainSeq: -1 }, limit: 1 }).toArray();
  await records.deleteOne({ _id: newest._id });
  await history.deleteMany({ recordId: newest._id.toHexString() });
  const [lastEntry] = await history.find({}, { sort: { seq: -1 }, limit: 1 }).toArray();
  await counters.updateOne({ _id: 'archiveChain' }, { $set: { seq: newest.chainSeq - 1 } });
  await counters.updateOne({ _id: 'archive_record_history' }, { $set: { seq: lastEntry?.seq ?? 0 } });
  await counters.updateOne({ _id: seriesOf(fonds, newest.fiscalYear, newest.retention, newest.category) }, { $inc: { seq: -1 } });
  return newest;
}

/** The archive's chains and their counters as they are now; the function returned puts them back (other counters are left alone). */
export async function archiveSnapshot(connection: Connection): Promise<() => Promise<void>> {
  const db = connection.db!;
  const ours = { $or: [{ _id: { $in: ['archiveChain', 'archive_record_history', 'archive_access_log'] } }, { _id: { $regex: '^archiveNo:' } }] } as never;
  const chains = ['archive_records', 'archive_record_history', 'archive_access_log'];
  const saved = await Promise.all(chains.map((c) => db.collection(c).find({}).toArray()));
  const counters = await db.collection('counters').find(ours).toArray();
  return async () => {
    for (const [i, c] of chains.entries()) {
      await db.collection(c).deleteMany({});
      if (saved[i].length) await db.collection(c).insertMany(saved[i]);
    }
    await db.collection('counters').deleteMany(ours);
    if (counters.length) await db.collection('counters').insertMany(counters);
  };
}

/** Four records of fiscal year 2015 filed as an earlier release filed them: chained, with no history and no seal. */
export async function fileOldRecords(connection: Connection): Promise<Array<ArchiveRecordDoc>> {
  const { ArchiveRecord } = archiveModels(connection);
  await ArchiveRecord.init();
  return transaction(connection, (session) =>
    recordChain(ArchiveRecord).append(
      [0, 1, 2, 3],
      (n, link) => {
        const content = `{"old":${n}}`;
        return {
          archiveNo: `Q001-2015-10Y-QT-${String(n + 1).padStart(5, '0')}`, kind: 'TAX_RETURN', category: 'QT', title: `old return ${n}`, fiscalYear: 2015,
          retention: 'Y10', retentionStartsOn: '2016-01-01', expiresOn: '2025-12-31', extendedUntil: null, disposedOn: null, status: 'FILED',
          voucherId: null, sourceClaimNo: null, invoiceNumbers: [], content, mediaType: 'application/json', contentDigest: sha256(content),
          chainSeq: link.seq, previousArchiveNo: link.previous?.archiveNo ?? null, correctsId: null, correctedById: null, holds: [],
          filedBy: 'archivist-1', filedAt: new Date('2016-01-05T02:00:00Z'), environment: 'accounting-archive node/22.0.0', destroyedAt: null,
        } as Omit<ArchiveRecordDoc, '_id' | 'fixity'>;
      },
      { session },
    ),
  );
}
