// Unsupported or invalid requests answer MongoDB errors (never a silent success), and the server keeps serving.
import { Long, MongoServerError, type Document } from 'mongodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { rejection, useMongo } from '../helpers/mongo.ts';

const m = useMongo('errors');

beforeAll(async () => {
  await m.db.collection('c').insertMany([{ _id: 1, a: 1 }, { _id: 2, a: 'x' }] as Document[]);
});

describe('commands', () => {
  it('an unknown command answers CommandNotFound (59)', async () => {
    const err = await rejection<MongoServerError>(() => m.db.command({ noSuchCommand: 1 }));
    expect(err).toBeInstanceOf(MongoServerError);
    expect(err.code).toBe(59);
    expect(err.codeName).toBe('CommandNotFound');
    expect(err.message).toBe("no such command: 'noSuchCommand'");
    expect(err.errorResponse.ok).toBe(0);
  });

  it('names from the command table prototype are unknown commands too', async () => {
    for (const name of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) {
      const err = await rejection<MongoServerError>(() => m.db.command({ [name]: 1 }));
      expect({ name, code: err.code }).toEqual({ name, code: 59 });
    }
  });

  it('an unknown command on the admin database too', async () => {
    const err = await rejection<MongoServerError>(() => m.client.db('admin').command({ frobnicateServer: true }));
    expect(err.code).toBe(59);
    expect(err.message).toBe("no such command: 'frobnicateServer'");
  });

  it('an unknown field in a find command answers 40415 instead of being ignored', async () => {
    const err = await rejection<MongoServerError>(() => m.db.command({ find: 'c', filter: {}, frobnicate: true }));
    expect(err.code).toBe(40415);
    expect(err.message).toBe("BSON field 'find.frobnicate' is an unknown field.");
  });

  it('a getMore for a cursor id that never existed answers CursorNotFound (43)', async () => {
    const err = await rejection<MongoServerError>(() => m.db.command({ getMore: Long.fromString('123456789'), collection: 'c' }));
    expect(err.code).toBe(43);
    expect(err.codeName).toBe('CursorNotFound');
    expect(err.message).toBe('cursor id 123456789 not found');
  });
});

describe('query operators', () => {
  it('an unknown field operator $foo answers BadValue (2) "unknown operator: $foo"', async () => {
    const err = await rejection<MongoServerError>(() => m.db.collection('c').find({ a: { $foo: 1 } }).toArray());
    expect(err.code).toBe(2);
    expect(err.codeName).toBe('BadValue');
    expect(err.message).toBe('unknown operator: $foo');
  });

  it('an unknown top-level operator answers BadValue (2)', async () => {
    const err = await rejection<MongoServerError>(() => m.db.collection('c').find({ $foo: [{ a: 1 }] }).toArray());
    expect(err.code).toBe(2);
    expect(err.codeName).toBe('BadValue');
    expect(err.message).toContain('unknown top level operator: $foo');
  });

  it('an unknown operator fails in every command that takes a filter', async () => {
    const coll = m.db.collection('c');
    for (const run of [
      () => coll.countDocuments({ a: { $foo: 1 } }),
      () => coll.deleteMany({ a: { $foo: 1 } }),
      () => coll.updateMany({ a: { $foo: 1 } }, { $set: { b: 1 } }),
      () => coll.findOneAndUpdate({ a: { $foo: 1 } }, { $set: { b: 1 } }),
      () => coll.distinct('a', { a: { $foo: 1 } }),
      () => coll.aggregate([{ $match: { a: { $foo: 1 } } }]).toArray(),
    ]) {
      const err = await rejection<MongoServerError>(run);
      expect(err.code).toBe(2);
      expect(err.message).toBe('unknown operator: $foo');
    }
    // An error on an empty or missing collection too: the filter is parsed before anything is read.
    const empty = await rejection<MongoServerError>(() => m.db.collection('missing_coll').find({ a: { $foo: 1 } }).toArray());
    expect(empty.code).toBe(2);
    expect(await coll.countDocuments({ b: 1 })).toBe(0);
  });

  it('an invalid regular expression answers 51091', async () => {
    const err = await rejection<MongoServerError>(() => m.db.collection('c').find({ a: { $regex: '(' } }).toArray());
    expect(err.code).toBe(51091);
    expect(err.message).toContain('Regular expression is invalid');
  });
});

