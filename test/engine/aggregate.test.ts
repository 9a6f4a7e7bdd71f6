// Aggregation: $match, $group, $sort, $project, $unwind, $lookup, $facet, $count, $limit, $skip, and more.
import { Decimal128, Long, type Collection, type Document } from 'mongodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { rejection, useMongo } from '../helpers/mongo.ts';

const m = useMongo('aggregate');

let orders: Collection<Document>;
let customers: Collection<Document>;

beforeAll(async () => {
  orders = m.db.collection('orders');
  customers = m.db.collection('customers');
  await customers.insertMany([
    { _id: 'c1', name: 'Acme', country: 'DE' },
    { _id: 'c2', name: 'Globex', country: 'US' },
    { _id: 'c3', name: 'Initech', country: 'US' },
  ] as Document[]);
  await orders.insertMany([
    { _id: 1, customer: 'c1', status: 'paid', total: 100, items: [{ sku: 'a', qty: 1 }, { sku: 'b', qty: 2 }] },
    { _id: 2, customer: 'c1', status: 'open', total: 50, items: [{ sku: 'a', qty: 5 }] },
    { _id: 3, customer: 'c2', status: 'paid', total: 300, items: [{ sku: 'c', qty: 1 }] },
    { _id: 4, customer: 'c2', status: 'paid', total: 25, items: [] },
    { _id: 5, customer: 'c9', status: 'open', total: 75, items: [{ sku: 'b', qty: 1 }] },
  ] as Document[]);
});

