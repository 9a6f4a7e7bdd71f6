// Write concerns on a replica set whose members cannot all acknowledge: the write is applied and the reply carries
// a writeConcernError (UnsatisfiableWriteConcern, 100, "Not enough data-bearing nodes"); w: 1, w: 'majority' and
// j keep working. The embedded engine is a one-member set; against a real replica set the numbers are taken from
// its member count.
import { MongoServerError, MongoWriteConcernError, type Document } from 'mongodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { rejection, useMongo } from '../../helpers/mongo.ts';

const m = useMongo('wconcern');

/** The reply of a command whose write concern fails: the driver raises it as a MongoWriteConcernError. */
async function replyOf(cmd: Document): Promise<Document> {
  try {
    return await m.db.command(cmd);
  } catch (err) {
    if (err instanceof MongoWriteConcernError) return err.result as Document;
    throw err;
  }
}

/** One more than the data-bearing members of the set under test. */
let tooMany = 2;
beforeAll(async () => {
  const hello = await m.db.admin().command({ hello: 1 });
  tooMany = ((hello.hosts as string[] | undefined)?.length ?? 1) + 1;
});

describe('satisfiable write concerns', () => {
  it('w: 1, w: majority and j: true acknowledge normally', async () => {
    const c = m.db.collection('ok');
    await c.insertOne({ _id: 1 } as Document, { writeConcern: { w: 1 } });
    await c.insertOne({ _id: 2 } as Document, { writeConcern: { w: 'majority', wtimeoutMS: 5000 } });
    await c.insertOne({ _id: 3 } as Document, { writeConcern: { w: 1, journal: true } });
    const res = await m.db.command({ insert: 'ok', documents: [{ _id: 4 }], writeConcern: { w: 'majority', j: true } });
    expect(res.writeConcernError).toBeUndefined();
    expect(await c.countDocuments()).toBe(4);
  });
});

describe('w above the number of members', () => {
  it('insert: the document is written, the reply carries writeConcernError code 100', async () => {
    const res = await replyOf({ insert: 'wc', documents: [{ _id: 1 }], writeConcern: { w: tooMany } });
    expect(res.ok).toBe(1);
    expect(res.n).toBe(1);
    expect(res.writeConcernError).toMatchObject({
      code: 100,
      codeName: 'UnsatisfiableWriteConcern',
      errmsg: 'Not enough data-bearing nodes',
      errInfo: { writeConcern: { w: tooMany, provenance: 'clientSupplied' } },
    });
    expect(await m.db.collection('wc').countDocuments({ _id: 1 as never })).toBe(1);
  });

  it('the driver raises MongoWriteConcernError, with the write applied', async () => {
    const c = m.db.collection('wc2');
    const err = await rejection<MongoWriteConcernError>(() => c.insertOne({ _id: 1 } as Document, { writeConcern: { w: tooMany } }));
    expect(err).toBeInstanceOf(MongoWriteConcernError);
    expect(err.code).toBe(100);
    expect(await c.countDocuments()).toBe(1);
  });

  it('update, delete, findAndModify and createIndexes report it too', async () => {
    await m.db.collection('wc3').insertMany([{ _id: 1, v: 0 }, { _id: 2 }] as Document[]);
    const wc = { w: tooMany };
    const upd = await replyOf({ update: 'wc3', updates: [{ q: { _id: 1 }, u: { $set: { v: 1 } } }], writeConcern: wc });
    expect(upd).toMatchObject({ ok: 1, n: 1, nModified: 1, writeConcernError: { code: 100 } });
    const fam = await replyOf({ findAndModify: 'wc3', query: { _id: 1 }, update: { $inc: { v: 1 } }, new: true, writeConcern: wc });
    expect(fam).toMatchObject({ ok: 1, value: { _id: 1, v: 2 }, writeConcernError: { code: 100 } });
    const del = await replyOf({ delete: 'wc3', deletes: [{ q: { _id: 2 }, limit: 1 }], writeConcern: wc });
    expect(del).toMatchObject({ ok: 1, n: 1, writeConcernError: { code: 100 } });
    const idx = await replyOf({ createIndexes: 'wc3', indexes: [{ key: { v: 1 }, name: 'v_1' }], writeConcern: wc });
    expect(idx).toMatchObject({ ok: 1, writeConcernError: { code: 100 } });
  });

  it('an unknown tag mode answers UnknownReplWriteConcern (79) as a writeConcernError', async () => {
    const res = await replyOf({ insert: 'wc4', documents: [{ _id: 1 }], writeConcern: { w: 'noSuchMode' } });
    expect(res.n).toBe(1);
    expect(res.writeConcernError).toMatchObject({ code: 79, codeName: 'UnknownReplWriteConcern' });
  });

  it('w above 50 or negative is refused before anything is written (FailedToParse)', async () => {
    const err = await rejection<MongoServerError>(() => m.db.command({ insert: 'wc5', documents: [{ _id: 1 }], writeConcern: { w: 51 } }));
    expect(err.code).toBe(9);
    expect(await m.db.collection('wc5').countDocuments()).toBe(0);
  });
});