describe('update modifiers', () => {
  it('an unknown update modifier answers FailedToParse (9)', async () => {
    const err = await rejection<MongoServerError>(() => m.db.collection('c').updateOne({ _id: 1 as never }, { $foo: { a: 2 } } as Document));
    expect(err.code).toBe(9);
    expect(err.message).toBe('Unknown modifier: $foo. Expected a valid update modifier or pipeline-style update specified as an array');
    expect(await m.db.collection('c').findOne({ _id: 1 as never })).toEqual({ _id: 1, a: 1 });
  });

  it('an unknown modifier in findOneAndUpdate answers FailedToParse (9) as a command error', async () => {
    const err = await rejection<MongoServerError>(() => m.db.collection('c').findOneAndUpdate({ _id: 1 as never }, { $foo: { a: 2 } } as Document));
    expect(err.code).toBe(9);
    expect(err.codeName).toBe('FailedToParse');
    expect(err.message).toBe('Unknown modifier: $foo. Expected a valid update modifier or pipeline-style update specified as an array');
  });

  it('$inc with a non-numeric argument answers TypeMismatch (14)', async () => {
    const err = await rejection<MongoServerError>(() => m.db.collection('c').updateOne({ _id: 1 as never }, { $inc: { a: 'x' } } as Document));
    expect(err.code).toBe(14);
    expect(err.message).toBe('Cannot increment with non-numeric argument: {a: "x"}');
  });

  it('a modifier whose argument is not an object answers FailedToParse (9)', async () => {
    const err = await rejection<MongoServerError>(() => m.db.collection('c').updateOne({ _id: 1 as never }, { $set: 5 } as unknown as Document));
    expect(err.code).toBe(9);
    expect(err.message).toBe('Modifiers operate on fields but we found type int instead. For example: {$mod: {<field>: ...}} not {$set: 5}');
  });

  it('an update that names a path twice answers ConflictingUpdateOperators (40)', async () => {
    const err = await rejection<MongoServerError>(() => m.db.collection('c').updateOne({ _id: 1 as never }, { $set: { a: 1 }, $inc: { a: 1 } }));
    expect(err.code).toBe(40);
    expect(err.message).toBe("Updating the path 'a' would create a conflict at 'a'");
  });
});

describe('aggregation', () => {
  it('an unsupported stage answers 40324', async () => {
    const err = await rejection<MongoServerError>(() => m.db.collection('c').aggregate([{ $noSuchStage: {} }]).toArray());
    expect(err.code).toBe(40324);
    expect(err.message).toBe("Unrecognized pipeline stage name: '$noSuchStage'");
  });

  it('aggregate without a cursor option answers FailedToParse (9)', async () => {
    const err = await rejection<MongoServerError>(() => m.db.command({ aggregate: 'c', pipeline: [] }));
    expect(err.code).toBe(9);
    expect(err.message).toBe("The 'cursor' option is required, except for aggregate with the explain argument");
  });
});

describe('the server keeps serving after errors', () => {
  it('answers normally on the same connection pool after a burst of failures', async () => {
    const failures = await Promise.all(
      Array.from({ length: 20 }, (_, i) => rejection<MongoServerError>(() => m.db.command({ [`unknownCommand${i}`]: 1 }))),
    );
    expect(new Set(failures.map((f) => f.code))).toEqual(new Set([59]));
    expect(await m.db.command({ ping: 1 })).toMatchObject({ ok: 1 });
    expect(await m.db.collection('c').countDocuments()).toBe(2);
  });
});
