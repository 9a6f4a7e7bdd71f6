// Pipeline-style updates (an array as the update): $set/$addFields, $unset/$project, $replaceRoot/$replaceWith
// in updateOne/updateMany (with upsert), findOneAndUpdate and bulkWrite; aggregation expressions evaluated per
// document; every other stage refused with InvalidOptions (72); exact numeric types of untouched fields kept.
import { Decimal128, Double, Int32, Long, MongoServerError, ObjectId, type Collection, type Document } from 'mongodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { rejection, useMongo } from '../../helpers/mongo.ts';

const m = useMongo('pipeupd');

let seq = 0;
let coll: Collection<Document>;
beforeEach(async () => {
  coll = m.db.collection(`pu${++seq}`);
  await coll.insertMany([
    { _id: 1, first: 'Ada', last: 'Lovelace', qty: new Int32(2), price: Decimal128.fromString('19.99'), n: { a: 1, b: Long.fromString('9007199254740993') } },
    { _id: 2, first: 'Alan', last: 'Turing', qty: new Int32(5), price: Decimal128.fromString('0.10'), n: { a: 2, b: Long.fromNumber(3) } },
  ] as Document[]);
});

const raw = (id: number) => coll.findOne({ _id: id as never }, { promoteValues: false });

describe('updateOne / updateMany with a pipeline', () => {
  it('$set evaluates $concat, $add, field paths and $$NOW per document', async () => {
    const before = Date.now();
    const res = await coll.updateMany({}, [
      { $set: { name: { $concat: ['$first', ' ', '$last'] }, qty2: { $add: ['$qty', 1] }, at: '$$NOW' } },
    ]);
    expect(res).toMatchObject({ matchedCount: 2, modifiedCount: 2 });
    const ada = await coll.findOne({ _id: 1 as never });
    expect(ada).toMatchObject({ name: 'Ada Lovelace', qty2: 3 });
    expect(ada!.at).toBeInstanceOf(Date);
    expect((ada!.at as Date).getTime()).toBeGreaterThanOrEqual(before - 1000);
    // $$NOW is one value for the whole statement.
    const alan = await coll.findOne({ _id: 2 as never });
    expect((alan!.at as Date).getTime()).toBe((ada!.at as Date).getTime());
  });

  it('$$ROOT is the document as the stage receives it; $$CLUSTER_TIME a timestamp', async () => {
    await coll.updateOne({ _id: 2 as never }, [{ $set: { orig: '$$ROOT', ct: '$$CLUSTER_TIME' } }]);
    const doc = await raw(2);
    expect(doc!.orig._id).toEqual(new Int32(2));
    expect(doc!.orig.first).toBe('Alan');
    expect(doc!.orig.orig).toBeUndefined();
    expect(doc!.orig.price).toBeInstanceOf(Decimal128);
    expect(doc!.ct._bsontype).toBe('Timestamp');
  });

  it('keeps the exact numeric types of fields the pipeline does not touch (Decimal128 money, Int32, Long)', async () => {
    await coll.updateOne({ _id: 1 as never }, [{ $set: { note: 'checked' } }, { $unset: 'first' }]);
    const doc = await raw(1);
    expect(doc!.price).toBeInstanceOf(Decimal128);
    expect((doc!.price as Decimal128).toString()).toBe('19.99');
    expect(doc!.qty).toBeInstanceOf(Int32);
    expect(doc!.n.b).toBeInstanceOf(Long);
    expect((doc!.n.b as Long).toString()).toBe('9007199254740993');
    expect(doc!.first).toBeUndefined();
    expect(doc!.note).toBe('checked');
  });

  it('numeric constants set by $set keep their BSON type', async () => {
    await coll.updateOne({ _id: 2 as never }, [{ $set: { fee: Decimal128.fromString('1.50'), ratio: new Double(2) } }]);
    const doc = await raw(2);
    expect(doc!.fee).toBeInstanceOf(Decimal128);
    expect((doc!.fee as Decimal128).toString()).toBe('1.50');
    expect(doc!.ratio).toBeInstanceOf(Double);
  });

  it('$replaceWith and $replaceRoot replace the document but keep its _id; moved numbers keep their type', async () => {
    await coll.updateOne({ _id: 1 as never }, [{ $replaceWith: '$n' }]);
    const doc = await raw(1);
    expect(Object.keys(doc!)).toEqual(['_id', 'a', 'b']);
    expect(doc!.b).toBeInstanceOf(Long);
    expect((doc!.b as Long).toString()).toBe('9007199254740993');
    await coll.updateOne({ _id: 2 as never }, [{ $replaceRoot: { newRoot: { $mergeObjects: [{ kept: '$last' }, '$n'] } } }]);
    expect(await coll.findOne({ _id: 2 as never })).toEqual({ _id: 2, kept: 'Turing', a: 2, b: 3 });
  });

  it('$project and $unset remove fields; $addFields is $set', async () => {
    await coll.updateOne({ _id: 1 as never }, [{ $project: { first: 1, price: 1 } }, { $addFields: { tag: 'x' } }]);
    const doc = await raw(1);
    expect(Object.keys(doc!).sort()).toEqual(['_id', 'first', 'price', 'tag']);
    expect(doc!.price).toBeInstanceOf(Decimal128);
    await coll.updateOne({ _id: 2 as never }, [{ $unset: ['first', 'n.b'] }]);
    expect(await coll.findOne({ _id: 2 as never })).toEqual({ _id: 2, last: 'Turing', qty: 5, price: Decimal128.fromString('0.10'), n: { a: 2 } });
  });

  it('an update that changes nothing counts as matched, not modified; an empty pipeline is a no-op', async () => {
    const same = await coll.updateOne({ _id: 1 as never }, [{ $set: { first: 'Ada' } }]);
    expect(same).toMatchObject({ matchedCount: 1, modifiedCount: 0 });
    // The driver refuses an empty pipeline itself; the server takes it as a no-op.
    const empty = await m.db.command({ update: coll.collectionName, updates: [{ q: { _id: 1 }, u: [] }] });
    expect(empty).toMatchObject({ ok: 1, n: 1, nModified: 0 });
  });

  it('changing _id in a pipeline fails with ImmutableField (66)', async () => {
    const err = await rejection<MongoServerError>(() => coll.updateOne({ _id: 1 as never }, [{ $set: { _id: 99 } }]));
    expect(err.code).toBe(66);
    expect(await coll.countDocuments({ _id: 1 as never })).toBe(1);
  });

  it('upserts: the document is built from the query equalities, then the pipeline runs on it', async () => {
    const res = await coll.updateOne({ _id: 7 as never, kind: 'new' }, [{ $set: { label: { $concat: ['$kind', '-item'] } } }], { upsert: true });
    expect(res.upsertedId).toBe(7);
    expect(await coll.findOne({ _id: 7 as never })).toEqual({ _id: 7, kind: 'new', label: 'new-item' });
    const gen = await coll.updateOne({ kind: 'gen' }, [{ $set: { v: 1 } }], { upsert: true });
    expect(gen.upsertedId).toBeInstanceOf(ObjectId);
    expect(await coll.findOne({ _id: gen.upsertedId as never })).toEqual({ _id: gen.upsertedId, kind: 'gen', v: 1 });
  });

  it('allows a top-level $-prefixed field created with $setField', async () => {
    await coll.updateOne({ _id: 1 as never }, [{ $replaceWith: { $setField: { field: { $literal: '$price' }, input: '$$ROOT', value: 'shown' } } }]);
    const doc = await coll.findOne({ _id: 1 as never });
    expect(doc!.$price).toBe('shown');
  });
});

