// What the embedded engine does not do answers MongoDB-style errors, each the one a MongoDB server gives where it
// lacks the feature too (embedded engine only: a real MongoDB supports all of these).
import { MongoServerError, type Document } from 'mongodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { isEmbedded, rejection, useMongo } from '../../helpers/mongo.ts';

const m = useMongo('unsupported');

beforeAll(async () => {
  await m.db.collection('u').insertMany([{ _id: 1, a: 'x', loc: [0, 0] }] as Document[]);
});

describe.runIf(isEmbedded)('refusals (embedded engine only)', () => {
  it('text and geo indexes: CannotCreateIndex (67)', async () => {
    for (const key of [{ a: 'text' }, { loc: '2dsphere' }, { loc: '2d' }, { a: 'hashed' }] as Document[]) {
      const err = await rejection<MongoServerError>(() => m.db.collection('u').createIndex(key));
      expect(err.code).toBe(67);
      expect(err.codeName).toBe('CannotCreateIndex');
      expect(err.message).toContain('not supported by the embedded engine');
    }
  });

  it('$text queries: IndexNotFound (27), as a collection without a text index answers', async () => {
    const err = await rejection<MongoServerError>(() => m.db.collection('u').find({ $text: { $search: 'x' } }).toArray());
    expect(err.code).toBe(27);
    expect(err.message).toContain('text index required for $text query');
  });

  it('change streams: 40573, as a server without an oplog answers', async () => {
    for (const watch of [() => m.db.collection('u').watch(), () => m.db.watch(), () => m.client.watch()]) {
      const stream = watch();
      const err = await rejection<MongoServerError>(() => stream.tryNext());
      await stream.close();
      expect(err.code).toBe(40573);
      expect(err.message).toContain('$changeStream stage is only supported on replica sets');
    }
  });

  it('$where: 6108304 "no globalScriptEngine in $where parsing", as mongod with javascriptEnabled: false', async () => {
    const err = await rejection<MongoServerError>(() => m.db.collection('u').find({ $where: 'this.a == "x"' }).toArray());
    expect(err.code).toBe(6108304);
    expect(err.message).toContain('no globalScriptEngine in $where parsing');
  });

  it('capped and time series collections: InvalidOptions (72)', async () => {
    const capped = await rejection<MongoServerError>(() => m.db.createCollection('capped', { capped: true, size: 4096 }));
    expect(capped.code).toBe(72);
    expect(capped.message).toBe("collection option 'capped' is not supported by the embedded engine");
    const ts = await rejection<MongoServerError>(() => m.db.createCollection('series', { timeseries: { timeField: 't' } }));
    expect(ts.code).toBe(72);
    expect(ts.message).toBe("collection option 'timeseries' is not supported by the embedded engine");
  });

  it('$jsonSchema validators: NotImplemented (238)', async () => {
    const err = await rejection<MongoServerError>(() => m.db.createCollection('schema', { validator: { $jsonSchema: { required: ['a'] } } }));
    expect(err.code).toBe(238);
    expect(err.codeName).toBe('NotImplemented');
  });
});
