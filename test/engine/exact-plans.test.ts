// Plans that need not test documents (engine/planner.ts, exactness): a query whose one term is equality with
// ObjectIds or strings, or a range between such bounds, answered by _id or an index of that one field, returns the
// index's documents without decoding them. Every such query must answer exactly what a collection scan that tests
// each document answers: on strings that are prefixes of one another or hold NUL, on arrays (multikey), numbers,
// null and missing fields beside them, ascending and descending indexes, and inside a transaction that changed
// documents. The residual filter shows in explain's FETCH stage as MongoDB shows it.
import { ObjectId, type Collection, type Document } from 'mongodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { isEmbedded, useMongo } from '../helpers/mongo.ts';

const m = useMongo('exact_plans');

const STRINGS = ['', 'a', 'a\u0000', 'a\u0000b', 'ab', 'abc', 'b', 'é', '中文', 'z'.repeat(40)];
const OIDS = Array.from({ length: 8 }, (_, i) => new ObjectId(`65a0000000000000000000${String(i).padStart(2, '0')}`));

/** A deterministic pseudo-random sequence, so a failure reproduces. */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

function docs(n: number): Document[] {
  const r = rng(7);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const value = (kind: 'string' | 'oid'): unknown => {
    const x = r();
    if (x < 0.55) return kind === 'string' ? pick(STRINGS) : pick(OIDS);
    if (x < 0.7) return [pick(STRINGS), pick(OIDS)].filter((_, i) => (kind === 'string' ? i === 0 : i === 1)).concat(kind === 'string' ? [pick(STRINGS)] : [pick(OIDS)]);
    if (x < 0.8) return pick([1, 1.5, -3, 0]);
    if (x < 0.9) return null;
    return undefined;
  };
  return Array.from({ length: n }, (_, i) => {
    const d: Document = { _id: i % 3 === 0 ? `id${i}` : new ObjectId(), n: i };
    for (const [field, kind] of [
      ['s', 'string'],
      ['o', 'oid'],
      ['d', 'string'],
      ['flat', 'string'],
    ] as const) {
      let v = value(kind);
      if (field === 'flat' && Array.isArray(v)) v = v[0]; // never an array: its index stays single-key
      if (v !== undefined) d[field] = v;
    }
    return d;
  });
}

const sortById = (xs: Document[]) => xs.map((d) => JSON.stringify(d)).sort();

describe('exact plans answer what a scan answers', () => {
  let coll: Collection<Document>;
  let all: Document[];

  beforeAll(async () => {
    coll = m.db.collection('exact');
    all = docs(600);
    await coll.insertMany(all);
    await coll.createIndexes([{ key: { s: 1 } }, { key: { o: 1 } }, { key: { d: -1 } }, { key: { flat: 1 } }, { key: { s: 1, o: 1 }, name: 'compound' }]);
  });

  const filters = (): Document[] => {
    const out: Document[] = [];
    for (const f of ['s', 'd', 'flat']) {
      for (const v of STRINGS) out.push({ [f]: v }, { [f]: { $lt: v } }, { [f]: { $gt: v } }, { [f]: { $lte: v } }, { [f]: { $gte: v } });
      out.push({ [f]: { $in: ['a', 'ab', '', 'missing'] } }, { $and: [{}, { [f]: { $eq: 'a\u0000' } }] }, { [f]: { $gt: 'a', $lt: 'b' } }, { [f]: { $gte: 'a\u0000', $lte: 'abc' } });
    }
    for (const v of OIDS) out.push({ o: v }, { o: { $lt: v } }, { o: { $gt: v } }, { _id: { $lt: v } }, { _id: { $gte: v } });
    out.push({ o: { $in: OIDS.slice(2, 6) } }, { $and: [{}, { _id: { $in: ['id3', 'id6', OIDS[0], 'nope'] } }] }, { _id: 'id9' }, { _id: { $gt: 'id3', $lt: 'id6' } });
    return out;
  };

  it('for every filter, through every plan the planner picks (same documents as with hint $natural)', async () => {
    const list = filters();
    let checked = 0;
    for (const filter of list) {
      const planned = sortById(await coll.find(filter).toArray());
      const scanned = sortById(await coll.find(filter).hint({ $natural: 1 }).toArray());
      expect(planned, JSON.stringify(filter)).toEqual(scanned);
      const sorted = await coll.find(filter).sort({ _id: -1 }).limit(7).toArray();
      const scannedSorted = await coll.find(filter).hint({ $natural: 1 }).sort({ _id: -1 }).limit(7).toArray();
      expect(sorted.map((d) => String(d._id)), JSON.stringify(filter)).toEqual(scannedSorted.map((d) => String(d._id)));
      checked++;
    }
    expect(checked).toBe(list.length);
    // The data holds matches for most filters: the comparison is not between empty answers.
    expect((await coll.find({ s: 'a' }).toArray()).length).toBeGreaterThan(10);
  });

  it('with more values than the planner bounds, read whole for a sort or a hint: the matches only', async () => {
    const many = [...Array.from({ length: 1500 }, (_, i) => `nope-${i}`), 'a', 'ab'];
    const expected = sortById(await coll.find({ s: { $in: many } }).hint({ $natural: 1 }).toArray());
    expect(expected.length).toBeGreaterThan(10);
    expect(sortById(await coll.find({ s: { $in: many } }).sort({ s: 1 }).toArray())).toEqual(expected);
    expect(sortById(await coll.find({ s: { $in: many } }).hint({ s: 1 }).toArray())).toEqual(expected);
    expect(sortById(await coll.find({ flat: { $gt: 'a' } }).hint({ s: 1 }).toArray())).toEqual(sortById(await coll.find({ flat: { $gt: 'a' } }).hint({ $natural: 1 }).toArray()));
  });

  it('inside a transaction that changed, added and deleted documents', async () => {
    const session = m.client.startSession();
    try {
      await session.withTransaction(async () => {
        await coll.updateMany({ s: 'ab' }, { $set: { s: 'zz' } }, { session });
        await coll.insertOne({ _id: 'txn-new', s: 'ab', o: OIDS[1] } as Document, { session });
        await coll.deleteMany({ o: OIDS[2] }, { session });
        for (const filter of [{ s: 'ab' }, { s: { $in: ['zz', 'ab'] } }, { o: OIDS[2] }, { s: { $gt: 'ab' } }, { _id: { $in: ['txn-new', 'id3'] } }] as Document[]) {
          const planned = sortById(await coll.find(filter, { session }).toArray());
          const scanned = sortById(await coll.find(filter, { session }).hint({ $natural: 1 }).toArray());
          expect(planned, JSON.stringify(filter)).toEqual(scanned);
        }
        expect(await coll.countDocuments({ s: 'ab' }, { session })).toBe(1);
        await session.abortTransaction();
      });
    } finally {
      await session.endSession();
    }
  });
});

