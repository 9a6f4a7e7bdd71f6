// findAndModify through findOneAndUpdate / findOneAndReplace / findOneAndDelete: new, upsert, remove, sort, fields.
import { ObjectId, type Collection, type Document } from 'mongodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { rejection, useMongo } from '../helpers/mongo.ts';

const m = useMongo('fam');

let seq = 0;
let coll: Collection<Document>;
beforeEach(async () => {
  coll = m.db.collection(`fam${++seq}`);
  await coll.insertMany([
    { _id: 1, q: 'job', pri: 2, state: 'new', payload: 'a' },
    { _id: 2, q: 'job', pri: 9, state: 'new', payload: 'b' },
    { _id: 3, q: 'job', pri: 5, state: 'new', payload: 'c' },
    { _id: 4, q: 'other', pri: 7, state: 'new', payload: 'd' },
  ] as Document[]);
});

describe('findOneAndUpdate', () => {
  it('returns the document before the update by default', async () => {
    const before = await coll.findOneAndUpdate({ _id: 1 as never }, { $set: { state: 'taken' } });
    expect(before).toEqual({ _id: 1, q: 'job', pri: 2, state: 'new', payload: 'a' });
    expect((await coll.findOne({ _id: 1 as never }))!.state).toBe('taken');
  });

  it("returns the updated document with returnDocument 'after' (new: true)", async () => {
    const after = await coll.findOneAndUpdate({ _id: 1 as never }, { $set: { state: 'taken' }, $inc: { pri: 1 } }, { returnDocument: 'after' });
    expect(after).toEqual({ _id: 1, q: 'job', pri: 3, state: 'taken', payload: 'a' });
  });

  it('picks the first document in sort order', async () => {
    const top = await coll.findOneAndUpdate({ q: 'job', state: 'new' }, { $set: { state: 'taken' } }, { sort: { pri: -1 }, returnDocument: 'after' });
    expect(top).toMatchObject({ _id: 2, state: 'taken' });
    const next = await coll.findOneAndUpdate({ q: 'job', state: 'new' }, { $set: { state: 'taken' } }, { sort: { pri: -1 }, returnDocument: 'after' });
    expect(next).toMatchObject({ _id: 3, state: 'taken' });
    const lowest = await coll.findOneAndUpdate({ q: 'job' }, { $set: { seen: true } }, { sort: { pri: 1 } });
    expect(lowest!._id).toBe(1);
  });

  it('projects the returned document with fields (projection)', async () => {
    const doc = await coll.findOneAndUpdate({ _id: 3 as never }, { $set: { state: 'x' } }, { projection: { state: 1, _id: 0 }, returnDocument: 'after' });
    expect(doc).toEqual({ state: 'x' });
    const excl = await coll.findOneAndUpdate({ _id: 3 as never }, { $set: { state: 'y' } }, { projection: { payload: 0, q: 0 } });
    expect(excl).toEqual({ _id: 3, pri: 5, state: 'x' });
  });

  it('returns null and changes nothing when nothing matches', async () => {
    expect(await coll.findOneAndUpdate({ _id: 99 as never }, { $set: { a: 1 } })).toBeNull();
    expect(await coll.countDocuments()).toBe(4);
  });

  it('upserts with new: the inserted document comes back, built from the query, $set and $setOnInsert', async () => {
    const doc = await coll.findOneAndUpdate(
      { q: 'fresh', pri: 1 },
      { $set: { state: 'new' }, $setOnInsert: { created: 'now' } },
      { upsert: true, returnDocument: 'after' },
    );
    expect(doc!._id).toBeInstanceOf(ObjectId);
    expect(doc).toEqual({ _id: doc!._id, q: 'fresh', pri: 1, state: 'new', created: 'now' });
    expect(await coll.countDocuments({ q: 'fresh' })).toBe(1);
  });

  it('upserts without new: null comes back, but the document is inserted', async () => {
    const doc = await coll.findOneAndUpdate({ _id: 50 as never }, { $set: { v: 1 } }, { upsert: true });
    expect(doc).toBeNull();
    expect(await coll.findOne({ _id: 50 as never })).toEqual({ _id: 50, v: 1 });
  });

  it('reports lastErrorObject with includeResultMetadata', async () => {
    const updated = await coll.findOneAndUpdate({ _id: 1 as never }, { $set: { a: 1 } }, { includeResultMetadata: true });
    expect(updated.ok).toBe(1);
    expect(updated.lastErrorObject).toEqual({ n: 1, updatedExisting: true });
    expect(updated.value).toMatchObject({ _id: 1 });
    const upserted = await coll.findOneAndUpdate({ _id: 77 as never }, { $set: { a: 1 } }, { upsert: true, includeResultMetadata: true });
    expect(upserted.lastErrorObject).toEqual({ n: 1, updatedExisting: false, upserted: 77 });
    expect(upserted.value).toBeNull();
    const missed = await coll.findOneAndUpdate({ _id: 78 as never }, { $set: { a: 1 } }, { includeResultMetadata: true });
    expect(missed.lastErrorObject).toEqual({ n: 0, updatedExisting: false });
    expect(missed.value).toBeNull();
  });

  it('applies arrayFilters', async () => {
    await coll.insertOne({ _id: 10, arr: [1, 5, 9] } as Document);
    const doc = await coll.findOneAndUpdate(
      { _id: 10 as never },
      { $set: { 'arr.$[e]': 0 } },
      { arrayFilters: [{ e: { $gt: 4 } }], returnDocument: 'after' },
    );
    expect(doc).toEqual({ _id: 10, arr: [1, 0, 0] });
  });
});

