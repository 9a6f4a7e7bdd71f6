// Reads of many documents at once ($in over an index or _id, pages of a sorted range) answer exactly the matching
// documents, each once, in the order asked for: the engine reads them in batches of one statement each
// (engine/reader.ts `batched`, `keysInRanges`), falling back to range-by-range pages where the
// ranges hold many keys, and sizing its batches by the documents' bytes.
import { type Collection, type Document, ObjectId } from 'mongodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { isEmbedded, useMongo } from '../helpers/mongo.ts';

const m = useMongo('batched_reads');

const ids = (docs: Document[]) => docs.map((d) => String(d._id)).sort();

describe('batched reads', () => {
  let claims: Collection<Document>;
  const all: Document[] = [];

  beforeAll(async () => {
    claims = m.db.collection('claims');
    await claims.createIndex({ claimId: 1 }, { unique: true });
    await claims.createIndex({ status: 1 });
    await claims.createIndex({ tags: 1 });
    for (let i = 0; i < 3000; i++) {
      all.push({ _id: new ObjectId(), claimId: `c${String(i).padStart(5, '0')}`, status: ['DRAFT', 'APPROVED', 'FILED'][i % 3], tags: [`t${i % 7}`, `t${(i + 1) % 7}`], n: i });
    }
    await claims.insertMany(all);
  });

  it('an $in of 300 values over a unique index (two batches), with absent and repeated values, answers each match once', async () => {
    const wanted = all.filter((d) => d.n % 10 === 3).slice(0, 280);
    const values = [...wanted.map((d) => d.claimId), ...Array.from({ length: 20 }, (_, i) => `absent${i}`), wanted[0].claimId, wanted[5].claimId];
    const found = await claims.find({ claimId: { $in: values } }).toArray();
    expect(found).toHaveLength(280);
    expect(ids(found)).toEqual(ids(wanted));
    expect(found.find((d) => d.claimId === wanted[7].claimId)).toEqual(wanted[7]);
  });

  it('an $in whose values hold more keys than one statement reads (2,000 of 3,000) answers them all', async () => {
    const found = await claims.find({ status: { $in: ['DRAFT', 'FILED'] } }, { projection: { _id: 1, status: 1 } }).toArray();
    expect(found).toHaveLength(2000);
    expect(ids(found)).toEqual(ids(all.filter((d) => d.status !== 'APPROVED')));
    expect(await claims.countDocuments({ status: { $in: ['DRAFT', 'FILED'] } })).toBe(2000);
  });

  it('an $in over a multikey index answers a document that holds two of the values once', async () => {
    const found = await claims.find({ tags: { $in: ['t1', 't2'] } }, { projection: { _id: 1 } }).toArray();
    const expected = all.filter((d) => d.tags.includes('t1') || d.tags.includes('t2'));
    expect(found).toHaveLength(expected.length);
    expect(ids(found)).toEqual(ids(expected));
  });

  it('an $in of 600 _ids (three batches) answers exactly those documents', async () => {
    const wanted = all.filter((d) => d.n % 5 === 0).slice(0, 600);
    const found = await claims.find({ _id: { $in: [...wanted.map((d) => d._id), new ObjectId()] } }).toArray();
    expect(found).toHaveLength(600);
    expect(ids(found)).toEqual(ids(wanted));
  });

  it('a page of a sorted range after a cursor answers the next documents in order', async () => {
    const byIdDesc = [...all].sort((a, b) => (String(a._id) < String(b._id) ? 1 : -1));
    const cursor = byIdDesc[1234]._id;
    const page = await claims.find({ _id: { $lt: cursor } }).sort({ _id: -1 }).limit(101).toArray();
    expect(page.map((d) => String(d._id))).toEqual(byIdDesc.slice(1235, 1336).map((d) => String(d._id)));
    const byClaim = await claims.find({ claimId: { $gte: 'c00100' } }).sort({ claimId: 1 }).limit(300).toArray();
    expect(byClaim.map((d) => d.claimId)).toEqual(all.slice(100, 400).map((d) => d.claimId));
  });

  it.runIf(isEmbedded)('a sorted page with a limit reads no more documents than it answers', async () => {
    const explained = (await claims.find({ claimId: { $gte: 'c00100' } }).sort({ claimId: 1 }).limit(10).explain('executionStats')) as Document;
    expect(explained.executionStats.nReturned).toBe(10);
    expect(explained.executionStats.totalDocsExamined).toBe(10);
  });

  it('documents of about 1 MiB each are all answered (batches sized by their bytes)', async () => {
    const big = m.db.collection('big');
    await big.createIndex({ k: 1 });
    const blob = 'x'.repeat(1024 * 1024);
    const docs = Array.from({ length: 24 }, (_, i) => ({ _id: new ObjectId(), k: `k${i}`, blob }));
    for (const d of docs) await big.insertOne(d);
    const found = await big.find({ k: { $in: docs.map((d) => d.k) } }).toArray();
    expect(ids(found)).toEqual(ids(docs));
    expect(found.every((d) => d.blob.length === blob.length)).toBe(true);
    expect(ids(await big.find({ _id: { $in: docs.map((d) => d._id) } }).toArray())).toEqual(ids(docs));
  });

  it('inside a transaction an $in reads the snapshot with the transaction\'s own writes', async () => {
    const session = m.client.startSession();
    try {
      session.startTransaction();
      const values = all.slice(0, 50).map((d) => d.claimId);
      expect(await claims.find({ claimId: { $in: values } }, { session }).toArray()).toHaveLength(50);
      await claims.insertOne({ _id: new ObjectId(), claimId: 'outside', status: 'DRAFT', tags: [], n: -1 });
      await claims.updateOne({ claimId: all[0].claimId }, { $set: { n: -2 } }, { session });
      const seen = await claims.find({ claimId: { $in: [...values, 'outside'] } }, { session }).toArray();
      expect(seen).toHaveLength(50);
      expect(seen.find((d) => d.claimId === all[0].claimId)?.n).toBe(-2);
      await session.abortTransaction();
    } finally {
      await session.endSession();
    }
    expect((await claims.findOne({ claimId: all[0].claimId }))?.n).toBe(0);
    expect(await claims.countDocuments({ claimId: 'outside' })).toBe(1);
  });
});
