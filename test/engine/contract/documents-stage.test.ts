// Database-level aggregation ({aggregate: 1}, db.aggregate()) with a leading $documents stage.
import { Decimal128, MongoServerError, type Document } from 'mongodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { rejection, useMongo } from '../../helpers/mongo.ts';

const m = useMongo('documents');

beforeAll(async () => {
  await m.db.collection('rates').insertMany([
    { _id: 'EUR', rate: 1.1 },
    { _id: 'CNY', rate: 0.14 },
  ] as Document[]);
});

describe('$documents', () => {
  it('db.aggregate runs the rest of the pipeline over the listed documents', async () => {
    const out = await m.db
      .aggregate([
        { $documents: [{ x: 1, cur: 'EUR' }, { x: 2, cur: 'CNY' }, { x: 3, cur: 'EUR' }] },
        { $match: { cur: 'EUR' } },
        { $group: { _id: '$cur', total: { $sum: '$x' } } },
      ])
      .toArray();
    expect(out).toEqual([{ _id: 'EUR', total: 4 }]);
  });

  it('keeps exact values and can $lookup collections of the database', async () => {
    const out = await m.db
      .aggregate([
        { $documents: [{ amount: Decimal128.fromString('10.05'), cur: 'EUR' }] },
        { $lookup: { from: 'rates', localField: 'cur', foreignField: '_id', as: 'r' } },
        { $project: { _id: 0, amount: 1, rate: { $first: '$r.rate' } } },
      ])
      .toArray();
    expect(out).toEqual([{ amount: Decimal128.fromString('10.05'), rate: 1.1 }]);
  });

  it('takes an expression, with let variables', async () => {
    const res = await m.db.command({ aggregate: 1, pipeline: [{ $documents: { $map: { input: { $range: [0, '$$n'] }, in: { i: '$$this' } } } }], cursor: {}, let: { n: 3 } });
    expect(res.cursor.firstBatch).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }]);
    expect(res.cursor.ns).toBe(`${m.dbName}.$cmd.aggregate`);
  });

  it('hands out large results in batches (getMore on <db>.$cmd.aggregate)', async () => {
    const docs = Array.from({ length: 250 }, (_, i) => ({ i }));
    const out = await m.db.aggregate([{ $documents: docs }], { batchSize: 100 }).toArray();
    expect(out).toHaveLength(250);
    expect(out[249]).toEqual({ i: 249 });
  });

  it('{aggregate: 1} with a stage that needs a collection answers InvalidNamespace (73)', async () => {
    const err = await rejection<MongoServerError>(() => m.db.command({ aggregate: 1, pipeline: [{ $match: {} }], cursor: {} }));
    expect(err.code).toBe(73);
    expect(err.codeName).toBe('InvalidNamespace');
  });
});