describe('findOneAndReplace', () => {
  it('replaces the whole document, returning the new one with returnDocument after', async () => {
    const doc = await coll.findOneAndReplace({ _id: 4 as never }, { replaced: true }, { returnDocument: 'after' });
    expect(doc).toEqual({ _id: 4, replaced: true });
    expect(await coll.findOne({ _id: 4 as never })).toEqual({ _id: 4, replaced: true });
  });

  it('returns the old document by default, and upserts a replacement', async () => {
    const old = await coll.findOneAndReplace({ _id: 4 as never }, { r: 1 });
    expect(old).toEqual({ _id: 4, q: 'other', pri: 7, state: 'new', payload: 'd' });
    const inserted = await coll.findOneAndReplace({ _id: 60 as never }, { r: 2 }, { upsert: true, returnDocument: 'after' });
    expect(inserted).toEqual({ _id: 60, r: 2 });
  });
});

describe('findOneAndDelete (remove: true)', () => {
  it('removes and returns the first document in sort order', async () => {
    const gone = await coll.findOneAndDelete({ q: 'job' }, { sort: { pri: 1 } });
    expect(gone).toEqual({ _id: 1, q: 'job', pri: 2, state: 'new', payload: 'a' });
    expect(await coll.countDocuments()).toBe(3);
    expect(await coll.findOne({ _id: 1 as never })).toBeNull();
  });

  it('projects the removed document and returns null when nothing matches', async () => {
    const gone = await coll.findOneAndDelete({ _id: 2 as never }, { projection: { payload: 1 } });
    expect(gone).toEqual({ _id: 2, payload: 'b' });
    expect(await coll.findOneAndDelete({ _id: 2 as never })).toBeNull();
    const meta = await coll.findOneAndDelete({ _id: 3 as never }, { includeResultMetadata: true });
    expect(meta.lastErrorObject).toEqual({ n: 1 });
  });
});

describe('the raw findAndModify command', () => {
  it('answers with value and lastErrorObject for update, new, upsert and remove', async () => {
    const upd = await m.db.command({ findAndModify: coll.collectionName, query: { _id: 1 }, update: { $set: { v: 1 } }, new: true, fields: { v: 1 } });
    expect(upd.ok).toBe(1);
    expect(upd.value).toEqual({ _id: 1, v: 1 });
    expect(upd.lastErrorObject).toEqual({ n: 1, updatedExisting: true });
    const rem = await m.db.command({ findAndModify: coll.collectionName, query: { q: 'job' }, sort: { pri: -1 }, remove: true });
    expect(rem.value).toMatchObject({ _id: 2 });
    expect(rem.lastErrorObject).toEqual({ n: 1 });
  });

  it('refuses both remove and update', async () => {
    const err = await rejection(() => m.db.command({ findAndModify: coll.collectionName, query: {}, remove: true, update: { $set: { a: 1 } } }));
    expect(err.code).toBe(9);
    expect(err.codeName).toBe('FailedToParse');
  });
});
