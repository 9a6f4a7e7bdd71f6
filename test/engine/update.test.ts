// The update command: operators, replacement, upsert with $setOnInsert, multi, arrayFilters.
import { Decimal128, Long, type Collection, type Document } from 'mongodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { rejection, useMongo } from '../helpers/mongo.ts';

const m = useMongo('update');

let seq = 0;
// Loosely typed on purpose: these tests send update documents the driver's typings cannot express.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDoc = any;
let coll: Collection<AnyDoc>;
beforeEach(async () => {
  coll = m.db.collection<AnyDoc>(`u${++seq}`);
});

/** [BSON type, value as text] of a value read with promoteValues: false. */
const typed = (v: unknown): [string | undefined, string] => [(v as { _bsontype?: string })._bsontype, String(v)];

async function one(id: unknown): Promise<Document | null> {
  return coll.findOne({ _id: id as never });
}

describe('field operators', () => {
  it('$set and $unset, including dotted paths that create sub-documents', async () => {
    await coll.insertOne({ _id: 1, a: 1, b: 2, nested: { x: 1 } } as Document);
    const res = await coll.updateOne({ _id: 1 as never }, { $set: { a: 10, 'nested.y': 2, 'fresh.deep': true }, $unset: { b: '' } });
    expect(res).toMatchObject({ acknowledged: true, matchedCount: 1, modifiedCount: 1, upsertedCount: 0, upsertedId: null });
    expect(await one(1)).toEqual({ _id: 1, a: 10, nested: { x: 1, y: 2 }, fresh: { deep: true } });
  });

  it('reports modifiedCount 0 when $set writes the value already stored', async () => {
    await coll.insertOne({ _id: 1, a: 1 } as Document);
    const res = await coll.updateOne({ _id: 1 as never }, { $set: { a: 1 } });
    expect(res.matchedCount).toBe(1);
    expect(res.modifiedCount).toBe(0);
  });

  it('$inc, $mul, $min, $max keep numeric types as MongoDB does', async () => {
    await coll.insertOne({ _id: 1, i: 5, d: 1.5, l: Long.fromNumber(10), lo: 10, hi: 10 } as Document);
    await coll.updateOne({ _id: 1 as never }, { $inc: { i: 2, d: 1, l: 5, created: 3 }, $mul: { lo: 2 }, $min: { hi: 3 } });
    const doc = await coll.findOne({ _id: 1 as never }, { promoteValues: false });
    expect(typed(doc!.i)).toEqual(['Int32', '7']);
    expect(typed(doc!.d)).toEqual(['Double', '2.5']);
    expect(typed(doc!.l)).toEqual(['Long', '15']);
    expect(typed(doc!.created)).toEqual(['Int32', '3']);
    expect(typed(doc!.hi)).toEqual(['Int32', '3']);
    expect(typed(doc!.lo)).toEqual(['Int32', '20']);
  });

  it('$inc promotes an overflowing Int32 to Long and Int32 + Double to Double', async () => {
    await coll.insertOne({ _id: 1, big: 2147483647, mixed: 2 } as Document);
    await coll.updateOne({ _id: 1 as never }, { $inc: { big: 1, mixed: 0.5 } });
    const doc = await coll.findOne({ _id: 1 as never }, { promoteValues: false });
    expect(typed(doc!.big)).toEqual(['Long', '2147483648']);
    expect(typed(doc!.mixed)).toEqual(['Double', '2.5']);
  });

  it('$mul and $max on one field in one update is a conflict (code 40)', async () => {
    await coll.insertOne({ _id: 1, lo: 10 } as Document);
    const err = await rejection(() => coll.updateOne({ _id: 1 as never }, { $mul: { lo: 2 }, $max: { lo: 100 } }));
    expect(err.code).toBe(40);
    expect(err.errmsg).toBe("Updating the path 'lo' would create a conflict at 'lo'");
    expect(await one(1)).toEqual({ _id: 1, lo: 10 });
  });

  it('$mul, $min and $max', async () => {
    await coll.insertOne({ _id: 1, price: 10, low: 5, high: 5 } as Document);
    await coll.updateOne({ _id: 1 as never }, { $mul: { price: 3 }, $min: { low: 2 }, $max: { high: 9 } });
    expect(await one(1)).toEqual({ _id: 1, price: 30, low: 2, high: 9 });
    await coll.updateOne({ _id: 1 as never }, { $min: { low: 7 }, $max: { high: 1 } });
    expect(await one(1)).toEqual({ _id: 1, price: 30, low: 2, high: 9 });
  });

  it('$inc on Decimal128 adds exactly', async () => {
    await coll.insertOne({ _id: 1, amount: Decimal128.fromString('0.1') } as Document);
    await coll.updateOne({ _id: 1 as never }, { $inc: { amount: Decimal128.fromString('0.2') } });
    const doc = await one(1);
    expect(doc!.amount).toBeInstanceOf(Decimal128);
    expect(doc!.amount.toString()).toBe('0.3');
  });

  it('$rename and $currentDate', async () => {
    await coll.insertOne({ _id: 1, old: 'v', keep: 1 } as Document);
    const before = Date.now();
    await coll.updateOne({ _id: 1 as never }, { $rename: { old: 'renamed' }, $currentDate: { touched: true } });
    const doc = await one(1);
    expect(doc).toMatchObject({ _id: 1, renamed: 'v', keep: 1 });
    expect(doc!.old).toBeUndefined();
    expect(doc!.touched).toBeInstanceOf(Date);
    expect(doc!.touched.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(doc!.touched.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it('rejects $inc on a non-numeric field (TypeMismatch 14) and changes nothing', async () => {
    await coll.insertOne({ _id: 1, s: 'text' } as Document);
    const err = await rejection(() => coll.updateOne({ _id: 1 as never }, { $inc: { s: 1 } }));
    expect(err.code).toBe(14);
    expect(err.errmsg).toBe("Cannot apply $inc to a value of non-numeric type. {_id: 1} has the field 's' of non-numeric type string");
    expect(await one(1)).toEqual({ _id: 1, s: 'text' });
  });

  it('rejects changing _id (ImmutableField 66)', async () => {
    await coll.insertOne({ _id: 1, a: 1 } as Document);
    const err = await rejection(() => coll.updateOne({ _id: 1 as never }, { $set: { _id: 2 } }));
    expect(err.code).toBe(66);
    expect(err.errmsg).toBe("Performing an update on the path '_id' would modify the immutable field '_id'");
  });
});

describe('array operators', () => {
  it('$push, $push with $each/$sort/$slice, $addToSet with $each, $pop, $pull, $pullAll', async () => {
    await coll.insertOne({ _id: 1, list: [3, 1], set: ['a'], stack: [1, 2, 3], bag: [1, 2, 3, 2, 4], all: [1, 2, 3, 1] } as Document);
    await coll.updateOne({ _id: 1 as never }, { $push: { list: 2 } } as Document);
    expect((await one(1))!.list).toEqual([3, 1, 2]);
    await coll.updateOne({ _id: 1 as never }, { $push: { list: { $each: [9, 0], $sort: 1, $slice: -3 } } } as Document);
    expect((await one(1))!.list).toEqual([2, 3, 9]);
    await coll.updateOne({ _id: 1 as never }, { $addToSet: { set: { $each: ['a', 'b', 'b', 'c'] } } });
    expect((await one(1))!.set).toEqual(['a', 'b', 'c']);
    await coll.updateOne({ _id: 1 as never }, { $pop: { stack: 1 } });
    await coll.updateOne({ _id: 1 as never }, { $pop: { stack: -1 } });
    expect((await one(1))!.stack).toEqual([2]);
    await coll.updateOne({ _id: 1 as never }, { $pull: { bag: { $gte: 3 } } } as Document);
    expect((await one(1))!.bag).toEqual([1, 2, 2]);
    await coll.updateOne({ _id: 1 as never }, { $pullAll: { all: [1, 3] } } as Document);
    expect((await one(1))!.all).toEqual([2]);
  });

  it('$pull with a condition on sub-documents', async () => {
    await coll.insertOne({ _id: 1, items: [{ k: 'a', n: 1 }, { k: 'b', n: 5 }, { k: 'c', n: 7 }] } as Document);
    await coll.updateOne({ _id: 1 as never }, { $pull: { items: { n: { $gt: 4 } } } } as Document);
    expect((await one(1))!.items).toEqual([{ k: 'a', n: 1 }]);
  });

  it('the positional $ operator updates the first matched element', async () => {
    await coll.insertOne({ _id: 1, grades: [80, 85, 90, 85] } as Document);
    await coll.updateOne({ _id: 1 as never, grades: 85 }, { $set: { 'grades.$': 86 } });
    expect((await one(1))!.grades).toEqual([80, 86, 90, 85]);
  });

  it('$[] updates every element and $[ident] with arrayFilters updates the matching ones', async () => {
    await coll.insertOne({ _id: 1, scores: [1, 2, 3], items: [{ q: 1, ok: false }, { q: 5, ok: false }, { q: 9, ok: false }] } as Document);
    await coll.updateOne({ _id: 1 as never }, { $inc: { 'scores.$[]': 10 } });
    expect((await one(1))!.scores).toEqual([11, 12, 13]);
    const res = await coll.updateOne({ _id: 1 as never }, { $set: { 'items.$[big].ok': true } }, { arrayFilters: [{ 'big.q': { $gte: 5 } }] });
    expect(res.modifiedCount).toBe(1);
    expect((await one(1))!.items).toEqual([
      { q: 1, ok: false },
      { q: 5, ok: true },
      { q: 9, ok: true },
    ]);
  });

  it('arrayFilters on nested arrays with two identifiers', async () => {
    await coll.insertOne({ _id: 1, rows: [{ r: 1, cells: [1, 5, 9] }, { r: 2, cells: [2, 6] }] } as Document);
    await coll.updateOne(
      { _id: 1 as never },
      { $set: { 'rows.$[row].cells.$[cell]': 0 } },
      { arrayFilters: [{ 'row.r': 2 }, { cell: { $gt: 3 } }] },
    );
    expect((await one(1))!.rows).toEqual([{ r: 1, cells: [1, 5, 9] }, { r: 2, cells: [2, 0] }]);
  });

  it('rejects an arrayFilters identifier the update does not use (FailedToParse 9)', async () => {
    await coll.insertOne({ _id: 1, a: [1] } as Document);
    const err = await rejection(() => coll.updateOne({ _id: 1 as never }, { $set: { 'a.$[x]': 2 } }, { arrayFilters: [{ x: 1 }, { y: 2 }] }));
    expect(err.code).toBe(9);
    expect(err.errmsg).toBe("The array filter for identifier 'y' was not used in the update { $set: { a.$[x]: 2 } }");
  });
  it('addresses array elements by index in dotted paths; $unset of an element leaves null', async () => {
    await coll.insertOne({ _id: 1, list: ['a', 'b', 'c'], rows: [{ v: 1 }, { v: 2 }] } as Document);
    await coll.updateOne({ _id: 1 as never }, { $set: { 'list.1': 'B', 'rows.0.v': 10, 'list.4': 'e' } });
    expect(await one(1)).toEqual({ _id: 1, list: ['a', 'B', 'c', null, 'e'], rows: [{ v: 10 }, { v: 2 }] });
    await coll.updateOne({ _id: 1 as never }, { $unset: { 'list.0': '' } });
    expect((await one(1))!.list).toEqual([null, 'B', 'c', null, 'e']);
  });
});

describe('multi, replacement and upsert', () => {
  it('updateMany modifies every match; updateOne only the first', async () => {
    await coll.insertMany([
      { _id: 1, g: 'a', n: 0 },
      { _id: 2, g: 'a', n: 0 },
      { _id: 3, g: 'b', n: 0 },
    ] as Document[]);
    const one1 = await coll.updateOne({ g: 'a' }, { $inc: { n: 1 } });
    expect(one1).toMatchObject({ matchedCount: 1, modifiedCount: 1 });
    expect(await coll.countDocuments({ n: 1 })).toBe(1);
    const many = await coll.updateMany({ g: 'a' }, { $set: { n: 5 } });
    expect(many).toMatchObject({ acknowledged: true, matchedCount: 2, modifiedCount: 2, upsertedCount: 0, upsertedId: null });
    expect((await coll.find({}).sort({ _id: 1 }).toArray()).map((d) => d.n)).toEqual([5, 5, 0]);
    const none = await coll.updateMany({ g: 'zzz' }, { $set: { n: 1 } });
    expect(none).toMatchObject({ matchedCount: 0, modifiedCount: 0 });
  });

  it('replaceOne replaces the whole document and keeps _id', async () => {
    await coll.insertOne({ _id: 7, a: 1, b: 2 } as Document);
    const res = await coll.replaceOne({ _id: 7 as never }, { c: 3 });
    expect(res).toMatchObject({ matchedCount: 1, modifiedCount: 1 });
    expect(await one(7)).toEqual({ _id: 7, c: 3 });
  });

  it('the raw update command with multi: true and a replacement document is refused (FailedToParse 9)', async () => {
    await coll.insertOne({ _id: 1 } as Document);
    const reply = await m.db.command({ update: coll.collectionName, updates: [{ q: {}, u: { a: 1 }, multi: true }] });
    expect(reply.ok).toBe(1);
    expect(reply.n).toBe(0);
    expect(reply.writeErrors).toHaveLength(1);
    expect(reply.writeErrors[0]).toMatchObject({ index: 0, code: 9, errmsg: 'multi update is not supported for replacement-style update' });
  });

  it('upsert inserts from the equality fields of the query plus $set and $setOnInsert', async () => {
    const res = await coll.updateOne(
      { sku: 'abc', qty: { $gt: 5 } },
      { $set: { price: 10 }, $setOnInsert: { createdBy: 'upsert' }, $inc: { hits: 1 } },
      { upsert: true },
    );
    expect(res.matchedCount).toBe(0);
    expect(res.modifiedCount).toBe(0);
    expect(res.upsertedCount).toBe(1);
    const doc = await coll.findOne({ _id: res.upsertedId as never });
    expect(doc).toEqual({ _id: res.upsertedId, sku: 'abc', price: 10, createdBy: 'upsert', hits: 1 });
  });

  it('an upsert that matches applies $set but not $setOnInsert', async () => {
    await coll.insertOne({ _id: 1, sku: 'x', price: 1 } as Document);
    const res = await coll.updateOne({ sku: 'x' }, { $set: { price: 2 }, $setOnInsert: { createdBy: 'upsert' } }, { upsert: true });
    expect(res).toMatchObject({ matchedCount: 1, modifiedCount: 1, upsertedCount: 0, upsertedId: null });
    expect(await one(1)).toEqual({ _id: 1, sku: 'x', price: 2 });
  });

  it('upsert seeds the new document from $and equalities and $eq, not from other operators', async () => {
    const res = await coll.updateOne(
      { $and: [{ a: 1 }, { 'b.c': 'x' }], d: { $eq: 4 }, e: { $in: [5] }, f: { $gt: 1 } },
      { $set: { g: true } },
      { upsert: true },
    );
    const doc = await coll.findOne({ _id: res.upsertedId as never }, { projection: { _id: 0 } });
    // A one-element $in counts as an equality.
    expect(doc).toEqual({ a: 1, b: { c: 'x' }, d: 4, e: 5, g: true });
  });

  it('upsert takes _id from the query', async () => {
    const res = await coll.updateOne({ _id: 'given' as never }, { $set: { v: 1 } }, { upsert: true });
    expect(res.upsertedId).toBe('given');
    expect(await one('given')).toEqual({ _id: 'given', v: 1 });
  });

  it('replaceOne with upsert inserts the replacement with the query _id', async () => {
    const res = await coll.replaceOne({ _id: 42 as never }, { whole: true }, { upsert: true });
    expect(res.upsertedId).toBe(42);
    expect(res.upsertedCount).toBe(1);
    expect(await one(42)).toEqual({ _id: 42, whole: true });
  });

  it('updateMany with upsert and no match inserts one document', async () => {
    const res = await coll.updateMany({ tag: 'none' }, { $set: { made: true } }, { upsert: true });
    expect(res.upsertedCount).toBe(1);
    expect(await coll.find({}, { projection: { _id: 0 } }).toArray()).toEqual([{ tag: 'none', made: true }]);
  });

  it('bulkWrite mixes inserts, updates, upserts and deletes with exact counts', async () => {
    await coll.insertMany([{ _id: 1, v: 1 }, { _id: 2, v: 2 }] as Document[]);
    const res = await coll.bulkWrite([
      { insertOne: { document: { _id: 3, v: 3 } } },
      { updateOne: { filter: { _id: 1 }, update: { $set: { v: 10 } } } },
      { updateMany: { filter: { v: { $gte: 2 } }, update: { $inc: { v: 100 } } } },
      { updateOne: { filter: { _id: 9 }, update: { $set: { v: 9 } }, upsert: true } },
      { replaceOne: { filter: { _id: 2 }, replacement: { r: true } } },
      { deleteOne: { filter: { _id: 3 } } },
    ]);
    expect(res.insertedCount).toBe(1);
    expect(res.matchedCount).toBe(5); // 1 + 3 (v 10, 2, 3) + 1
    expect(res.modifiedCount).toBe(5);
    expect(res.upsertedCount).toBe(1);
    expect(res.upsertedIds).toEqual({ 3: 9 });
    expect(res.deletedCount).toBe(1);
    expect(await coll.find().sort({ _id: 1 }).toArray()).toEqual([
      { _id: 1, v: 110 },
      { _id: 2, r: true },
      { _id: 9, v: 9 },
    ]);
  });
});
