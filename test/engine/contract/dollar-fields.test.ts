// $-prefixed field names (MongoDB 5.0+): allowed in inserted documents at any level, in nested paths of update
// operators and upserts, and at the top level through pipeline updates; refused (DollarPrefixedFieldName, 52) as
// top-level fields of update operators and of replacements.
import { MongoServerError, type Collection, type Document } from 'mongodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { rejection, useMongo } from '../../helpers/mongo.ts';

const m = useMongo('dollars');

let seq = 0;
let coll: Collection<Document>;
beforeEach(async () => {
  coll = m.db.collection(`d${++seq}`);
});

describe('inserts', () => {
  it('keeps $-prefixed names in nested documents and at the top level', async () => {
    await m.db.command({ insert: coll.collectionName, documents: [{ _id: 1, price: { $numberish: 5, currency: 'EUR' }, $top: 'yes' }] });
    expect(await coll.findOne({ _id: 1 as never })).toEqual({ _id: 1, price: { $numberish: 5, currency: 'EUR' }, $top: 'yes' });
  });

  it('finds them by $eq with a document holding $-prefixed keys', async () => {
    await m.db.command({ insert: coll.collectionName, documents: [{ _id: 1, a: { $type: 'special' } }, { _id: 2, a: { $type: 'other' } }] });
    expect(await coll.find({ a: { $eq: { $type: 'special' } } } as Document).toArray()).toEqual([{ _id: 1, a: { $type: 'special' } }]);
  });
});

describe('update operators', () => {
  it('$set and $inc on nested $-prefixed paths work', async () => {
    await coll.insertOne({ _id: 1, a: { $count: 5 } } as Document);
    await coll.updateOne({ _id: 1 as never }, { $set: { 'a.$x': 99 }, $inc: { 'a.$count': 1 } });
    expect(await coll.findOne({ _id: 1 as never })).toEqual({ _id: 1, a: { $count: 6, $x: 99 } });
  });

  it('an upsert with $set of a nested $-prefixed path inserts it', async () => {
    await coll.updateOne({ _id: 2 as never }, { $set: { 'meta.$kind': 'auto' } }, { upsert: true });
    expect(await coll.findOne({ _id: 2 as never })).toEqual({ _id: 2, meta: { $kind: 'auto' } });
  });

  it('$set of a document value with $-prefixed fields keeps them', async () => {
    await coll.insertOne({ _id: 3 } as Document);
    await coll.updateOne({ _id: 3 as never }, { $set: { spec: { $a: 1, b: { $c: 2 } } } });
    expect(await coll.findOne({ _id: 3 as never })).toEqual({ _id: 3, spec: { $a: 1, b: { $c: 2 } } });
  });

  it('a top-level $-prefixed field in $set is refused with DollarPrefixedFieldName (52)', async () => {
    await coll.insertOne({ _id: 4 } as Document);
    const err = await rejection<MongoServerError>(() => coll.updateOne({ _id: 4 as never }, { $set: { $bad: 1 } } as Document));
    expect(err.code).toBe(52);
    const ups = await rejection<MongoServerError>(() => coll.updateOne({ _id: 5 as never }, { $set: { $bad: 1 } } as Document, { upsert: true }));
    expect(ups.code).toBe(52);
    expect(await coll.countDocuments({ _id: 5 as never })).toBe(0);
  });

  it('a top-level $-prefixed field in a replacement is refused with 52', async () => {
    await coll.insertOne({ _id: 6 } as Document);
    const res = await m.db.command({ update: coll.collectionName, updates: [{ q: { _id: 6 }, u: { a: 1, $b: 2 } }] });
    expect(res.writeErrors).toHaveLength(1);
    expect(res.writeErrors[0].code).toBe(52);
    expect(await coll.findOne({ _id: 6 as never })).toEqual({ _id: 6 });
  });

  it('a pipeline update may add a top-level $-prefixed field with $setField', async () => {
    await coll.insertOne({ _id: 7 } as Document);
    await coll.updateOne({ _id: 7 as never }, [{ $replaceWith: { $setField: { field: { $literal: '$meta' }, input: '$$ROOT', value: 1 } } }]);
    expect(await coll.findOne({ _id: 7 as never })).toEqual({ _id: 7, $meta: 1 });
  });
});
