// collMod on indexes: hiding and unhiding (a hidden index cannot be hinted, listIndexes shows hidden: true, a
// hidden unique index still enforces uniqueness) and changing a TTL index's expireAfterSeconds.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Long, MongoClient, MongoServerError, type Collection, type Document } from 'mongodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { startEngine } from '../../../engine/index.ts';
import { isEmbedded, rejection, useMongo } from '../../helpers/mongo.ts';

const m = useMongo('collmod');

let seq = 0;
let coll: Collection<Document>;
beforeEach(async () => {
  coll = m.db.collection(`cm${++seq}`);
  await coll.insertMany([{ _id: 1, a: 1, at: new Date() }, { _id: 2, a: 2, at: new Date() }] as Document[]);
  await coll.createIndex({ a: 1 }, { name: 'a_1', unique: true });
  await coll.createIndex({ at: 1 }, { name: 'at_ttl', expireAfterSeconds: 3600 });
});

const indexNamed = async (name: string) => (await coll.listIndexes().toArray()).find((ix) => ix.name === name);

describe('hidden indexes', () => {
  it('hides an index by name: hidden_old/hidden_new, listIndexes shows hidden: true', async () => {
    const res = await m.db.command({ collMod: coll.collectionName, index: { name: 'a_1', hidden: true } });
    expect(res).toMatchObject({ ok: 1, hidden_old: false, hidden_new: true });
    expect(await indexNamed('a_1')).toMatchObject({ key: { a: 1 }, hidden: true });
  });

  it('a hint naming a hidden index fails; unhiding (by key pattern) makes it usable again', async () => {
    await m.db.command({ collMod: coll.collectionName, index: { name: 'a_1', hidden: true } });
    const err = await rejection<MongoServerError>(() => coll.find({ a: 1 }).hint('a_1').toArray());
    expect(err.code).toBe(2);
    expect(err.message).toContain('hint provided does not correspond to an existing index');
    const res = await m.db.command({ collMod: coll.collectionName, index: { keyPattern: { a: 1 }, hidden: false } });
    expect(res).toMatchObject({ ok: 1, hidden_old: true, hidden_new: false });
    expect((await indexNamed('a_1'))!.hidden).toBeUndefined();
    expect(await coll.find({ a: 1 }).hint('a_1').toArray()).toEqual([expect.objectContaining({ _id: 1 })]);
  });

  it('hiding an index that is already hidden changes nothing and reports nothing', async () => {
    await m.db.command({ collMod: coll.collectionName, index: { name: 'a_1', hidden: true } });
    const again = await m.db.command({ collMod: coll.collectionName, index: { name: 'a_1', hidden: true } });
    expect(again.hidden_old).toBeUndefined();
    expect(again.hidden_new).toBeUndefined();
    expect(again.ok).toBe(1);
  });

  it('a hidden unique index still enforces uniqueness', async () => {
    await m.db.command({ collMod: coll.collectionName, index: { name: 'a_1', hidden: true } });
    const err = await rejection<MongoServerError>(() => coll.insertOne({ _id: 3, a: 1 } as Document));
    expect(err.code).toBe(11000);
  });

  it('an index can be created hidden', async () => {
    await coll.createIndex({ b: 1 }, { name: 'b_hidden', hidden: true });
    expect(await indexNamed('b_hidden')).toMatchObject({ hidden: true });
    const err = await rejection<MongoServerError>(() => coll.find({}).hint({ b: 1 }).toArray());
    expect(err.code).toBe(2);
  });

  it('refuses to hide the _id index and answers IndexNotFound (27) for an unknown index', async () => {
    const id = await rejection<MongoServerError>(() => m.db.command({ collMod: coll.collectionName, index: { name: '_id_', hidden: true } }));
    expect(id.code).toBe(2);
    const missing = await rejection<MongoServerError>(() => m.db.command({ collMod: coll.collectionName, index: { name: 'nope', hidden: true } }));
    expect(missing.code).toBe(27);
    expect(missing.codeName).toBe('IndexNotFound');
  });

  it('collMod on a collection that does not exist answers NamespaceNotFound (26)', async () => {
    const err = await rejection<MongoServerError>(() => m.db.command({ collMod: 'no_such_coll', index: { name: 'a_1', hidden: true } }));
    expect(err.code).toBe(26);
    expect(err.codeName).toBe('NamespaceNotFound');
  });
});

