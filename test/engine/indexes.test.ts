// Indexes: createIndexes / listIndexes / dropIndexes, unique (single, compound, sparse, partial) enforced on every
// write path with MongoDB's duplicate-key reply, TTL expiry, and index use for lookups.
import { BSON, Long, MongoBulkWriteError, MongoClient, MongoServerError, type Collection, type Document } from 'mongodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../../engine/index.ts';
import { isEmbedded, rejection, sleep, useMongo } from '../helpers/mongo.ts';

const m = useMongo('indexes');

let seq = 0;
let coll: Collection<Document>;
beforeEach(async () => {
  coll = m.db.collection(`ix${++seq}`);
});

const ns = () => `${m.dbName}.${coll.collectionName}`;
const dupMsg = (index: string, key: string) => `E11000 duplicate key error collection: ${ns()} index: ${index} dup key: { ${key} }`;

describe('createIndexes, listIndexes, dropIndexes', () => {
  it('creates indexes with generated and explicit names and lists them', async () => {
    expect(await coll.createIndex({ email: 1 }, { unique: true })).toBe('email_1');
    expect(await coll.createIndexes([{ key: { a: 1, b: -1 } }, { key: { c: 1 }, name: 'c_custom', sparse: true }])).toEqual(['a_1_b_-1', 'c_custom']);
    const list = await coll.listIndexes().toArray();
    expect(list).toEqual([
      { v: 2, key: { _id: 1 }, name: '_id_' },
      { v: 2, key: { email: 1 }, name: 'email_1', unique: true },
      { v: 2, key: { a: 1, b: -1 }, name: 'a_1_b_-1' },
      { v: 2, key: { c: 1 }, name: 'c_custom', sparse: true },
    ]);
    expect(await coll.indexExists('email_1')).toBe(true);
  });

  it('answers the raw createIndexes command with before/after counts, and notes indexes that already exist', async () => {
    const first = await m.db.command({ createIndexes: coll.collectionName, indexes: [{ key: { x: 1 }, name: 'x_1' }] });
    expect(first).toMatchObject({ ok: 1, numIndexesBefore: 1, numIndexesAfter: 2, createdCollectionAutomatically: true });
    const again = await m.db.command({ createIndexes: coll.collectionName, indexes: [{ key: { x: 1 }, name: 'x_1' }] });
    expect(again).toMatchObject({ ok: 1, numIndexesBefore: 2, numIndexesAfter: 2, note: 'all indexes already exist' });
  });

  it('refuses a different index under an existing name (IndexKeySpecsConflict 86)', async () => {
    await coll.createIndex({ x: 1 }, { name: 'same' });
    const err = await rejection(() => coll.createIndex({ y: 1 }, { name: 'same' }));
    expect(err.code).toBe(86);
    expect(err.codeName).toBe('IndexKeySpecsConflict');
  });

  it('drops one index by name, by key, and all but _id_ with *', async () => {
    await coll.createIndexes([{ key: { a: 1 } }, { key: { b: 1 } }, { key: { c: 1 } }]);
    expect(await coll.dropIndex('a_1')).toMatchObject({ nIndexesWas: 4, ok: 1 });
    expect(await m.db.command({ dropIndexes: coll.collectionName, index: { b: 1 } })).toMatchObject({ nIndexesWas: 3, ok: 1 });
    expect((await coll.listIndexes().toArray()).map((i) => i.name)).toEqual(['_id_', 'c_1']);
    await coll.createIndex({ d: 1 });
    expect(await coll.dropIndexes()).toBe(true);
    expect((await coll.listIndexes().toArray()).map((i) => i.name)).toEqual(['_id_']);
  });

  it('answers IndexNotFound (27) for an unknown index and refuses to drop _id_ (72)', async () => {
    await coll.insertOne({ a: 1 });
    const missing = await rejection(() => coll.dropIndex('nope_1'));
    expect(missing.code).toBe(27);
    expect(missing.codeName).toBe('IndexNotFound');
    expect(missing.message).toBe('index not found with name [nope_1]');
    const idIndex = await rejection(() => coll.dropIndex('_id_'));
    expect(idIndex.code).toBe(72);
    expect(idIndex.codeName).toBe('InvalidOptions');
    expect(idIndex.message).toBe('cannot drop _id index');
  });

  it('answers NamespaceNotFound (26) for listIndexes on a missing collection', async () => {
    const err = await rejection(() => m.db.command({ listIndexes: 'no_such_collection' }));
    expect(err.code).toBe(26);
    expect(err.codeName).toBe('NamespaceNotFound');
    expect(err.message).toBe(`ns does not exist: ${m.dbName}.no_such_collection`);
  });

  it('drops the indexes with the collection', async () => {
    await coll.createIndex({ u: 1 }, { unique: true });
    await coll.insertOne({ u: 1 });
    await coll.drop();
    await coll.insertOne({ u: 1 });
    await coll.insertOne({ u: 1 });
    expect(await coll.countDocuments({ u: 1 })).toBe(2);
  });
});