describe('findOneAndUpdate with a pipeline', () => {
  it("returns the document after the update with returnDocument 'after', before it by default", async () => {
    const after = await coll.findOneAndUpdate({ _id: 1 as never }, [{ $set: { total: { $multiply: ['$qty', 10] } } }], { returnDocument: 'after' });
    expect(after).toMatchObject({ _id: 1, qty: 2, total: 20 });
    const before = await coll.findOneAndUpdate({ _id: 1 as never }, [{ $set: { total: 0 } }]);
    expect(before).toMatchObject({ _id: 1, total: 20 });
  });

  it('upserts with a pipeline and returns the new document', async () => {
    const doc = await coll.findOneAndUpdate({ _id: 50 as never }, [{ $set: { made: true, copy: '$_id' } }], { upsert: true, returnDocument: 'after' });
    expect(doc).toEqual({ _id: 50, made: true, copy: 50 });
  });
});

describe('bulkWrite with pipelines', () => {
  it('applies pipeline updates among other operations', async () => {
    const res = await coll.bulkWrite([
      { updateOne: { filter: { _id: 1 as never }, update: [{ $set: { seen: true } }] } },
      { updateMany: { filter: {}, update: [{ $set: { batch: 'b1' } }] } },
      { updateOne: { filter: { _id: 9 as never }, update: [{ $set: { fresh: 1 } }], upsert: true } },
    ]);
    expect(res.matchedCount).toBe(3);
    expect(res.upsertedCount).toBe(1);
    expect(await coll.countDocuments({ batch: 'b1' })).toBe(2);
    expect(await coll.findOne({ _id: 1 as never })).toMatchObject({ seen: true, batch: 'b1' });
    expect(await coll.findOne({ _id: 9 as never })).toEqual({ _id: 9, fresh: 1 });
  });
});

describe('stages an update pipeline refuses', () => {
  for (const stage of [
    { $match: { x: 1 } },
    { $group: { _id: '$x' } },
    { $sort: { x: 1 } },
    { $limit: 1 },
    { $lookup: { from: 'other', localField: 'x', foreignField: 'x', as: 'r' } },
    { $facet: { a: [{ $count: 'n' }] } },
    { $out: 'other' },
  ]) {
    const name = Object.keys(stage)[0];
    it(`${name} answers InvalidOptions (72) "${name} is not allowed to be used within an update"`, async () => {
      // A write error: code and message, no codeName.
      const err = await rejection<MongoServerError>(() => coll.updateOne({ _id: 1 as never }, [stage]));
      expect(err.code).toBe(72);
      expect(err.message).toBe(`${name} is not allowed to be used within an update`);
    });
  }

  it('an unknown stage answers 40324', async () => {
    const err = await rejection<MongoServerError>(() => coll.updateOne({ _id: 1 as never }, [{ $noSuchStage: {} }]));
    expect(err.code).toBe(40324);
  });

  it('findOneAndUpdate refuses them as a command error', async () => {
    const err = await rejection<MongoServerError>(() => coll.findOneAndUpdate({ _id: 1 as never }, [{ $match: { a: 1 } }]));
    expect(err.code).toBe(72);
    expect(err.codeName).toBe('InvalidOptions');
    expect(err.message).toBe('$match is not allowed to be used within an update');
  });
});