describe('TTL', () => {
  it('changes expireAfterSeconds: the reply has the old and new values as longs', async () => {
    const res = await m.db.command({ collMod: coll.collectionName, index: { name: 'at_ttl', expireAfterSeconds: 60 } }, { promoteLongs: false });
    expect(res.expireAfterSeconds_old).toEqual(Long.fromNumber(3600));
    expect(res.expireAfterSeconds_new).toEqual(Long.fromNumber(60));
    expect(Number((await indexNamed('at_ttl'))!.expireAfterSeconds)).toBe(60);
  });

  it('by key pattern, and both index changes at once', async () => {
    const res = await m.db.command({ collMod: coll.collectionName, index: { keyPattern: { at: 1 }, expireAfterSeconds: 120, hidden: true } });
    expect(res).toMatchObject({ ok: 1, expireAfterSeconds_old: 3600, expireAfterSeconds_new: 120, hidden_old: false, hidden_new: true });
  });

  it('refuses a negative value (InvalidOptions) and a non-number (TypeMismatch)', async () => {
    const neg = await rejection<MongoServerError>(() => m.db.command({ collMod: coll.collectionName, index: { name: 'at_ttl', expireAfterSeconds: -1 } }));
    expect(neg.code).toBe(72);
    const str = await rejection<MongoServerError>(() => m.db.command({ collMod: coll.collectionName, index: { name: 'at_ttl', expireAfterSeconds: '5' } }));
    expect(str.code).toBe(14);
  });

  it('an index document with neither name nor keyPattern answers InvalidOptions (72)', async () => {
    const err = await rejection<MongoServerError>(() => m.db.command({ collMod: coll.collectionName, index: { hidden: true } }));
    expect(err.code).toBe(72);
  });
});

describe.runIf(isEmbedded)('persistence (embedded engine only)', () => {
  it('hidden indexes, TTL changes and validators survive a restart', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'engine-collmod-'));
    try {
      const first = await startEngine({ port: 0, dbPath: dir });
      const c1 = new MongoClient(first.uri);
      try {
        const db = c1.db('persist');
        await db.collection('c').insertOne({ _id: 1, a: 1, at: new Date() } as Document);
        await db.collection('c').createIndex({ a: 1 }, { name: 'a_1' });
        await db.collection('c').createIndex({ at: 1 }, { name: 'at_ttl', expireAfterSeconds: 3600 });
        await db.command({ collMod: 'c', index: { name: 'a_1', hidden: true } });
        await db.command({ collMod: 'c', index: { name: 'at_ttl', expireAfterSeconds: 60 } });
        await db.command({ collMod: 'c', validator: { a: { $gte: 0 } }, validationLevel: 'moderate' });
      } finally {
        await c1.close();
        await first.close();
      }
      const second = await startEngine({ port: 0, dbPath: dir });
      const c2 = new MongoClient(second.uri);
      try {
        const db = c2.db('persist');
        const indexes = await db.collection('c').listIndexes().toArray();
        expect(indexes.find((ix) => ix.name === 'a_1')).toMatchObject({ hidden: true });
        expect(Number(indexes.find((ix) => ix.name === 'at_ttl')!.expireAfterSeconds)).toBe(60);
        const [info] = (await db.listCollections({ name: 'c' }).toArray()) as Document[];
        expect(info.options).toMatchObject({ validator: { a: { $gte: 0 } }, validationLevel: 'moderate', validationAction: 'error' });
        expect((await rejection<MongoServerError>(() => db.collection('c').insertOne({ _id: 2, a: -1 } as Document))).code).toBe(121);
      } finally {
        await c2.close();
        await second.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