describe('single stages', () => {
  it('$match', async () => {
    const docs = await orders.aggregate([{ $match: { status: 'paid', total: { $gte: 100 } } }, { $sort: { _id: 1 } }]).toArray();
    expect(docs.map((d) => d._id)).toEqual([1, 3]);
  });

  it('$group with $sum, $avg, $min, $max, $push, $addToSet and a count', async () => {
    const docs = await orders
      .aggregate([
        {
          $group: {
            _id: '$customer',
            revenue: { $sum: '$total' },
            avg: { $avg: '$total' },
            min: { $min: '$total' },
            max: { $max: '$total' },
            ids: { $push: '$_id' },
            statuses: { $addToSet: '$status' },
            n: { $sum: 1 },
          },
        },
        { $sort: { _id: 1 } },
      ])
      .toArray();
    expect(docs.map((d) => ({ ...d, statuses: [...d.statuses].sort() }))).toEqual([
      { _id: 'c1', revenue: 150, avg: 75, min: 50, max: 100, ids: [1, 2], statuses: ['open', 'paid'], n: 2 },
      { _id: 'c2', revenue: 325, avg: 162.5, min: 25, max: 300, ids: [3, 4], statuses: ['paid'], n: 2 },
      { _id: 'c9', revenue: 75, avg: 75, min: 75, max: 75, ids: [5], statuses: ['open'], n: 1 },
    ]);
  });

  it('$group by null over everything', async () => {
    expect(await orders.aggregate([{ $group: { _id: null, total: { $sum: '$total' }, n: { $sum: 1 } } }]).toArray()).toEqual([
      { _id: null, total: 550, n: 5 },
    ]);
  });

  it('$sort on two keys, $skip and $limit', async () => {
    const docs = await orders.aggregate([{ $sort: { status: 1, total: -1 } }, { $skip: 1 }, { $limit: 3 }]).toArray();
    expect(docs.map((d) => d._id)).toEqual([2, 3, 1]);
  });

  it('$project with inclusion, exclusion of _id, renaming and expressions', async () => {
    const docs = await orders
      .aggregate([
        { $match: { _id: { $in: [1, 4] } } },
        { $sort: { _id: 1 } },
        { $project: { _id: 0, id: '$_id', total: 1, doubled: { $multiply: ['$total', 2] }, nItems: { $size: '$items' }, big: { $gt: ['$total', 50] } } },
      ])
      .toArray();
    expect(docs).toEqual([
      { total: 100, id: 1, doubled: 200, nItems: 2, big: true },
      { total: 25, id: 4, doubled: 50, nItems: 0, big: false },
    ]);
  });

  it('$unwind, then $group by an unwound field', async () => {
    const unwound = await orders.aggregate([{ $unwind: '$items' }, { $project: { _id: 1, sku: '$items.sku' } }]).toArray();
    expect(unwound).toHaveLength(5); // order 4 has no items and disappears
    expect(unwound.map((d) => `${d._id}:${d.sku}`).sort()).toEqual(['1:a', '1:b', '2:a', '3:c', '5:b']);
    const bySku = await orders
      .aggregate([{ $unwind: '$items' }, { $group: { _id: '$items.sku', qty: { $sum: '$items.qty' } } }, { $sort: { _id: 1 } }])
      .toArray();
    expect(bySku).toEqual([
      { _id: 'a', qty: 6 },
      { _id: 'b', qty: 3 },
      { _id: 'c', qty: 1 },
    ]);
  });

  it('$unwind with preserveNullAndEmptyArrays and includeArrayIndex', async () => {
    const docs = await orders
      .aggregate([
        { $match: { _id: { $in: [1, 4] } } },
        { $unwind: { path: '$items', preserveNullAndEmptyArrays: true, includeArrayIndex: 'i' } },
        { $project: { _id: 1, i: 1, sku: '$items.sku' } },
        { $sort: { _id: 1, i: 1 } },
      ])
      .toArray();
    expect(docs).toEqual([
      { _id: 1, i: 0, sku: 'a' },
      { _id: 1, i: 1, sku: 'b' },
      { _id: 4, i: null },
    ]);
  });

  it('$lookup joins another collection of the same database', async () => {
    const docs = await orders
      .aggregate([
        { $match: { _id: { $in: [1, 3, 5] } } },
        { $lookup: { from: 'customers', localField: 'customer', foreignField: '_id', as: 'who' } },
        { $project: { _id: 1, who: 1 } },
        { $sort: { _id: 1 } },
      ])
      .toArray();
    expect(docs).toEqual([
      { _id: 1, who: [{ _id: 'c1', name: 'Acme', country: 'DE' }] },
      { _id: 3, who: [{ _id: 'c2', name: 'Globex', country: 'US' }] },
      { _id: 5, who: [] },
    ]);
  });

  it('$lookup from the other side, with $unwind and $group: revenue per country', async () => {
    const docs = await customers
      .aggregate([
        { $lookup: { from: 'orders', localField: '_id', foreignField: 'customer', as: 'orders' } },
        { $unwind: '$orders' },
        { $group: { _id: '$country', revenue: { $sum: '$orders.total' }, customers: { $addToSet: '$name' } } },
        { $sort: { revenue: -1 } },
      ])
      .toArray();
    expect(docs.map((d) => ({ ...d, customers: [...d.customers].sort() }))).toEqual([
      { _id: 'US', revenue: 325, customers: ['Globex'] },
      { _id: 'DE', revenue: 150, customers: ['Acme'] },
    ]);
  });

  it('$lookup with a pipeline and let', async () => {
    const docs = await customers
      .aggregate([
        {
          $lookup: {
            from: 'orders',
            let: { cid: '$_id' },
            pipeline: [{ $match: { $expr: { $and: [{ $eq: ['$customer', '$$cid'] }, { $eq: ['$status', 'paid'] }] } } }, { $project: { _id: 1 } }],
            as: 'paid',
          },
        },
        { $project: { paid: 1 } },
        { $sort: { _id: 1 } },
      ])
      .toArray();
    expect(docs).toEqual([
      { _id: 'c1', paid: [{ _id: 1 }] },
      { _id: 'c2', paid: [{ _id: 3 }, { _id: 4 }] },
      { _id: 'c3', paid: [] },
    ]);
  });

  it('$facet runs sub-pipelines over the same input', async () => {
    const [doc] = await orders
      .aggregate([
        {
          $facet: {
            byStatus: [{ $group: { _id: '$status', n: { $sum: 1 } } }, { $sort: { _id: 1 } }],
            top2: [{ $sort: { total: -1 } }, { $limit: 2 }, { $project: { _id: 1 } }],
            count: [{ $count: 'n' }],
          },
        },
      ])
      .toArray();
    expect(doc).toEqual({
      byStatus: [
        { _id: 'open', n: 2 },
        { _id: 'paid', n: 3 },
      ],
      top2: [{ _id: 3 }, { _id: 1 }],
      count: [{ n: 5 }],
    });
  });

  it('$count names its field, and yields no document for an empty input', async () => {
    expect(await orders.aggregate([{ $match: { status: 'paid' } }, { $count: 'paidOrders' }]).toArray()).toEqual([{ paidOrders: 3 }]);
    expect(await orders.aggregate([{ $match: { status: 'nope' } }, { $count: 'n' }]).toArray()).toEqual([]);
  });

  it('$addFields, $set, $unset, $replaceRoot and $sortByCount', async () => {
    const docs = await orders
      .aggregate([
        { $match: { _id: 1 } },
        { $addFields: { vat: { $multiply: ['$total', 0.2] } } },
        { $set: { tag: 'x' } },
        { $unset: ['items', 'customer'] },
      ])
      .toArray();
    expect(docs).toEqual([{ _id: 1, status: 'paid', total: 100, vat: 20, tag: 'x' }]);
    const roots = await orders.aggregate([{ $match: { _id: 3 } }, { $replaceRoot: { newRoot: { $arrayElemAt: ['$items', 0] } } }]).toArray();
    expect(roots).toEqual([{ sku: 'c', qty: 1 }]);
    const counted = await orders.aggregate([{ $sortByCount: '$status' }]).toArray();
    expect(counted).toEqual([
      { _id: 'paid', count: 3 },
      { _id: 'open', count: 2 },
    ]);
  });

  it('aggregates over a missing collection as over an empty one', async () => {
    expect(await m.db.collection('nothing_here').aggregate([{ $match: {} }, { $count: 'n' }]).toArray()).toEqual([]);
  });

  it('keeps exact BSON types through a pipeline', async () => {
    const coll = m.db.collection('typed_agg');
    await coll.insertMany([
      { g: 1, d: Decimal128.fromString('1.10'), l: Long.fromString('9007199254740993') },
      { g: 1, d: Decimal128.fromString('2.20'), l: Long.fromString('1') },
    ]);
    const [passed] = await coll.aggregate([{ $match: { g: 1 } }, { $sort: { l: -1 } }, { $limit: 1 }], { promoteLongs: false }).toArray();
    expect(passed.l).toBeInstanceOf(Long);
    expect(passed.l.toString()).toBe('9007199254740993');
    expect(passed.d).toBeInstanceOf(Decimal128);
    expect(passed.d.toString()).toBe('1.10');
    const [sum] = await coll.aggregate([{ $group: { _id: null, s: { $sum: '$d' } } }]).toArray();
    expect(sum.s).toBeInstanceOf(Decimal128);
    expect(sum.s.toString()).toBe('3.30');
  });

  it('sums the sums of an earlier $group exactly (a roll-up: subtotals, then the grand total)', async () => {
    const coll = m.db.collection('rollup');
    await coll.insertMany([
      { dept: 'a', fen: 12_345 },
      { dept: 'a', fen: 1 },
      { dept: 'b', fen: Long.fromString('9007199254740000') },
      { dept: 'c', fen: 99_999 },
      { dept: 'c', fen: 'not a number' },
    ]);
    const [total] = await coll
      .aggregate([{ $group: { _id: '$dept', sub: { $sum: '$fen' }, n: { $sum: 1 } } }, { $group: { _id: null, total: { $sum: '$sub' }, n: { $sum: '$n' }, groups: { $sum: 1 } } }], { promoteLongs: false })
      .toArray();
    expect(total.total.toString()).toBe(String(12_345n + 1n + 99_999n + 9_007_199_254_740_000n));
    expect(Number(total.n)).toBe(5);
    expect(Number(total.groups)).toBe(3);
  });

  it('computes, sorts and filters on the sums of an earlier $group (a trial balance: debits, credits, the balance)', async () => {
    const coll = m.db.collection('balances');
    const fen = (n: number) => Long.fromNumber(n);
    await coll.insertMany([
      { account: '6601', debit: fen(10_010), credit: fen(0), tag: Decimal128.fromString('1.10') },
      { account: '6601', debit: fen(20), credit: fen(3_000), tag: Decimal128.fromString('2.20') },
      { account: '1002', debit: fen(0), credit: fen(7_030), tag: Decimal128.fromString('0.01') },
      { account: '2241', debit: fen(500), credit: fen(500), tag: Decimal128.fromString('0') },
    ]);
    const rows = await coll
      .aggregate(
        [
          { $group: { _id: '$account', debit: { $sum: '$debit' }, credit: { $sum: '$credit' }, tags: { $sum: '$tag' } } },
          { $addFields: { balance: { $subtract: ['$debit', '$credit'] }, doubled: { $multiply: ['$debit', 2] } } },
          { $match: { balance: { $ne: 0 } } },
          { $sort: { debit: -1 } },
        ],
        { promoteLongs: false },
      )
      .toArray();
    expect(rows.map((r) => [r._id, Number(r.debit), Number(r.credit), Number(r.balance), Number(r.doubled)])).toEqual([
      ['6601', 10_030, 3_000, 7_030, 20_060],
      ['1002', 0, 7_030, -7_030, 0],
    ]);
    // The sums that pass through the later stages unchanged keep their exact type.
    expect(rows[0].debit).toBeInstanceOf(Long);
    expect(rows[0].tags).toBeInstanceOf(Decimal128);
    expect(rows[0].tags.toString()).toBe('3.30');
  });

  it('honours the cursor batchSize of aggregate', async () => {
    const session = m.client.startSession();
    try {
      const reply = await m.db.command({ aggregate: 'orders', pipeline: [{ $sort: { _id: 1 } }], cursor: { batchSize: 2 } }, { session, promoteLongs: false });
      expect(reply.cursor.firstBatch.map((d: Document) => d._id)).toEqual([1, 2]);
      expect(reply.cursor.id).toBeInstanceOf(Long);
      expect(reply.cursor.id.isZero()).toBe(false);
      const more = await m.db.command({ getMore: reply.cursor.id, collection: 'orders', batchSize: 10 }, { session });
      expect(more.cursor.nextBatch.map((d: Document) => d._id)).toEqual([3, 4, 5]);
    } finally {
      await session.endSession();
    }
  });
});

