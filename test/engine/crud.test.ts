// Inserts, finds, cursors (batchSize, int64 ids, getMore, killCursors), counts, distinct and deletes.
import { Long, ObjectId, type Collection, type Document } from 'mongodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { rejection, useMongo } from '../helpers/mongo.ts';

const m = useMongo('crud');

interface Person {
  _id: number;
  name: string;
  age: number;
  city: string;
  tags: string[];
  address?: { zip: string; street: string };
}

const PEOPLE: Person[] = [
  { _id: 1, name: 'Ada', age: 36, city: 'London', tags: ['math', 'code'], address: { zip: 'N1', street: 'Main' } },
  { _id: 2, name: 'Brian', age: 52, city: 'Berlin', tags: ['code'] },
  { _id: 3, name: 'Chen', age: 28, city: 'London', tags: [], address: { zip: 'E2', street: 'High' } },
  { _id: 4, name: 'Dana', age: 41, city: 'Paris', tags: ['art', 'math'] },
  { _id: 5, name: 'Eve', age: 19, city: 'Berlin', tags: ['art'] },
];

describe('insert and find', () => {
  let people: Collection<Person>;
  beforeAll(async () => {
    people = m.db.collection<Person>('people');
    const res = await people.insertMany(PEOPLE);
    expect(res.insertedCount).toBe(5);
    expect(res.insertedIds).toEqual({ 0: 1, 1: 2, 2: 3, 3: 4, 4: 5 });
  });

  it('generates an ObjectId _id when none is given, and puts _id first', async () => {
    const coll = m.db.collection('generated');
    const res = await coll.insertOne({ a: 1 });
    expect(res.acknowledged).toBe(true);
    expect(res.insertedId).toBeInstanceOf(ObjectId);
    const raw = await m.db.command({ find: 'generated', filter: {} });
    const doc = raw.cursor.firstBatch[0];
    expect(Object.keys(doc)).toEqual(['_id', 'a']);
    expect(doc._id.equals(res.insertedId)).toBe(true);
  });

  it('moves a client-supplied _id to the front of the stored document', async () => {
    const coll = m.db.collection('idorder');
    await coll.insertOne({ a: 1, _id: 'late' as never, b: 2 });
    const raw = await m.db.command({ find: 'idorder', filter: {} });
    expect(Object.keys(raw.cursor.firstBatch[0])).toEqual(['_id', 'a', 'b']);
  });

  it('finds by equality, comparison, $in, $or, $exists, $regex, dotted paths and array fields', async () => {
    const ids = async (filter: Document) => (await people.find(filter).sort({ _id: 1 }).toArray()).map((p) => p._id);
    expect(await ids({ city: 'London' })).toEqual([1, 3]);
    expect(await ids({ age: { $gt: 30, $lte: 52 } })).toEqual([1, 2, 4]);
    expect(await ids({ city: { $in: ['Paris', 'Berlin'] } })).toEqual([2, 4, 5]);
    expect(await ids({ $or: [{ age: { $lt: 20 } }, { name: 'Ada' }] })).toEqual([1, 5]);
    expect(await ids({ address: { $exists: false } })).toEqual([2, 4, 5]);
    expect(await ids({ name: { $regex: '^[A-C]' } })).toEqual([1, 2, 3]);
    expect(await ids({ name: /e$/i })).toEqual([5]);
    expect(await ids({ 'address.zip': 'E2' })).toEqual([3]);
    expect(await ids({ tags: 'math' })).toEqual([1, 4]);
    expect(await ids({ tags: { $all: ['art', 'math'] } })).toEqual([4]);
    expect(await ids({ tags: { $size: 0 } })).toEqual([3]);
    expect(await ids({ age: { $not: { $gte: 30 } } })).toEqual([3, 5]);
    expect(await ids({ $and: [{ city: 'Berlin' }, { age: { $gte: 50 } }] })).toEqual([2]);
    expect(await ids({ $expr: { $gt: ['$age', 40] } })).toEqual([2, 4]);
    expect(await ids({ nothing: null })).toEqual([1, 2, 3, 4, 5]);
  });

  it('$ne and $nin match documents without the field; $elemMatch and dotted paths reach into arrays of documents', async () => {
    const coll = m.db.collection('semantics');
    await coll.insertMany([
      { _id: 1, a: 'x', items: [{ sku: 'p', qty: 1 }, { sku: 'q', qty: 9 }] },
      { _id: 2, a: 'y', items: [{ sku: 'p', qty: 9 }] },
      { _id: 3, items: [] },
      { _id: 4, a: null },
    ] as Document[]);
    const ids = async (filter: Document) => (await coll.find(filter).sort({ _id: 1 }).toArray()).map((d) => d._id);
    expect(await ids({ a: { $ne: 'x' } })).toEqual([2, 3, 4]);
    expect(await ids({ a: { $nin: ['x', 'y'] } })).toEqual([3, 4]);
    expect(await ids({ a: null })).toEqual([3, 4]);
    expect(await ids({ a: { $exists: true } })).toEqual([1, 2, 4]);
    expect(await ids({ a: { $type: 'null' } })).toEqual([4]);
    expect(await ids({ 'items.sku': 'p' })).toEqual([1, 2]);
    expect(await ids({ 'items.sku': 'p', 'items.qty': 9 })).toEqual([1, 2]);
    expect(await ids({ items: { $elemMatch: { sku: 'p', qty: 9 } } })).toEqual([2]);
    expect(await ids({ 'items.0.qty': 1 })).toEqual([1]);
    expect(await ids({ items: { $size: 0 } })).toEqual([3]);
  });

  it('sorts, skips, limits and projects', async () => {
    const docs = await people.find({}, { projection: { name: 1, _id: 0 } }).sort({ age: -1 }).skip(1).limit(2).toArray();
    expect(docs).toEqual([{ name: 'Dana' }, { name: 'Ada' }]);
    const twoKeys = await people.find({}).sort({ city: 1, age: -1 }).project({ city: 1, age: 1 }).toArray();
    expect(twoKeys.map((d) => d._id)).toEqual([2, 5, 1, 3, 4]);
    expect(twoKeys[0]).toEqual({ _id: 2, city: 'Berlin', age: 52 });
    const excluded = await people.findOne({ _id: 1 }, { projection: { tags: 0, address: 0 } });
    expect(excluded).toEqual({ _id: 1, name: 'Ada', age: 36, city: 'London' });
    const dotted = await people.findOne({ _id: 1 }, { projection: { 'address.zip': 1 } });
    expect(dotted).toEqual({ _id: 1, address: { zip: 'N1' } });
    const sliced = await people.findOne({ _id: 4 }, { projection: { tags: { $slice: 1 }, name: 1 } });
    expect(sliced).toEqual({ _id: 4, name: 'Dana', tags: ['art'] });
    const elem = await people.findOne({ _id: 1 }, { projection: { tags: { $elemMatch: { $eq: 'code' } } } });
    expect(elem).toEqual({ _id: 1, tags: ['code'] });
  });

  it('returns null from findOne when nothing matches, and [] from a missing collection', async () => {
    expect(await people.findOne({ name: 'Nobody' })).toBeNull();
    expect(await m.db.collection('does_not_exist').find({ a: 1 }).toArray()).toEqual([]);
  });

  it('rejects a duplicate _id with E11000 on the _id_ index', async () => {
    const err = await rejection(() => people.insertOne({ _id: 1, name: 'Again', age: 1, city: 'X', tags: [] }));
    expect(err.code).toBe(11000);
    expect(err.errmsg).toBe(`E11000 duplicate key error collection: ${m.dbName}.people index: _id_ dup key: { _id: 1 }`);
    expect(err.keyPattern).toEqual({ _id: 1 });
    expect(err.keyValue).toEqual({ _id: 1 });
    expect(await people.countDocuments({ name: 'Again' })).toBe(0);
  });
});

