// Document validation: validators given at create or by collMod, validationLevel and validationAction, code 121
// with errInfo {failingDocumentId, details}, bypassDocumentValidation.
import { Decimal128, MongoBulkWriteError, MongoClient, MongoServerError, type Document } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { startEngine } from '../../../engine/index.ts';
import { isEmbedded, rejection, useMongo } from '../../helpers/mongo.ts';

const m = useMongo('validation');

let seq = 0;
const fresh = async (options: Document = {}) => {
  const name = `v${++seq}`;
  await m.db.createCollection(name, options);
  return m.db.collection(name);
};

describe('validators given at create', () => {
  it('refuses an insert that fails, with DocumentValidationFailure (121) and errInfo', async () => {
    const coll = await fresh({ validator: { qty: { $gte: 0 } } });
    await coll.insertOne({ _id: 1, qty: 5 } as Document);
    const err = await rejection<MongoServerError>(() => coll.insertOne({ _id: 2, qty: -1 } as Document));
    expect(err.code).toBe(121);
    expect(err.message).toBe('Document failed validation');
    expect(err.errInfo).toEqual({
      failingDocumentId: 2,
      details: { operatorName: '$gte', specifiedAs: { qty: { $gte: 0 } }, reason: 'comparison failed', consideredValue: -1 },
    });
    expect(await coll.countDocuments()).toBe(1);
  });

  it('several conditions fail as an implicit $and listing the failing clauses', async () => {
    const coll = await fresh({ validator: { name: { $type: 'string' }, price: { $gt: 0 } } });
    const err = await rejection<MongoServerError>(() => coll.insertOne({ _id: 'p', name: 'pen', price: 0 } as Document));
    expect(err.code).toBe(121);
    expect(err.errInfo!.failingDocumentId).toBe('p');
    expect(err.errInfo!.details).toEqual({
      operatorName: '$and',
      clausesNotSatisfied: [{ index: 1, details: { operatorName: '$gt', specifiedAs: { price: { $gt: 0 } }, reason: 'comparison failed', consideredValue: 0 } }],
    });
  });

  it('a missing field is "field was missing"; $exists is "path does not exist"', async () => {
    const coll = await fresh({ validator: { $and: [{ sku: { $exists: true } }, { qty: { $gte: 1 } }] } });
    const err = await rejection<MongoServerError>(() => coll.insertOne({ _id: 1 } as Document));
    expect(err.errInfo!.details).toEqual({
      operatorName: '$and',
      clausesNotSatisfied: [
        { index: 0, details: { operatorName: '$exists', specifiedAs: { sku: { $exists: true } }, reason: 'path does not exist' } },
        { index: 1, details: { operatorName: '$gte', specifiedAs: { qty: { $gte: 1 } }, reason: 'field was missing' } },
      ],
    });
  });

  it('listCollections shows the validator', async () => {
    const coll = await fresh({ validator: { a: { $type: 'int' } }, validationLevel: 'moderate', validationAction: 'error' });
    const [info] = (await m.db.listCollections({ name: coll.collectionName }).toArray()) as Document[];
    expect(info.options).toMatchObject({ validator: { a: { $type: 'int' } }, validationLevel: 'moderate', validationAction: 'error' });
  });

  it('updates, replacements and upserts are checked too; the document is left as it was', async () => {
    const coll = await fresh({ validator: { qty: { $gte: 0 } } });
    await coll.insertOne({ _id: 1, qty: 1 } as Document);
    const upd = await rejection<MongoServerError>(() => coll.updateOne({ _id: 1 as never }, { $inc: { qty: -5 } }));
    expect(upd.code).toBe(121);
    expect(upd.errInfo!.failingDocumentId).toBe(1);
    const rep = await rejection<MongoServerError>(() => coll.replaceOne({ _id: 1 as never }, { qty: -2 }));
    expect(rep.code).toBe(121);
    const ups = await rejection<MongoServerError>(() => coll.updateOne({ _id: 9 as never }, { $set: { qty: -1 } }, { upsert: true }));
    expect(ups.code).toBe(121);
    const pipe = await rejection<MongoServerError>(() => coll.updateOne({ _id: 1 as never }, [{ $set: { qty: { $subtract: ['$qty', 10] } } }]));
    expect(pipe.code).toBe(121);
    expect(await coll.find().toArray()).toEqual([{ _id: 1, qty: 1 }]);
  });

  it('findOneAndUpdate fails as a command error with codeName and errInfo', async () => {
    const coll = await fresh({ validator: { qty: { $gte: 0 } } });
    await coll.insertOne({ _id: 1, qty: 1 } as Document);
    const err = await rejection<MongoServerError>(() => coll.findOneAndUpdate({ _id: 1 as never }, { $set: { qty: -1 } }));
    expect(err.code).toBe(121);
    expect(err.codeName).toBe('DocumentValidationFailure');
    expect(err.errInfo).toMatchObject({ failingDocumentId: 1, details: { operatorName: '$gte' } });
  });

  it('bypassDocumentValidation: true skips the check', async () => {
    const coll = await fresh({ validator: { qty: { $gte: 0 } } });
    await coll.insertOne({ _id: 1, qty: -1 } as Document, { bypassDocumentValidation: true });
    await coll.updateOne({ _id: 1 as never }, { $set: { qty: -2 } }, { bypassDocumentValidation: true });
    await coll.findOneAndUpdate({ _id: 1 as never }, { $set: { qty: -3 } }, { bypassDocumentValidation: true });
    expect(await coll.findOne({ _id: 1 as never })).toEqual({ _id: 1, qty: -3 });
  });

  it('insertMany reports the failing document as a write error and, unordered, inserts the others', async () => {
    const coll = await fresh({ validator: { qty: { $gte: 0 } } });
    const err = await rejection<MongoBulkWriteError>(() =>
      coll.insertMany([{ _id: 1, qty: 1 }, { _id: 2, qty: -1 }, { _id: 3, qty: 3 }] as Document[], { ordered: false }),
    );
    expect(err).toBeInstanceOf(MongoBulkWriteError);
    const [we] = err.writeErrors as unknown as Array<{ index: number; code: number; errInfo: Document }>;
    expect(we.index).toBe(1);
    expect(we.code).toBe(121);
    expect(we.errInfo.failingDocumentId).toBe(2);
    expect(await coll.countDocuments()).toBe(2);
  });

  it('$expr validators work, with details operatorName $expr', async () => {
    const coll = await fresh({ validator: { $expr: { $lte: ['$discount', '$price'] } } });
    await coll.insertOne({ _id: 1, price: Decimal128.fromString('10.00'), discount: Decimal128.fromString('2.50') } as Document);
    const err = await rejection<MongoServerError>(() => coll.insertOne({ _id: 2, price: 1, discount: 2 } as Document));
    expect(err.errInfo!.details).toMatchObject({ operatorName: '$expr', reason: 'expression did not match' });
  });
});

