// Index hints: by name or key pattern, $natural, refused with BadValue (2) when no such (visible) index exists.
import { MongoServerError, type Collection, type Document } from 'mongodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { rejection, useMongo } from '../../helpers/mongo.ts';

const m = useMongo('hints');
const NO_INDEX = 'hint provided does not correspond to an existing index';

let coll: Collection<Document>;
beforeAll(async () => {
  coll = m.db.collection('h');
  await coll.insertMany([
    { _id: 1, a: 10, s: 'x' },
    { _id: 2, a: 20 },
    { _id: 3, a: 30, s: 'y' },
  ] as Document[]);
  await coll.createIndex({ a: 1 }, { name: 'a_idx' });
  await coll.createIndex({ s: 1 }, { name: 's_sparse', sparse: true });
});

const expectNoIndex = (err: MongoServerError) => {
  expect(err.code).toBe(2);
  expect(err.message).toContain(NO_INDEX);
};

describe('find', () => {
  it('takes a hint by index name or key pattern', async () => {
    expect(await coll.find({ a: 20 }).hint('a_idx').toArray()).toEqual([{ _id: 2, a: 20 }]);
    expect(await coll.find({ a: { $gte: 20 } }).hint({ a: 1 }).sort({ _id: 1 }).toArray()).toHaveLength(2);
    expect(await coll.find({ _id: 1 as never }).hint('_id_').toArray()).toHaveLength(1);
  });

  it('takes $natural hints', async () => {
    expect(await coll.find({}).hint({ $natural: 1 }).toArray()).toHaveLength(3);
    expect(await coll.find({}).hint({ $natural: -1 }).toArray()).toHaveLength(3);
  });

  it('refuses a hint naming no index, by name or by key pattern, with BadValue (2)', async () => {
    const err = await rejection<MongoServerError>(() => coll.find({ a: 1 }).hint('nope_1').toArray());
    expectNoIndex(err);
    expect(err.codeName).toBe('BadValue');
    expectNoIndex(await rejection<MongoServerError>(() => coll.find({}).hint({ b: 1 }).toArray()));
    // Same fields, other direction: another key pattern.
    expectNoIndex(await rejection<MongoServerError>(() => coll.find({}).hint({ a: -1 }).toArray()));
  });

  it('accepts any hint on a collection that does not exist', async () => {
    expect(await m.db.collection('missing').find({}).hint('whatever').toArray()).toEqual([]);
  });

  it('a hinted sparse index only yields the documents it holds', async () => {
    const docs = await coll.find({}).hint('s_sparse').toArray();
    expect(docs.map((d) => d._id).sort()).toEqual([1, 3]);
  });
});

describe('count and aggregate', () => {
  it('count takes a hint; a sparse one counts only the documents it holds', async () => {
    expect((await m.db.command({ count: 'h', query: { a: { $gt: 0 } }, hint: 'a_idx' })).n).toBe(3);
    expect((await m.db.command({ count: 'h', query: {}, hint: { s: 1 } })).n).toBe(2);
    expectNoIndex(await rejection<MongoServerError>(() => m.db.command({ count: 'h', query: {}, hint: 'nope' })));
  });

  it('aggregate takes a hint and refuses an unknown one', async () => {
    expect(await coll.aggregate([{ $match: { a: 30 } }], { hint: 'a_idx' }).toArray()).toEqual([{ _id: 3, a: 30, s: 'y' }]);
    expectNoIndex(await rejection<MongoServerError>(() => coll.aggregate([], { hint: { zz: 1 } }).toArray()));
  });

  it('countDocuments passes its hint down (as an aggregate)', async () => {
    expect(await coll.countDocuments({ a: { $gte: 20 } }, { hint: 'a_idx' })).toBe(2);
    expectNoIndex(await rejection<MongoServerError>(() => coll.countDocuments({}, { hint: 'nope' })));
  });
});

describe('writes', () => {
  it('update statements take a hint; an unknown one is a BadValue write error', async () => {
    const c = m.db.collection('hw');
    await c.insertMany([{ _id: 1, x: 1 }, { _id: 2, x: 2 }] as Document[]);
    await c.createIndex({ x: 1 });
    expect(await c.updateOne({ x: 1 }, { $set: { y: 1 } }, { hint: { x: 1 } })).toMatchObject({ matchedCount: 1, modifiedCount: 1 });
    expect(await c.updateMany({}, { $set: { z: 1 } }, { hint: 'x_1' })).toMatchObject({ matchedCount: 2 });
    expectNoIndex(await rejection<MongoServerError>(() => c.updateOne({ x: 1 }, { $set: { y: 2 } }, { hint: { nope: 1 } })));
    expect(await c.countDocuments({ y: 2 })).toBe(0);
  });

  it('delete statements take a hint; an unknown one is a BadValue write error', async () => {
    const c = m.db.collection('hd');
    await c.insertMany([{ _id: 1, x: 1 }, { _id: 2, x: 2 }] as Document[]);
    await c.createIndex({ x: 1 });
    expectNoIndex(await rejection<MongoServerError>(() => c.deleteOne({ x: 1 }, { hint: 'nope' })));
    expect((await c.deleteOne({ x: 1 }, { hint: 'x_1' })).deletedCount).toBe(1);
  });

  it('findAndModify takes a hint; an unknown one fails the command with BadValue', async () => {
    const c = m.db.collection('hf');
    await c.insertMany([{ _id: 1, x: 1 }] as Document[]);
    await c.createIndex({ x: 1 });
    expect(await c.findOneAndUpdate({ x: 1 }, { $set: { y: 1 } }, { hint: { x: 1 }, returnDocument: 'after' })).toEqual({ _id: 1, x: 1, y: 1 });
    const err = await rejection<MongoServerError>(() => c.findOneAndUpdate({ x: 1 }, { $set: { y: 2 } }, { hint: 'nope' as never }));
    expectNoIndex(err);
    expect(err.codeName).toBe('BadValue');
  });
});

describe('distinct', () => {
  it('takes a hint from MongoDB 7.1; 7.0 refuses the field as unknown (40415)', async () => {
    const info = await m.db.admin().command({ buildInfo: 1 });
    const [major, minor] = (info.versionArray as number[]).map(Number);
    const cmd = { distinct: 'h', key: 'a', query: { a: { $gte: 20 } }, hint: 'a_idx' };
    if (major > 7 || (major === 7 && minor >= 1)) {
      expect((await m.db.command(cmd)).values).toEqual([20, 30]);
      expectNoIndex(await rejection<MongoServerError>(() => m.db.command({ ...cmd, hint: 'nope' })));
    } else {
      const err = await rejection<MongoServerError>(() => m.db.command(cmd));
      expect(err.code).toBe(40415);
      expect(err.message).toBe("BSON field 'distinct.hint' is an unknown field.");
    }
  });
});