describe('cursors', () => {
  let coll: Collection;
  beforeAll(async () => {
    coll = m.db.collection('cursor');
    await coll.insertMany(Array.from({ length: 5 }, (_, i) => ({ _id: i + 1, v: i + 1 })) as Document[]);
  });

  it('honours batchSize: a first batch of 2, then getMore batches of 2 and 1, with int64 cursor ids', async () => {
    const session = m.client.startSession();
    try {
      const first = await m.db.command({ find: 'cursor', filter: {}, sort: { _id: 1 }, batchSize: 2 }, { session, promoteLongs: false });
      expect(first.cursor.firstBatch.map((d: Document) => d._id)).toEqual([1, 2]);
      expect(first.cursor.ns).toBe(`${m.dbName}.cursor`);
      const id: Long = first.cursor.id;
      expect(id).toBeInstanceOf(Long);
      expect(id.isZero()).toBe(false);

      const second = await m.db.command({ getMore: id, collection: 'cursor', batchSize: 2 }, { session, promoteLongs: false });
      expect(second.cursor.nextBatch.map((d: Document) => d._id)).toEqual([3, 4]);
      expect(second.cursor.id).toBeInstanceOf(Long);
      expect(second.cursor.id.equals(id)).toBe(true);

      const third = await m.db.command({ getMore: id, collection: 'cursor', batchSize: 2 }, { session, promoteLongs: false });
      expect(third.cursor.nextBatch.map((d: Document) => d._id)).toEqual([5]);
      expect(third.cursor.id).toBeInstanceOf(Long);
      expect(third.cursor.id.isZero()).toBe(true);
    } finally {
      await session.endSession();
    }
  });

  it('closes the cursor in the first batch when everything fits', async () => {
    const reply = await m.db.command({ find: 'cursor', filter: {}, batchSize: 10 }, { promoteLongs: false });
    expect(reply.cursor.firstBatch).toHaveLength(5);
    expect(reply.cursor.id.isZero()).toBe(true);
  });

  it('hands out all documents through the driver with batchSize 2', async () => {
    const cursor = coll.find({}, { batchSize: 2 }).sort({ _id: -1 });
    const seen: number[] = [];
    for await (const doc of cursor) seen.push(doc.v as number);
    expect(seen).toEqual([5, 4, 3, 2, 1]);
  });

  it('kills a cursor; a getMore on it is CursorNotFound (43)', async () => {
    const session = m.client.startSession();
    try {
      const first = await m.db.command({ find: 'cursor', filter: {}, batchSize: 2 }, { session, promoteLongs: false });
      const id: Long = first.cursor.id;
      const killed = await m.db.command({ killCursors: 'cursor', cursors: [id] }, { session, promoteLongs: false });
      expect(killed.ok).toBe(1);
      expect(killed.cursorsKilled).toHaveLength(1);
      expect(killed.cursorsKilled[0].equals(id)).toBe(true);
      expect(killed.cursorsNotFound).toEqual([]);
      expect(killed.cursorsAlive).toEqual([]);
      expect(killed.cursorsUnknown).toEqual([]);
      const err = await rejection(() => m.db.command({ getMore: id, collection: 'cursor' }, { session }));
      expect(err.code).toBe(43);
      expect(err.codeName).toBe('CursorNotFound');
      expect(err.message).toBe(`cursor id ${id.toString()} not found`);
    } finally {
      await session.endSession();
    }
  });

  it('closes a driver cursor early: the driver sends killCursors and the server kills the cursor', async () => {
    const client = await m.newClient({ monitorCommands: true });
    const replies: Document[] = [];
    client.on('commandSucceeded', (e) => {
      if (e.commandName === 'killCursors') replies.push(e.reply as Document);
    });
    const cursor = client.db(m.dbName).collection('cursor').find({}, { batchSize: 2 }).sort({ _id: 1 });
    expect(await cursor.next()).toMatchObject({ _id: 1 });
    const id = cursor.id!;
    await cursor.close();
    expect(cursor.killed).toBe(true);
    expect(replies).toHaveLength(1);
    expect(replies[0].cursorsKilled.map(String)).toEqual([id.toString()]);
    expect(replies[0].cursorsNotFound).toEqual([]);
  });

  it('honours a negative limit as a single batch and limit with batchSize', async () => {
    const single = await m.db.command({ find: 'cursor', filter: {}, sort: { _id: 1 }, limit: 3, batchSize: 2, singleBatch: true }, { promoteLongs: false });
    expect(single.cursor.firstBatch.map((d: Document) => d._id)).toEqual([1, 2]);
    expect(single.cursor.id.isZero()).toBe(true);
    const limited = await coll.find({}, { batchSize: 2, limit: 3 }).sort({ _id: 1 }).toArray();
    expect(limited.map((d) => d._id)).toEqual([1, 2, 3]);
  });
});

