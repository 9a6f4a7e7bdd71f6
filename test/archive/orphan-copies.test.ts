// The archive's copies of originals that no record lists (issue 17 §4): a filing marks every copy it lists in its own
// transaction (holdListed), so a deletion racing it conflicts or makes it fail and copy again; the orphan sweep
// deletes old unmarked copies no live record lists, and nothing else. Real driver, real transactions, the engine.
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { ObjectId } from 'mongodb';
import type { Connection } from 'mongoose';
import { beforeAll, describe, expect, it } from 'vitest';
import { ArchiveFiles, ORPHAN_GRACE_MS, OriginalCopyError, type OriginalsSource } from '../../subgraphs/archive/originals/store.ts';
import { heldByLiveRecord } from '../../subgraphs/archive/originals/package.ts';
import { archiveModels } from '../../subgraphs/archive/models.ts';
import { recordsTransaction } from '../../subgraphs/archive/history.ts';
import { useMongo } from '../helpers/mongo.ts';

const m = useMongo('orphan-copies');
let connection: Connection;
let store: ArchiveFiles;

const bytesOf = (n: number) => Buffer.from(`receipt ${n} `.repeat(2000));
const source: OriginalsSource = {
  async open(id) {
    const n = Number(id.slice(-4));
    const bytes = bytesOf(n);
    return { id, filename: `r${n}.jpg`, mediaType: 'image/jpeg', size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), stream: Readable.from([bytes]) };
  },
};
const copyOf = async (n: number) => (await store.copy(source, `a${String(n).padStart(4, '0')}`)).fileId;
const exists = async (fileId: string) => ({
  file: await store.files.countDocuments({ _id: new ObjectId(fileId) }),
  chunks: await store.chunks.countDocuments({ files_id: new ObjectId(fileId) }),
});
let chainSeq = 1_000_000;
/** A record listing the copies, as a filing leaves it (only what `held` reads, and its unique keys). */
const record = (status: 'FILED' | 'DESTROYED', fileIds: string[]) =>
  connection.collection('archive_records').insertOne({
    _id: new ObjectId(),
    archiveNo: `R-${new ObjectId().toHexString()}`,
    chainSeq: ++chainSeq,
    voucherId: new ObjectId().toHexString(),
    status,
    files: fileIds.map((fileId) => ({ fileId })),
  } as never);

beforeAll(async () => {
  connection = await m.mongoose();
  store = new ArchiveFiles(connection);
  await store.init();
  archiveModels(connection);
});

describe('holdListed, in the filing transaction', () => {
  it('marks the copies the records list, and fails without writing when one is gone', async () => {
    const [a, b] = [await copyOf(1), await copyOf(2)];
    await recordsTransaction(connection, (session) => store.holdListed(session, [a, b, a]));
    expect((await store.files.findOne({ _id: new ObjectId(a) }))!.metadata.listedAt).toBeInstanceOf(Date);

    const c = await copyOf(3);
    await store.files.deleteOne({ _id: new ObjectId(b) });
    await expect(recordsTransaction(connection, (session) => store.holdListed(session, [c, b]))).rejects.toBeInstanceOf(OriginalCopyError);
    expect((await store.files.findOne({ _id: new ObjectId(c) }))!.metadata.listedAt).toBeUndefined();
  });

  it('conflicts with a deletion of the same copy in a concurrent transaction: the copy is never deleted under a filing', async () => {
    const fileId = await copyOf(4);
    const filing = m.client.startSession();
    const deleting = m.client.startSession();
    try {
      filing.startTransaction();
      const files = m.client.db(m.dbName).collection('archive_files.files');
      await files.updateMany({ _id: new ObjectId(fileId), 'metadata.verified': true }, { $set: { 'metadata.listedAt': new Date() } }, { session: filing });
      deleting.startTransaction();
      const refused = await files.deleteOne({ _id: new ObjectId(fileId) }, { session: deleting }).then(
        () => null,
        (err: { code?: number; errorLabels?: string[] }) => err,
      );
      expect(refused?.code).toBe(112); // WriteConflict, labelled for the transaction to run again
      expect(refused?.errorLabels).toContain('TransientTransactionError');
      await deleting.abortTransaction();
      await filing.commitTransaction();
    } finally {
      await filing.endSession();
      await deleting.endSession();
    }
    expect(await exists(fileId)).toEqual({ file: 1, chunks: 1 });
  });
});

describe('sweepOrphans', () => {
  it('deletes old copies no live record lists (files and chunks), and keeps recent, marked and listed ones', async () => {
    await connection.collection('archive_files.files').deleteMany({});
    await connection.collection('archive_files.chunks').deleteMany({});
    const orphan = await copyOf(10);
    const listedLegacy = await copyOf(11); // listed by a record filed before filings marked their copies
    const marked = await copyOf(12);
    const onlyDestroyed = await copyOf(13);
    // A copy a killed process left half-written: never verified, so never reused, and listed by no record.
    const unverified = new ObjectId();
    await connection.collection('archive_files.files').insertOne({ _id: unverified, length: 0, chunkSize: 261120, uploadDate: new Date(), filename: 'half.jpg', metadata: { sha256: 'x', mediaType: 'image/jpeg', copiedAt: new Date(), verified: false } } as never);
    await record('FILED', [listedLegacy]);
    await record('DESTROYED', [onlyDestroyed]);
    await recordsTransaction(connection, (session) => store.holdListed(session, [marked]));
    const sweep = (now: Date) => store.sweepOrphans((fn) => recordsTransaction(connection, fn), heldByLiveRecord({ models: archiveModels(connection) }), now);

    // Within the grace period nothing goes.
    expect(await sweep(new Date())).toEqual([]);
    const later = new Date(Date.now() + ORPHAN_GRACE_MS + 60_000);
    expect((await sweep(later)).sort()).toEqual([orphan, onlyDestroyed, unverified.toHexString()].sort());
    expect(await exists(orphan)).toEqual({ file: 0, chunks: 0 });
    expect(await exists(onlyDestroyed)).toEqual({ file: 0, chunks: 0 });
    expect(await exists(listedLegacy)).toEqual({ file: 1, chunks: 1 });
    expect(await exists(marked)).toEqual({ file: 1, chunks: 1 });
    // The listed copy found by the sweep is marked, so later passes do not look at it again.
    expect((await store.files.findOne({ _id: new ObjectId(listedLegacy) }))!.metadata.listedAt).toBeInstanceOf(Date);
    expect(await sweep(later)).toEqual([]);
  });
});
