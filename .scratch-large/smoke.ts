import { MongoClient, ObjectId, Decimal128 } from 'mongodb';
import { BSON } from 'bson';
import { startEngine } from '../engine/index.ts';
import fs from 'node:fs'; import os from 'node:os'; import path from 'node:path';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smoke-'));
const e = await startEngine({ port: 0, dbPath: dir });
const c = await MongoClient.connect(e.uri);
const coll = c.db('t').collection('big');
try {
  await coll.insertOne({ _id: 1 as any, s: 'x'.repeat(16 * 1024 * 1024 - 20 + 1) });
  console.log('driver sent it');
} catch (err) { console.log('insert err', (err as any).name, (err as any).code, (err as Error).message.slice(0, 200)); }
console.log('count', await coll.countDocuments());
const nine = 'y'.repeat(9 * 1024 * 1024);
await coll.insertOne({ _id: 2 as any, a: nine });
try {
  const r = await coll.updateOne({ _id: 2 as any }, { $set: { b: nine } });
  console.log('update result', r);
} catch (err) { console.log('update err', (err as any).name, (err as any).code, (err as Error).message.slice(0, 200)); }
const d = await coll.findOne({ _id: 2 as any });
console.log('doc keys', Object.keys(d!), (d!.a as string).length);
await coll.insertOne({ _id: 3 as any, s: 'z'.repeat(16 * 1024 * 1024 - 1024) });
console.log('big ok', ((await coll.findOne({ _id: 3 as any }))!.s as string).length);
const res = await c.db('t').command({ insert: 'dup', documents: [{ _id: 1 }, { _id: 1 }, { _id: 2 }] });
console.log(JSON.stringify(res));
await c.close(); await e.close(); fs.rmSync(dir, { recursive: true, force: true });