describe('unique indexes', () => {
  it('reject a duplicate insertOne with the write error MongoDB sends', async () => {
    await coll.createIndex({ email: 1 }, { unique: true });
    await coll.insertOne({ _id: 1, email: 'a@x.org' } as Document);
    const err = await rejection<MongoServerError>(() => coll.insertOne({ _id: 2, email: 'a@x.org' } as Document));
    expect(err).toBeInstanceOf(MongoServerError);
    expect(err.code).toBe(11000);
    expect(err.message).toBe(dupMsg('email_1', 'email: "a@x.org"'));
    expect(err.keyPattern).toEqual({ email: 1 });
    expect(err.keyValue).toEqual({ email: 'a@x.org' });
    expect(err.index).toBe(0);
    expect(await coll.countDocuments()).toBe(1);
  });

  it('write errors carry exactly index, code, errmsg, keyPattern and keyValue (no codeName), as MongoDB 7 sends them', async () => {
    await coll.createIndex({ email: 1 }, { unique: true });
    await coll.insertOne({ email: 'a@x.org' });
    const reply = await m.db.command({ insert: coll.collectionName, documents: [{ _id: 'ok1', email: 'b@x.org' }, { _id: 'dup', email: 'a@x.org' }] });
    expect(reply.ok).toBe(1);
    expect(reply.n).toBe(1);
    expect(reply.writeErrors).toEqual([
      { index: 1, code: 11000, errmsg: dupMsg('email_1', 'email: "a@x.org"'), keyPattern: { email: 1 }, keyValue: { email: 'a@x.org' } },
    ]);
  });

  it('insertMany ordered stops at the first duplicate: writeErrors name its batch index, and the counts', async () => {
    await coll.createIndex({ k: 1 }, { unique: true });
    await coll.insertOne({ k: 'taken' });
    const err = await rejection<MongoBulkWriteError>(() => coll.insertMany([{ k: 'n1' }, { k: 'n2' }, { k: 'taken' }, { k: 'n3' }]));
    expect(err).toBeInstanceOf(MongoBulkWriteError);
    expect(err.code).toBe(11000);
    expect(err.message).toBe(dupMsg('k_1', 'k: "taken"'));
    const writeErrors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    expect(writeErrors.map((w) => [w.index, w.code, w.errmsg])).toEqual([[2, 11000, dupMsg('k_1', 'k: "taken"')]]);
    expect(err.insertedCount).toBe(2);
    expect(err.result.insertedCount).toBe(2);
    expect((await coll.find({}, { projection: { _id: 0 } }).sort({ k: 1 }).toArray()).map((d) => d.k)).toEqual(['n1', 'n2', 'taken']);
  });

  it('insertMany unordered lists every duplicate and inserts the rest', async () => {
    await coll.createIndex({ k: 1 }, { unique: true });
    await coll.insertMany([{ k: 1 }, { k: 3 }]);
    const err = await rejection<MongoBulkWriteError>(() => coll.insertMany([{ k: 0 }, { k: 1 }, { k: 2 }, { k: 3 }, { k: 4 }], { ordered: false }));
    expect(err).toBeInstanceOf(MongoBulkWriteError);
    const writeErrors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    expect(writeErrors.map((w) => [w.index, w.code, w.errmsg])).toEqual([
      [1, 11000, dupMsg('k_1', 'k: 1')],
      [3, 11000, dupMsg('k_1', 'k: 3')],
    ]);
    expect(err.insertedCount).toBe(3);
    expect((await coll.find().sort({ k: 1 }).toArray()).map((d) => d.k)).toEqual([0, 1, 2, 3, 4]);
  });

  it('reject an updateOne that would duplicate a key, leaving the document unchanged', async () => {
    await coll.createIndex({ email: 1 }, { unique: true });
    await coll.insertMany([{ _id: 1, email: 'a@x.org' }, { _id: 2, email: 'b@x.org' }] as Document[]);
    const err = await rejection<MongoServerError>(() => coll.updateOne({ _id: 2 as never }, { $set: { email: 'a@x.org' } }));
    expect(err).toBeInstanceOf(MongoServerError);
    expect(err.code).toBe(11000);
    expect(err.message).toBe(dupMsg('email_1', 'email: "a@x.org"'));
    expect(err.keyPattern).toEqual({ email: 1 });
    expect(err.keyValue).toEqual({ email: 'a@x.org' });
    expect(err.index).toBe(0);
    expect(await coll.findOne({ _id: 2 as never })).toEqual({ _id: 2, email: 'b@x.org' });
  });

  it('updateMany stops at the first document that would duplicate a key', async () => {
    await coll.createIndex({ slot: 1 }, { unique: true });
    await coll.insertMany([{ _id: 1, slot: 1, g: 1 }, { _id: 2, slot: 2, g: 1 }] as Document[]);
    const err = await rejection<MongoServerError>(() => coll.updateMany({ g: 1 }, { $set: { slot: 7 } }));
    expect(err.code).toBe(11000);
    expect(err.keyValue).toEqual({ slot: 7 });
    expect(await coll.countDocuments({ slot: 7 })).toBe(1);
  });

  it('reject an upsert whose inserted document would duplicate a key', async () => {
    await coll.createIndex({ email: 1 }, { unique: true });
    await coll.insertOne({ name: 'first', email: 'taken@x.org' });
    const err = await rejection<MongoServerError>(() => coll.updateOne({ name: 'nobody' }, { $set: { email: 'taken@x.org' } }, { upsert: true }));
    expect(err.code).toBe(11000);
    expect(err.message).toBe(dupMsg('email_1', 'email: "taken@x.org"'));
    expect(err.keyPattern).toEqual({ email: 1 });
    expect(err.keyValue).toEqual({ email: 'taken@x.org' });
    expect(await coll.countDocuments()).toBe(1);
  });

  it('reject findOneAndUpdate with the command error MongoDB sends (codeName DuplicateKey)', async () => {
    await coll.createIndex({ email: 1 }, { unique: true });
    await coll.insertMany([{ _id: 1, email: 'a@x.org' }, { _id: 2, email: 'b@x.org' }] as Document[]);
    const err = await rejection<MongoServerError>(() => coll.findOneAndUpdate({ _id: 2 as never }, { $set: { email: 'a@x.org' } }));
    expect(err).toBeInstanceOf(MongoServerError);
    expect(err.code).toBe(11000);
    expect(err.codeName).toBe('DuplicateKey');
    expect(err.message).toBe(dupMsg('email_1', 'email: "a@x.org"'));
    expect(err.keyPattern).toEqual({ email: 1 });
    expect(err.keyValue).toEqual({ email: 'a@x.org' });
    const upsert = await rejection<MongoServerError>(() =>
      coll.findOneAndUpdate({ _id: 3 as never }, { $set: { email: 'b@x.org' } }, { upsert: true, returnDocument: 'after' }),
    );
    expect(upsert.code).toBe(11000);
    expect(upsert.codeName).toBe('DuplicateKey');
    expect(upsert.keyValue).toEqual({ email: 'b@x.org' });
    expect(await coll.countDocuments()).toBe(2);
  });

  it('reject findOneAndReplace and replaceOne that would duplicate a key', async () => {
    await coll.createIndex({ email: 1 }, { unique: true });
    await coll.insertMany([{ _id: 1, email: 'a@x.org' }, { _id: 2, email: 'b@x.org' }] as Document[]);
    const viaFam = await rejection<MongoServerError>(() => coll.findOneAndReplace({ _id: 2 as never }, { email: 'a@x.org' }));
    expect(viaFam.code).toBe(11000);
    expect(viaFam.codeName).toBe('DuplicateKey');
    const viaReplace = await rejection<MongoServerError>(() => coll.replaceOne({ _id: 2 as never }, { email: 'a@x.org' }));
    expect(viaReplace.code).toBe(11000);
    expect(viaReplace.keyValue).toEqual({ email: 'a@x.org' });
  });

  it('compound unique indexes compare the whole key', async () => {
    await coll.createIndex({ a: 1, b: 1 }, { unique: true });
    await coll.insertMany([{ a: 1, b: 'x' }, { a: 1, b: 'y' }, { a: 2, b: 'x' }]);
    const err = await rejection<MongoServerError>(() => coll.insertOne({ a: 1, b: 'x' }));
    expect(err.code).toBe(11000);
    expect(err.message).toBe(dupMsg('a_1_b_1', 'a: 1, b: "x"'));
    expect(err.keyPattern).toEqual({ a: 1, b: 1 });
    expect(err.keyValue).toEqual({ a: 1, b: 'x' });
    expect(await coll.countDocuments()).toBe(3);
  });

  it('a non-sparse unique index holds one document without the field (as null)', async () => {
    await coll.createIndex({ code: 1 }, { unique: true });
    await coll.insertOne({ name: 'first' });
    const err = await rejection<MongoServerError>(() => coll.insertOne({ name: 'second' }));
    expect(err.code).toBe(11000);
    expect(err.message).toBe(dupMsg('code_1', 'code: null'));
    expect(err.keyValue).toEqual({ code: null });
  });

  it('a sparse unique index allows many documents without the field, but not duplicates', async () => {
    await coll.createIndex({ code: 1 }, { unique: true, sparse: true });
    await coll.insertMany([{ name: 'a' }, { name: 'b' }, { name: 'c' }, { code: 'X' }]);
    expect(await coll.countDocuments()).toBe(4);
    const err = await rejection<MongoServerError>(() => coll.insertOne({ code: 'X' }));
    expect(err.code).toBe(11000);
    expect(err.message).toBe(dupMsg('code_1', 'code: "X"'));
    // A sparse index cannot answer {code: null}: documents without the field are still found.
    expect(await coll.countDocuments({ code: null })).toBe(3);
  });

  it('a partial unique index enforces uniqueness only among documents matching its filter', async () => {
    await coll.createIndex({ email: 1 }, { unique: true, partialFilterExpression: { active: true } });
    await coll.insertMany([
      { email: 'a@x.org', active: false },
      { email: 'a@x.org', active: false },
      { email: 'a@x.org', active: true },
    ]);
    const err = await rejection<MongoServerError>(() => coll.insertOne({ email: 'a@x.org', active: true }));
    expect(err.code).toBe(11000);
    expect(err.message).toBe(dupMsg('email_1', 'email: "a@x.org"'));
    expect(err.keyValue).toEqual({ email: 'a@x.org' });
    // Activating an inactive duplicate is refused too.
    const upd = await rejection<MongoServerError>(() => coll.updateOne({ active: false }, { $set: { active: true } }));
    expect(upd.code).toBe(11000);
    expect(await coll.countDocuments({ active: true })).toBe(1);
    const [info] = (await coll.listIndexes().toArray()).filter((i) => i.name === 'email_1');
    expect(info).toEqual({ v: 2, key: { email: 1 }, name: 'email_1', unique: true, partialFilterExpression: { active: true } });
  });

  it('a unique index over an array field treats each element as a key', async () => {
    await coll.createIndex({ tags: 1 }, { unique: true });
    await coll.insertOne({ tags: ['a', 'b', 'b'] });
    const err = await rejection<MongoServerError>(() => coll.insertOne({ tags: ['c', 'b'] }));
    expect(err.code).toBe(11000);
    expect(err.keyValue).toEqual({ tags: 'b' });
    await coll.insertOne({ tags: ['c', 'd'] });
    expect(await coll.countDocuments()).toBe(2);
  });

  it('numbers of different types are the same key', async () => {
    await coll.createIndex({ n: 1 }, { unique: true });
    await coll.insertOne({ n: 1 });
    const asLong = await rejection<MongoServerError>(() => coll.insertOne({ n: Long.fromNumber(1) }));
    expect(asLong.code).toBe(11000);
    const asDouble = await rejection<MongoServerError>(() => m.db.collection(coll.collectionName).insertOne({ n: new BSON.Double(1) }));
    expect(asDouble.code).toBe(11000);
  });

  it('building a unique index over existing duplicates fails with E11000 and creates no index', async () => {
    await coll.insertMany([{ v: 1 }, { v: 1 }]);
    const err = await rejection<MongoServerError>(() => coll.createIndex({ v: 1 }, { unique: true }));
    expect(err.code).toBe(11000);
    expect(err.message).toContain(`E11000 duplicate key error collection: ${ns()} index: v_1 dup key: { v: 1 }`);
    expect((await coll.listIndexes().toArray()).map((i) => i.name)).toEqual(['_id_']);
  });

  it('an update or replacement that keeps a document’s own unique key is not a duplicate of itself', async () => {
    await coll.createIndex({ k: 1 }, { unique: true });
    await coll.createIndex({ a: 1, b: 1 }, { unique: true });
    await coll.insertOne({ _id: 1, k: 'x', a: 1, b: 1, n: 0 } as Document);
    await coll.updateOne({ _id: 1 as never }, { $set: { k: 'x', n: 1 } });
    await coll.replaceOne({ _id: 1 as never }, { k: 'x', a: 1, b: 1, n: 2 });
    expect(await coll.findOneAndUpdate({ k: 'x' }, { $inc: { n: 1 } }, { returnDocument: 'after' })).toEqual({ _id: 1, k: 'x', a: 1, b: 1, n: 3 });
  });

  it('two transactions inserting the same unique key: only the first commits, the second gets a transient WriteConflict', async () => {
    await coll.createIndex({ k: 1 }, { unique: true });
    const t1 = m.client.startSession();
    const t2 = m.client.startSession();
    try {
      t1.startTransaction();
      t2.startTransaction();
      await coll.insertOne({ k: 'same', by: 't1' }, { session: t1 });
      // MongoDB refuses the second insert at once; a later refusal at commit is the only other acceptable outcome.
      let failure = await coll.insertOne({ k: 'same', by: 't2' }, { session: t2 }).then(
        () => undefined,
        (e: MongoServerError) => e,
      );
      await t1.commitTransaction();
      if (!failure) {
        failure = await t2.commitTransaction().then(
          () => undefined,
          (e: MongoServerError) => e,
        );
      } else {
        await t2.abortTransaction().catch(() => {});
      }
      expect(failure).toBeInstanceOf(MongoServerError);
      expect(failure!.code).toBe(112);
      expect(failure!.hasErrorLabel('TransientTransactionError')).toBe(true);
    } finally {
      await t1.endSession();
      await t2.endSession();
    }
    expect(await coll.find({}, { projection: { _id: 0 } }).toArray()).toEqual([{ k: 'same', by: 't1' }]);
  });

  it('a failed write frees nothing: after removing the holder, the key can be used', async () => {
    await coll.createIndex({ k: 1 }, { unique: true });
    await coll.insertOne({ _id: 1, k: 'x' } as Document);
    await rejection(() => coll.insertOne({ _id: 2, k: 'x' } as Document));
    await coll.deleteOne({ _id: 1 as never });
    await coll.insertOne({ _id: 2, k: 'x' } as Document);
    await coll.updateOne({ _id: 2 as never }, { $set: { k: 'y' } });
    await coll.insertOne({ _id: 3, k: 'x' } as Document);
    expect((await coll.find().sort({ _id: 1 }).toArray()).map((d) => d.k)).toEqual(['y', 'x']);
  });
});