describe.runIf(isEmbedded)('which plans test documents (embedded engine only)', () => {
  let coll: Collection<Document>;
  beforeAll(async () => {
    coll = m.db.collection('explained');
    await coll.insertMany([{ _id: new ObjectId(), k: 'a', tags: ['x', 'y'], n: 1 }, { _id: 'two', k: 'b', tags: 'x', n: 2 }] as Document[]);
    await coll.createIndexes([{ key: { k: 1 } }, { key: { tags: 1 } }, { key: { n: 1 } }, { key: { k: 1, n: 1 }, name: 'k_n' }]);
  });
  const fetchFilter = async (filter: Document) => {
    const plan = ((await coll.find(filter).explain('queryPlanner')) as Document).queryPlanner.winningPlan as Document;
    return { stage: plan.stage as string, tested: 'filter' in plan };
  };

  it('index bounds that are the filter: no residual filter', async () => {
    expect(await fetchFilter({ k: 'a' })).toEqual({ stage: 'FETCH', tested: false });
    expect(await fetchFilter({ $and: [{}, { k: { $in: ['a', 'b'] } }] })).toEqual({ stage: 'FETCH', tested: false });
    expect(await fetchFilter({ tags: 'x' })).toEqual({ stage: 'FETCH', tested: false }); // multikey equality
    expect(await fetchFilter({ _id: { $in: ['two', new ObjectId()] } })).toEqual({ stage: 'IDHACK', tested: false });
    expect(await fetchFilter({ _id: { $lt: new ObjectId() } })).toEqual({ stage: 'FETCH', tested: false });
    expect(await fetchFilter({ k: { $gt: 'a', $lte: 'c' } })).toEqual({ stage: 'FETCH', tested: false });
    expect(await fetchFilter({})).toEqual({ stage: 'COLLSCAN', tested: false });
  });

  it('anything else is tested document by document', async () => {
    expect(await fetchFilter({ n: 1 })).toEqual({ stage: 'FETCH', tested: true }); // numbers: loose keys
    expect(await fetchFilter({ k: 'a', n: 1 })).toEqual({ stage: 'FETCH', tested: true }); // two terms
    expect(await fetchFilter({ $and: [{ k: { $gt: 'a' } }, { k: { $lt: 'c' } }] })).toEqual({ stage: 'FETCH', tested: true }); // one field, two terms
    expect(await fetchFilter({ tags: { $gt: 'a', $lt: 'z' } })).toEqual({ stage: 'FETCH', tested: true }); // a range on a multikey index
    expect(await fetchFilter({ k: { $in: ['a', null] } })).toEqual({ stage: 'FETCH', tested: true }); // null matches missing
    expect(await fetchFilter({ k: { $gt: 'a', $lt: 5 } })).toEqual({ stage: 'FETCH', tested: true }); // bounds of two types
    expect(await fetchFilter({ k: /a/ })).toEqual({ stage: 'COLLSCAN', tested: true });
    expect(await fetchFilter({ _id: 'two', k: 'b' })).toEqual({ stage: 'IDHACK', tested: true });
  });
});