describe('validators set by collMod', () => {
  it("collMod validator applies to later writes, with validationLevel 'strict' and validationAction 'error'", async () => {
    const coll = await fresh();
    await coll.insertOne({ _id: 1, status: 'bogus' } as Document);
    const res = await m.db.command({ collMod: coll.collectionName, validator: { status: { $in: ['new', 'done'] } } });
    expect(res.ok).toBe(1);
    const [info] = (await m.db.listCollections({ name: coll.collectionName }).toArray()) as Document[];
    expect(info.options).toMatchObject({ validator: { status: { $in: ['new', 'done'] } }, validationLevel: 'strict', validationAction: 'error' });
    const err = await rejection<MongoServerError>(() => coll.insertOne({ _id: 2, status: 'x' } as Document));
    expect(err.errInfo!.details).toEqual({
      operatorName: '$in',
      specifiedAs: { status: { $in: ['new', 'done'] } },
      reason: 'no matching value found in array',
      consideredValue: 'x',
    });
    // strict: an update of a document that already failed is checked as well.
    expect((await rejection<MongoServerError>(() => coll.updateOne({ _id: 1 as never }, { $set: { n: 1 } }))).code).toBe(121);
  });

  it("'moderate' does not check updates of documents that already failed, but checks valid ones and inserts", async () => {
    const coll = await fresh();
    await coll.insertMany([{ _id: 1, status: 'bogus' }, { _id: 2, status: 'new' }] as Document[]);
    await m.db.command({ collMod: coll.collectionName, validator: { status: { $in: ['new', 'done'] } }, validationLevel: 'moderate' });
    await coll.updateOne({ _id: 1 as never }, { $set: { n: 1 } });
    expect(await coll.findOne({ _id: 1 as never })).toEqual({ _id: 1, status: 'bogus', n: 1 });
    expect((await rejection<MongoServerError>(() => coll.updateOne({ _id: 2 as never }, { $set: { status: 'x' } }))).code).toBe(121);
    expect((await rejection<MongoServerError>(() => coll.insertOne({ _id: 3, status: 'x' } as Document))).code).toBe(121);
  });

  it("'warn' writes the document anyway; 'off' checks nothing", async () => {
    const coll = await fresh({ validator: { qty: { $gte: 0 } } });
    await m.db.command({ collMod: coll.collectionName, validationAction: 'warn' });
    await coll.insertOne({ _id: 1, qty: -1 } as Document);
    await m.db.command({ collMod: coll.collectionName, validationAction: 'error', validationLevel: 'off' });
    await coll.insertOne({ _id: 2, qty: -2 } as Document);
    expect(await coll.countDocuments()).toBe(2);
  });

  it('refuses bad validationLevel / validationAction values', async () => {
    const coll = await fresh();
    expect((await rejection<MongoServerError>(() => m.db.command({ collMod: coll.collectionName, validationLevel: 'Strict' }))).code).toBe(2);
    expect((await rejection<MongoServerError>(() => m.db.command({ collMod: coll.collectionName, validationAction: 1 }))).code).toBe(14);
  });

  it('a validator with an unknown operator is refused', async () => {
    const coll = await fresh();
    const err = await rejection<MongoServerError>(() => m.db.command({ collMod: coll.collectionName, validator: { a: { $foo: 1 } } }));
    expect(err.code).toBe(2);
  });
});

describe.runIf(isEmbedded)("'warn' in the engine's log (embedded engine only)", () => {
  it('logs "Document would fail validation" with the namespace, the _id and the rule, never the document', async () => {
    const warnings: Array<{ obj: Document; msg?: string }> = [];
    const logger = { info() {}, debug() {}, error() {}, warn: (obj: object, msg?: string) => void warnings.push({ obj: obj as Document, msg }) };
    const engine = await startEngine({ port: 0, dbPath: null, logger });
    const client = new MongoClient(engine.uri);
    try {
      const db = client.db('warned');
      await db.createCollection('c', { validator: { qty: { $gte: 0 } }, validationAction: 'warn' });
      await db.collection('c').insertOne({ _id: 1, qty: -1, bankAccount: '6222020200112233445' } as Document);
      expect(await db.collection('c').countDocuments()).toBe(1);
      const w = warnings.find((x) => x.msg === 'Document would fail validation');
      expect(w?.obj).toEqual({ id: 20294, namespace: 'warned.c', documentId: '1', operatorName: '$gte' });
      expect(JSON.stringify(warnings)).not.toContain('6222020200112233445');
    } finally {
      await client.close();
      await engine.close();
    }
  });
});