describe('counting and distinct', () => {
  let coll: Collection;
  beforeAll(async () => {
    coll = m.db.collection('counted');
    await coll.insertMany([
      { kind: 'a', n: 1, tags: ['x', 'y'] },
      { kind: 'b', n: 2, tags: ['y'] },
      { kind: 'a', n: 3, tags: [] },
      { kind: 'c', n: 4 },
      { kind: 'a', n: 5, tags: ['z', 'x'] },
    ]);
  });

  it('countDocuments with and without a filter, skip and limit', async () => {
    expect(await coll.countDocuments()).toBe(5);
    expect(await coll.countDocuments({ kind: 'a' })).toBe(3);
    expect(await coll.countDocuments({ n: { $gt: 1 } }, { skip: 1, limit: 2 })).toBe(2);
    expect(await m.db.collection('never_created').countDocuments()).toBe(0);
  });

  it('estimatedDocumentCount and the count command', async () => {
    expect(await coll.estimatedDocumentCount()).toBe(5);
    const reply = await m.db.command({ count: 'counted', query: { kind: 'a' } });
    expect(reply).toMatchObject({ n: 3, ok: 1 });
    const limited = await m.db.command({ count: 'counted', query: {}, skip: 1, limit: 3 });
    expect(limited.n).toBe(3);
    expect((await m.db.command({ count: 'never_created' })).n).toBe(0);
  });

  it('distinct values of a field, of array elements, with a filter', async () => {
    expect((await coll.distinct('kind')).sort()).toEqual(['a', 'b', 'c']);
    expect((await coll.distinct('tags')).sort()).toEqual(['x', 'y', 'z']);
    expect((await coll.distinct('n', { kind: 'a' })).sort()).toEqual([1, 3, 5]);
    expect(await coll.distinct('missing')).toEqual([]);
  });
});

