// A document whose _id is null: inserted (by a raw insert or an upsert: the driver replaces a null _id of
// insertOne by an ObjectId), found by {_id: null}, counted, updated, deleted; a second one is a duplicate key.
import { ObjectId, type Collection, type Document } from 'mongodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { useMongo } from '../../helpers/mongo.ts';

const m = useMongo('nullid');

let seq = 0;
let coll: Collection<Document>;
beforeEach(async () => {
  coll = m.db.collection(`n${++seq}`);
  const res = await m.db.command({ insert: coll.collectionName, documents: [{ _id: null, v: 1 }, { _id: 1, v: 2 }] });
  expect(res.n).toBe(2);
});

describe('_id: null', () => {
  it('is stored as null and found by {_id: null}', async () => {
    expect(await coll.find({ _id: null } as Document).toArray()).toEqual([{ _id: null, v: 1 }]);
    expect(await coll.findOne({ _id: { $type: 'null' } } as Document)).toEqual({ _id: null, v: 1 });
    expect(await coll.countDocuments({ _id: null } as Document)).toBe(1);
    expect(await coll.countDocuments()).toBe(2);
    expect(await coll.countDocuments({ _id: { $exists: true } })).toBe(2);
  });

  it('a second document with _id null is a duplicate key (11000)', async () => {
    const res = await m.db.command({ insert: coll.collectionName, documents: [{ _id: null, v: 3 }] });
    expect(res.n).toBe(0);
    expect(res.writeErrors[0].code).toBe(11000);
    expect(res.writeErrors[0].errmsg).toContain('dup key: { _id: null }');
  });

  it('is updated and deleted by {_id: null}', async () => {
    expect(await coll.updateOne({ _id: null } as Document, { $set: { v: 10 } })).toMatchObject({ matchedCount: 1, modifiedCount: 1 });
    expect(await coll.findOneAndUpdate({ _id: null } as Document, { $inc: { v: 1 } }, { returnDocument: 'after' })).toEqual({ _id: null, v: 11 });
    expect((await coll.deleteOne({ _id: null } as Document)).deletedCount).toBe(1);
    expect(await coll.find().toArray()).toEqual([{ _id: 1, v: 2 }]);
  });

  it('an upsert on {_id: null} inserts a document with _id null', async () => {
    await coll.deleteOne({ _id: null } as Document);
    const res = await coll.updateOne({ _id: null } as Document, { $set: { v: 5 } }, { upsert: true });
    expect(res.upsertedCount).toBe(1);
    expect(res.upsertedId).toBeNull();
    expect(await coll.findOne({ _id: null } as Document)).toEqual({ _id: null, v: 5 });
  });

  it('insertOne({_id: null}) gets an ObjectId from the driver', async () => {
    const res = await coll.insertOne({ _id: null, v: 9 } as Document);
    expect(res.insertedId).toBeInstanceOf(ObjectId);
    expect(await coll.countDocuments({ _id: null } as Document)).toBe(1);
  });
});