describe('TTL indexes', () => {
  it('are created with expireAfterSeconds and listed with it', async () => {
    expect(await coll.createIndex({ createdAt: 1 }, { expireAfterSeconds: 0 })).toBe('createdAt_1');
    const [, ttl] = await coll.listIndexes().toArray();
    expect(ttl).toEqual({ v: 2, key: { createdAt: 1 }, name: 'createdAt_1', expireAfterSeconds: 0 });
  });
});

describe.runIf(isEmbedded)('TTL monitor (embedded engine only)', () => {
  let engine: Engine;
  let client: MongoClient;
  beforeAll(async () => {
    engine = new Engine({ port: 0, dbPath: null, ttlIntervalMs: 60_000 });
    const running = await engine.listen();
    client = await new MongoClient(running.uri).connect();
  });
  afterAll(async () => {
    await client?.close();
    await engine?.close();
  });

  it('expireTtl() removes documents whose date is past expireAfterSeconds, and nothing else', async () => {
    const c = client.db('ttl').collection('sessions');
    await c.createIndex({ at: 1 }, { expireAfterSeconds: 0 });
    const now = Date.now();
    await c.insertMany([
      { _id: 'old', at: new Date(now - 60_000) },
      { _id: 'older', at: new Date(now - 3_600_000) },
      { _id: 'future', at: new Date(now + 3_600_000) },
      { _id: 'nodate' },
      { _id: 'string', at: 'not a date' },
    ] as Document[]);
    expect(engine.expireTtl()).toBe(2);
    expect((await c.find().sort({ _id: 1 }).toArray()).map((d) => d._id)).toEqual(['future', 'nodate', 'string']);
    expect(engine.expireTtl()).toBe(0);
    expect(engine.expireTtl(now + 2 * 3_600_000)).toBe(1);
    expect((await c.find().sort({ _id: 1 }).toArray()).map((d) => d._id)).toEqual(['nodate', 'string']);
  });

  it('honours expireAfterSeconds as an offset from the stored date', async () => {
    const c = client.db('ttl').collection('hourly');
    await c.createIndex({ at: 1 }, { expireAfterSeconds: 3600 });
    const now = Date.now();
    await c.insertMany([{ _id: 'a', at: new Date(now - 60_000) }, { _id: 'b', at: new Date(now - 2 * 3_600_000) }] as Document[]);
    expect(engine.expireTtl(now)).toBe(1);
    expect((await c.find().toArray()).map((d) => d._id)).toEqual(['a']);
    expect(engine.expireTtl(now + 3_600_000)).toBe(1);
    expect(await c.countDocuments()).toBe(0);
  });

  it('runs by itself every ttlIntervalMs', async () => {
    const fast = new Engine({ port: 0, dbPath: null, ttlIntervalMs: 100 });
    const running = await fast.listen();
    const c2 = await new MongoClient(running.uri).connect();
    try {
      const c = c2.db('ttl').collection('auto');
      await c.createIndex({ at: 1 }, { expireAfterSeconds: 0 });
      await c.insertMany([{ _id: 'gone', at: new Date(Date.now() - 1000) }, { _id: 'kept', at: new Date(Date.now() + 3_600_000) }] as Document[]);
      const deadline = Date.now() + 3000;
      while ((await c.countDocuments({ _id: 'gone' as never })) > 0 && Date.now() < deadline) await sleep(50);
      expect((await c.find().toArray()).map((d) => d._id)).toEqual(['kept']);
    } finally {
      await c2.close();
      await fast.close();
    }
  });
});

