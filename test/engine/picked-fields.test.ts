// Filters the index does not answer alone, and inclusion projections, read only the top-level fields they name of a
// stored document (engine/collection.ts `Entry.pick`, engine/matcher.ts `Matcher.fields`): the answers must be those
// of the whole document, whatever else it holds (types the byte walk does not know, DBRef-like fields, arrays of
// documents), and a filter that needs the whole document ($expr) still gets it.
import { Code, type Collection, type Document, Int32, Long, MaxKey, MinKey } from 'mongodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { useMongo } from '../helpers/mongo.ts';

const m = useMongo('picked_fields');

describe('filters and projections read only the fields they name', () => {
  let events: Collection<Document>;

  beforeAll(async () => {
    events = m.db.collection('events');
    await events.createIndex({ seq: 1 }, { unique: true });
    const docs: Document[] = [];
    for (let seq = 1; seq <= 400; seq++) {
      docs.push({
        seq,
        type: ['CLAIM_APPROVED', 'VOUCHER_GENERATED', 'ARCHIVE_FILED', 'SYNC_FAILED'][seq % 4],
        subject: { type: 'ExpenseClaim', id: `c${seq % 50}` },
        payload: { claimId: `c${seq % 50}`, departmentId: `d${seq % 5}`, items: Array.from({ length: 20 }, (_, i) => ({ description: `item ${i} 差旅费`, amountFen: i * 100 })) },
        // Types the walk leaves to a full decode: a document holding one is still matched and projected exactly.
        ...(seq % 10 === 0 ? { pattern: /^BX-\d+$/i, code: new Code('x'), low: new MinKey(), high: new MaxKey() } : {}),
        ...(seq % 7 === 0 ? { link: { $ref: 'claims', $id: `c${seq}` } } : {}),
        n: seq % 3 === 0 ? new Long(seq) : new Int32(seq),
      });
    }
    await events.insertMany(docs);
  });

  it('an index range with a residual filter answers exactly the matching documents, whole', async () => {
    const found = await events.find({ seq: { $gt: 100, $lte: 200 }, type: { $in: ['CLAIM_APPROVED', 'ARCHIVE_FILED'] } }).sort({ seq: 1 }).toArray();
    expect(found.map((d) => d.seq)).toEqual(Array.from({ length: 100 }, (_, i) => 101 + i).filter((s) => s % 4 === 0 || s % 4 === 2));
    const tenth = found.find((d) => d.seq === 110)!;
    expect(tenth.pattern).toBeInstanceOf(RegExp);
    expect(tenth.payload.items).toHaveLength(20);
    expect(tenth.payload.items[3]).toEqual({ description: 'item 3 差旅费', amountFen: 300 });
  });

  it('$and / $or / $nor over nested paths match as on the whole document, types the walk does not know included', async () => {
    const filter = { $and: [{ seq: { $gt: 0 } }, { $or: [{ 'payload.departmentId': 'd0' }, { 'subject.id': 'c7' }] }], $nor: [{ type: 'SYNC_FAILED' }] };
    const found = await events.find(filter).toArray();
    const expected = Array.from({ length: 400 }, (_, i) => i + 1).filter((s) => (s % 5 === 0 || s % 50 === 7) && s % 4 !== 3);
    expect(found.map((d) => d.seq).sort((a, b) => a - b)).toEqual(expected);
    expect(found.filter((d) => d.high !== undefined)).toHaveLength(expected.filter((s) => s % 10 === 0).length);
  });

  it('a filter on a field of a type the walk does not know, and on a DBRef-like field, matches', async () => {
    expect((await events.find({ seq: { $lte: 40 }, high: { $type: 'maxKey' } }).toArray()).map((d) => d.seq)).toEqual([10, 20, 30, 40]);
    expect((await events.find({ seq: { $lte: 30 }, 'link.$id': 'c14' }).toArray()).map((d) => d.seq)).toEqual([14]);
    expect((await events.find({ seq: { $lte: 30 }, n: { $type: 'long' } }).toArray()).map((d) => d.seq)).toEqual([3, 6, 9, 12, 15, 18, 21, 24, 27, 30]);
  });

  it('$expr still sees the whole document', async () => {
    const found = await events.find({ seq: { $lte: 20 }, $expr: { $gt: [{ $size: '$payload.items' }, 19] } }).toArray();
    expect(found).toHaveLength(20);
  });

  it('an inclusion projection answers the named fields in document order, with _id unless excluded', async () => {
    const page = await events.find({ seq: { $gt: 8 } }, { projection: { type: 1, seq: 1, _id: 0 } }).sort({ seq: 1 }).limit(3).toArray();
    expect(page).toEqual([
      { seq: 9, type: 'VOUCHER_GENERATED' },
      { seq: 10, type: 'ARCHIVE_FILED' },
      { seq: 11, type: 'SYNC_FAILED' },
    ]);
    expect(Object.keys(page[0])).toEqual(['seq', 'type']);
    const [withId] = await events.find({ seq: 10 }, { projection: { 'payload.departmentId': 1, pattern: 1 } }).toArray();
    expect(Object.keys(withId)).toEqual(['_id', 'payload', 'pattern']);
    expect(withId.payload).toEqual({ departmentId: 'd0' });
    expect(withId.pattern).toEqual(/^BX-\d+$/i);
  });

  it('exclusion, $slice, $elemMatch and positional projections answer as before', async () => {
    const [excluded] = await events.find({ seq: 12 }, { projection: { payload: 0, _id: 0 } }).toArray();
    expect(Object.keys(excluded)).toEqual(['seq', 'type', 'subject', 'n']);
    const [sliced] = await events.find({ seq: 12 }, { projection: { 'payload.items': { $slice: 2 }, seq: 1 } }).toArray();
    expect(sliced.payload.items).toEqual([
      { description: 'item 0 差旅费', amountFen: 0 },
      { description: 'item 1 差旅费', amountFen: 100 },
    ]);
    const [matched] = await events.find({ seq: 13 }, { projection: { items: { $elemMatch: { amountFen: 500 } } } }).toArray();
    expect(matched).toEqual({ _id: matched._id });
    const [positional] = await events.find({ seq: 14, 'payload.items.amountFen': 700 }, { projection: { 'payload.items.$': 1 } }).toArray();
    expect(positional.payload.items).toEqual([{ description: 'item 7 差旅费', amountFen: 700 }]);
  });
});