describe('errors', () => {
  it('an unknown stage answers 40324 Unrecognized pipeline stage name', async () => {
    const err = await rejection(() => orders.aggregate([{ $match: {} }, { $frobnicate: {} }]).toArray());
    expect(err.code).toBe(40324);
    expect(err.codeName).toBe('Location40324');
    expect(err.message).toBe("Unrecognized pipeline stage name: '$frobnicate'");
  });

  it('a stage object with two fields answers 40323', async () => {
    const err = await rejection(() => orders.aggregate([{ $match: {}, $limit: 1 } as Document]).toArray());
    expect(err.code).toBe(40323);
    expect(err.message).toBe('A pipeline stage specification object must contain exactly one field.');
  });

  it('an unknown expression operator fails (InvalidPipelineOperator 168)', async () => {
    const err = await rejection(() => orders.aggregate([{ $project: { x: { $frobnicate: ['$total'] } } }]).toArray());
    expect(err.code).toBe(168);
    expect(err.codeName).toBe('InvalidPipelineOperator');
    expect(err.message).toContain("Unrecognized expression '$frobnicate'");
  });

  it('an unknown group accumulator fails (15952)', async () => {
    const err = await rejection(() => orders.aggregate([{ $group: { _id: null, x: { $frobnicate: '$total' } } }]).toArray());
    expect(err.code).toBe(15952);
    expect(err.message).toBe('unknown group operator \'$frobnicate\'');
  });
});