describe('delete', () => {
  let coll: Collection;
  beforeAll(async () => {
    coll = m.db.collection('deleted');
    await coll.insertMany([
      { _id: 1, g: 'x' },
      { _id: 2, g: 'x' },
      { _id: 3, g: 'y' },
      { _id: 4, g: 'x' },
    ] as Document[]);
  });

  it('deleteOne removes exactly one matching document', async () => {
    const res = await coll.deleteOne({ g: 'x' });
    expect(res).toEqual({ acknowledged: true, deletedCount: 1 });
    expect(await coll.countDocuments({ g: 'x' })).toBe(2);
  });

  it('deleteMany removes every match; a second call removes none', async () => {
    expect(await coll.deleteMany({ g: 'x' })).toEqual({ acknowledged: true, deletedCount: 2 });
    expect(await coll.deleteMany({ g: 'x' })).toEqual({ acknowledged: true, deletedCount: 0 });
    expect(await coll.find().toArray()).toEqual([{ _id: 3, g: 'y' }]);
  });

  it('deleteMany({}) empties the collection but keeps it', async () => {
    expect((await coll.deleteMany({})).deletedCount).toBe(1);
    expect(await coll.countDocuments()).toBe(0);
    const names = (await m.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
    expect(names).toContain('deleted');
  });
});

describe('collections and databases', () => {
  it('create, listCollections, drop', async () => {
    await m.db.createCollection('made');
    const infos = await m.db.listCollections({ name: 'made' }).toArray();
    expect(infos).toHaveLength(1);
    expect(infos[0]).toMatchObject({ name: 'made', type: 'collection', options: {}, info: { readOnly: false } });
    const err = await rejection(() => m.db.createCollection('made'));
    expect(err.code).toBe(48);
    expect(err.codeName).toBe('NamespaceExists');
    expect(await m.db.collection('made').drop()).toBe(true);
    expect(await m.db.listCollections({ name: 'made' }).toArray()).toEqual([]);
  });

  it('creates a collection implicitly on first insert', async () => {
    await m.db.collection('implicit').insertOne({ a: 1 });
    const names = (await m.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
    expect(names).toContain('implicit');
  });

  it('dropDatabase removes every collection of the database', async () => {
    const other = m.client.db(`${m.dbName}_x`);
    await other.collection('a').insertOne({ a: 1 });
    await other.collection('b').insertOne({ b: 1 });
    expect(await other.dropDatabase()).toBe(true);
    expect(await other.listCollections().toArray()).toEqual([]);
    const dbs = (await m.client.db('admin').admin().listDatabases()).databases.map((d) => d.name);
    expect(dbs).not.toContain(`${m.dbName}_x`);
  });
});