describe.runIf(isEmbedded)('index use for lookups (embedded engine only)', () => {
  let engine: Engine;
  let client: MongoClient;
  let big: Collection<Document>;
  const DB = 'ixuse';
  /** Documents the plan reads (explain's totalDocsExamined), or undefined for a collection scan. */
  const candidates = async (filter: Document) => {
    const explained = (await big.find(filter).explain('executionStats')) as Document;
    if (explained.queryPlanner.winningPlan.stage === 'COLLSCAN') return undefined;
    return explained.executionStats.totalDocsExamined as number;
  };

  beforeAll(async () => {
    engine = new Engine({ port: 0, dbPath: null });
    const running = await engine.listen();
    client = await new MongoClient(running.uri).connect();
    big = client.db(DB).collection('big');
    const docs = Array.from({ length: 20_000 }, (_, i) => ({ _id: i, k: i % 1000, unindexed: i % 1000 }));
    for (let i = 0; i < docs.length; i += 5000) await big.insertMany(docs.slice(i, i + 5000) as Document[]);
    await big.insertMany([
      { _id: 'string', k: '15', unindexed: '15' },
      { _id: 'double', k: 15.5, unindexed: 15.5 },
      { _id: 'long', k: Long.fromNumber(15), unindexed: Long.fromNumber(15) },
    ] as Document[]);
    await big.createIndex({ k: 1 });
  }, 120_000);
  afterAll(async () => {
    await client?.close();
    await engine?.close();
  });

  it('finds by the indexed field with the same results as by an unindexed one', async () => {
    const byIndex = (await big.find({ k: 7 }).toArray()).map((d) => d._id as unknown as number).sort((a, b) => a - b);
    const byScan = (await big.find({ unindexed: 7 }).toArray()).map((d) => d._id as unknown as number).sort((a, b) => a - b);
    expect(byIndex).toHaveLength(20);
    expect(byIndex).toEqual(byScan);
    expect(byIndex.slice(0, 3)).toEqual([7, 1007, 2007]);
    const rangeIx = await big.countDocuments({ k: { $gte: 10, $lt: 20 } });
    const rangeScan = await big.countDocuments({ unindexed: { $gte: 10, $lt: 20 } });
    expect(rangeIx).toBe(202); // 200 ints, 15.5 and Long(15); not the string '15'
    expect(rangeIx).toBe(rangeScan);
    expect((await big.find({ k: 15 }).toArray()).length).toBe(21); // 20 ints and Long(15)
    expect((await big.find({ k: '15' }).toArray()).map((d) => d._id)).toEqual(['string']);
  });

  it('answers _id equality from the _id index with one candidate', async () => {
    expect(await candidates({ _id: 12345 })).toBe(1);
    expect(await candidates({ _id: { $in: [1, 2, 3] } })).toBe(3);
    expect(await candidates({ _id: { $gte: 100, $lt: 110 } })).toBe(11); // the exclusive bound is the matcher's
  });

  it('answers equality, range and $in on an indexed field with candidate sets of the right size', async () => {
    expect(await candidates({ k: 5 })).toBe(20);
    // Bounds cover every key with the same double, and exclusive ones are left to the matcher: 20 of k = 20.
    expect(await candidates({ k: { $gte: 10, $lt: 20 } })).toBe(222);
    expect(await candidates({ k: { $in: [1, 2] } })).toBe(40);
    expect(await candidates({ k: { $gt: 998 } })).toBe(40);
    expect(await candidates({ k: 5, unindexed: 5 })).toBe(20);
  });

  it('reads a sort from the index instead of sorting, and stops at the limit', async () => {
    const explained = (await big.find({ k: { $gte: 0 } }).sort({ k: -1 }).limit(5).explain('executionStats')) as Document;
    expect(explained.queryPlanner.winningPlan.inputStage).toMatchObject({ stage: 'IXSCAN', indexName: 'k_1', direction: 'backward' });
    const top = await big.find({ k: { $gte: 0 } }).sort({ k: -1 }).limit(5).toArray();
    expect(top.map((d) => d.k)).toEqual([999, 999, 999, 999, 999]);
  });

  it('uses a partial index only for queries whose every match it holds', async () => {
    const partial = client.db(DB).collection('partial');
    // Like archive_records' voucherId: a string for vouchers' records, null for the others.
    const docs = Array.from({ length: 2000 }, (_, i) => ({ _id: i, voucherId: i % 2 ? `v${i}` : null, n: i }));
    await partial.insertMany(docs as Document[]);
    await partial.createIndex({ voucherId: 1 }, { unique: true, partialFilterExpression: { voucherId: { $type: 'string' } } });
    const plan = async (filter: Document) => {
      const explained = (await partial.find(filter).explain('executionStats')) as Document;
      return { stage: explained.queryPlanner.winningPlan.inputStage?.stage ?? explained.queryPlanner.winningPlan.stage, examined: explained.executionStats.totalDocsExamined as number };
    };
    expect(await plan({ voucherId: 'v7' })).toEqual({ stage: 'IXSCAN', examined: 1 });
    expect(await plan({ voucherId: { $in: ['v7', 'v9'] } })).toEqual({ stage: 'IXSCAN', examined: 2 });
    expect((await partial.find({ voucherId: 'v7' }).toArray()).map((d) => d._id)).toEqual([7]);
    // null also matches documents the index leaves out; a range is not implied by the filter's type: scans.
    expect((await plan({ voucherId: null })).stage).toBe('COLLSCAN');
    expect(await partial.countDocuments({ voucherId: null })).toBe(1000);
    expect((await plan({ voucherId: { $gt: 'v1' } })).stage).toBe('COLLSCAN');
    expect((await plan({ n: 5 })).stage).toBe('COLLSCAN');
    // In an $or, each branch by its own conditions: the partial index answers `{voucherId: 'v9'}` there too.
    await partial.createIndex({ n: 1 });
    expect(await plan({ $or: [{ n: 4 }, { voucherId: 'v9' }] })).toEqual({ stage: 'OR', examined: 2 });
    expect((await partial.find({ $or: [{ n: 4 }, { voucherId: 'v9' }] }).toArray()).map((d) => d._id).sort()).toEqual([4, 9]);
  });

  it('answers an $or whose every branch has an index by the union of the branches, each document once', async () => {
    const ids = async (filter: Document) => (await big.find(filter).toArray()).map((d) => String(d._id)).sort();
    expect(await candidates({ $or: [{ k: 5 }, { _id: 7 }] })).toBe(21);
    // A document two branches yield is returned once; the same answer as a scan.
    expect(await ids({ $or: [{ k: 5 }, { _id: 1005 }] })).toEqual(await ids({ $or: [{ unindexed: 5 }, { _id: 1005 }] }));
    expect(await ids({ $or: [{ k: 5 }, { _id: 1005 }] })).toHaveLength(20);
    // Inside a top-level $and, with the conditions around it applied to every branch.
    expect(await candidates({ $and: [{ unindexed: { $lt: 500 } }, { $or: [{ k: 1 }, { k: 2 }] }] })).toBe(40);
    expect(await big.countDocuments({ $and: [{ unindexed: { $lt: 500 } }, { $or: [{ k: 1 }, { k: 2 }] }] })).toBe(40);
    const explained = (await big.find({ $or: [{ k: 5 }, { _id: 7 }] } as Document).explain('queryPlanner')) as Document;
    expect(explained.queryPlanner.winningPlan.inputStage.stage).toBe('OR');
    // One branch without an index: the whole $or is a scan.
    expect(await candidates({ $or: [{ k: 5 }, { unindexed: 7 }] })).toBeUndefined();
    expect(await big.countDocuments({ $or: [{ k: 5 }, { unindexed: 7 }] })).toBe(40);
  });

  it('falls back to a full scan (undefined) for an unindexed field', async () => {
    expect(await candidates({ unindexed: 5 })).toBeUndefined();
    expect(await candidates({})).toBeUndefined();
  });
});
