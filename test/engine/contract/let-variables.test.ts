// Command-level `let` variables: aggregate, find ($expr), update ($expr in q and in pipeline updates), delete and
// findAndModify. Values are constants or expressions evaluated once, may use earlier variables, never fields.
import { Decimal128, MongoServerError, type Collection, type Document } from 'mongodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { rejection, useMongo } from '../../helpers/mongo.ts';

const m = useMongo('letvars');

let coll: Collection<Document>;
beforeAll(async () => {
  coll = m.db.collection('birds');
  await coll.insertMany([
    { _id: 1, species: 'Blackbird', trend: 'no change', count: 12 },
    { _id: 2, species: 'Bullfinch', trend: 'weak increase', count: 7 },
    { _id: 3, species: 'Chaffinch', trend: 'weak decline', count: 30 },
    { _id: 4, species: 'Song Thrush', trend: 'weak decline', count: 3 },
  ] as Document[]);
});

describe('aggregate', () => {
  it('uses let variables in $match $expr and in computed fields', async () => {
    const docs = await coll
      .aggregate(
        [{ $match: { $expr: { $eq: ['$trend', '$$target'] } } }, { $project: { _id: 1, label: { $concat: ['$species', '$$suffix'] } } }, { $sort: { _id: 1 } }],
        { let: { target: 'weak decline', suffix: '!' } },
      )
      .toArray();
    expect(docs).toEqual([
      { _id: 3, label: 'Chaffinch!' },
      { _id: 4, label: 'Song Thrush!' },
    ]);
  });

  it('evaluates expressions once, and later variables may use earlier ones', async () => {
    const [doc] = await coll
      .aggregate([{ $match: { _id: 1 } }, { $project: { _id: 0, a: '$$a', b: '$$b', c: '$$c' } }], { let: { a: 2, b: { $add: ['$$a', 3] }, c: { $multiply: ['$$a', '$$b'] } } })
      .toArray();
    expect(doc).toEqual({ a: 2, b: 5, c: 10 });
  });

  it('a variable that is not defined answers 17276', async () => {
    const err = await rejection<MongoServerError>(() => coll.aggregate([{ $match: { $expr: { $eq: ['$trend', '$$nope'] } } }], { let: { other: 1 } }).toArray());
    expect(err.code).toBe(17276);
    expect(err.message).toContain('Use of undefined variable: nope');
  });

  it('refuses field references in let values (4890500) and bad names (FailedToParse, 4738901)', async () => {
    const field = await rejection<MongoServerError>(() => m.db.command({ aggregate: 'birds', pipeline: [], cursor: {}, let: { a: '$species' } }));
    expect(field.code).toBe(4890500);
    const upper = await rejection<MongoServerError>(() => m.db.command({ aggregate: 'birds', pipeline: [], cursor: {}, let: { Upper: 1 } }));
    expect(upper.code).toBe(9);
    const reserved = await rejection<MongoServerError>(() => m.db.command({ aggregate: 'birds', pipeline: [], cursor: {}, let: { NOW: 1 } }));
    expect(reserved.code).toBe(4738901);
    const root = await rejection<MongoServerError>(() => m.db.command({ aggregate: 'birds', pipeline: [], cursor: {}, let: { ROOT: 1 } }));
    expect(root.code).toBe(9);
    const notObject = await rejection<MongoServerError>(() => m.db.command({ aggregate: 'birds', pipeline: [], cursor: {}, let: 1 }));
    expect(notObject.code).toBe(14);
  });

  it('let: null is no variables', async () => {
    const res = await m.db.command({ aggregate: 'birds', pipeline: [{ $count: 'n' }], cursor: {}, let: null });
    expect(res.cursor.firstBatch).toEqual([{ n: 4 }]);
  });
});

describe('find', () => {
  it('uses let variables in $expr', async () => {
    const docs = await coll.find({ $expr: { $gt: ['$count', '$$min'] } }, { let: { min: 10 }, sort: { _id: 1 } }).toArray();
    expect(docs.map((d) => d._id)).toEqual([1, 3]);
  });

  it('inside $and / $or too', async () => {
    const docs = await coll
      .find({ $or: [{ $expr: { $eq: ['$species', '$$name'] } }, { _id: 1 }] } as Document, { let: { name: 'Song Thrush' }, sort: { _id: 1 } })
      .toArray();
    expect(docs.map((d) => d._id)).toEqual([1, 4]);
  });

  it('an undefined variable in find answers 17276', async () => {
    const err = await rejection<MongoServerError>(() => coll.find({ $expr: { $eq: ['$species', '$$oops'] } }).toArray());
    expect(err.code).toBe(17276);
  });
});

describe('writes', () => {
  it('update: variables in the $expr of q and in a pipeline update', async () => {
    const c = m.db.collection('upd');
    await c.insertMany([{ _id: 1, species: 'Chaffinch (Fringilla coelebs)' }, { _id: 2, species: 'Robin' }] as Document[]);
    const res = await c.updateOne({ $expr: { $eq: ['$species', '$$target'] } }, [{ $set: { species: '$$newName', price: '$$price' } }], {
      let: { target: 'Chaffinch (Fringilla coelebs)', newName: 'Chaffinch', price: Decimal128.fromString('4.20') },
    });
    expect(res).toMatchObject({ matchedCount: 1, modifiedCount: 1 });
    const doc = await c.findOne({ _id: 1 as never }, { promoteValues: false });
    expect(doc!.species).toBe('Chaffinch');
    // A constant keeps its BSON type.
    expect(doc!.price).toBeInstanceOf(Decimal128);
    expect((doc!.price as Decimal128).toString()).toBe('4.20');
  });

  it('update: an undefined variable answers 17276', async () => {
    const err = await rejection<MongoServerError>(() =>
      m.db.collection('upd').updateOne({ $expr: { $eq: ['$species', '$$target'] } }, [{ $set: { x: 1 } }], { let: { cat: 'x' } }),
    );
    expect(err.code).toBe(17276);
  });

  it('delete: variables in $expr', async () => {
    const c = m.db.collection('del');
    await c.insertMany([{ _id: 1, s: 'keep' }, { _id: 2, s: 'drop' }] as Document[]);
    const res = await c.deleteMany({ $expr: { $eq: ['$s', '$$victim'] } }, { let: { victim: 'drop' } });
    expect(res.deletedCount).toBe(1);
    expect(await c.find().toArray()).toEqual([{ _id: 1, s: 'keep' }]);
  });

  it('findAndModify: variables in the query and in a pipeline update', async () => {
    const c = m.db.collection('fam');
    await c.insertOne({ _id: 5, species: 'spy_bird' } as Document);
    const doc = await c.findOneAndUpdate(
      { $and: [{ _id: 5 }, { $expr: { $eq: ['$species', '$$target'] } }] } as Document,
      [{ $project: { species: '$$name' } }, { $addFields: { suspect: '$$real' } }],
      { let: { target: 'spy_bird', name: 'not_a_bird', real: 'dino' }, returnDocument: 'after' },
    );
    expect(doc).toEqual({ _id: 5, species: 'not_a_bird', suspect: 'dino' });
  });
});
