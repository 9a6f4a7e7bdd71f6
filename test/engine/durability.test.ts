// Durability of the embedded engine: every acknowledged write survives kill -9; the data directory is private and
// locked by one live engine; retryable writes are answered once, across restarts; memory-only engines forget.
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Long, MongoClient, type Document } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, startEngine } from '../../engine/index.ts';
import { isEmbedded, sleep } from '../helpers/mongo.ts';
import { freePort } from '../helpers/ports.ts';
import { exitWithin, killAllChildren, spawnEngine, type EngineChild } from './child.ts';

const dirs: string[] = [];
const clients: MongoClient[] = [];
const engines: Array<{ close(): Promise<void> }> = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'engine-durability-'));
  dirs.push(dir);
  return dir;
}

async function connect(uri: string): Promise<MongoClient> {
  const client = new MongoClient(uri, { retryWrites: false, serverSelectionTimeoutMS: 3000, connectTimeoutMS: 3000 });
  clients.push(client);
  await client.connect();
  return client;
}

async function sigkill(child: EngineChild): Promise<void> {
  child.proc.kill('SIGKILL');
  const { signal } = await exitWithin(child, 10_000);
  expect(signal).toBe('SIGKILL');
}

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  for (const e of engines) await e.close().catch(() => {});
  killAllChildren();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe.runIf(isEmbedded)('kill -9 (embedded engine only)', () => {
  it(
    'keeps every acknowledged insert of a stream interrupted by SIGKILL',
    async () => {
      const dir = await tempDir();
      const first = await spawnEngine(['--port', '0', '--dbpath', dir]);
      const client = await connect(first.uri);
      const coll = client.db('durable').collection('stream');

      const acknowledged = new Set<number>();
      const attempted = new Set<number>();
      let next = 0;
      let stopped = false;
      const worker = async () => {
        while (!stopped) {
          const id = next++;
          attempted.add(id);
          try {
            await coll.insertOne({ _id: id, payload: `document ${id} `.repeat(8) } as Document);
            acknowledged.add(id);
          } catch {
            return; // the server is gone
          }
        }
      };
      const workers = Array.from({ length: 4 }, worker);
      const deadline = Date.now() + 15_000;
      while (acknowledged.size < 600 && Date.now() < deadline) await sleep(5);
      expect(acknowledged.size).toBeGreaterThanOrEqual(300);

      const inFlight = attempted.size - acknowledged.size;
      await sigkill(first);
      stopped = true;
      await Promise.all(workers);
      expect(inFlight).toBeGreaterThan(0); // the kill interrupted writes in progress
      await client.close();

      const second = await spawnEngine(['--port', '0', '--dbpath', dir]);
      const again = await connect(second.uri);
      const ids = new Set((await again.db('durable').collection('stream').find({}, { projection: { _id: 1 } }).toArray()).map((d) => d._id as unknown as number));
      const lost = [...acknowledged].filter((id) => !ids.has(id));
      expect(lost).toEqual([]);
      const invented = [...ids].filter((id) => !attempted.has(id));
      expect(invented).toEqual([]);
      expect(ids.size).toBeGreaterThanOrEqual(acknowledged.size);
      // Documents come back whole.
      const sample = await again.db('durable').collection('stream').findOne({ _id: [...acknowledged][0] as never });
      expect(sample!.payload).toBe(`document ${[...acknowledged][0]} `.repeat(8));
      // And the restarted engine takes writes.
      await again.db('durable').collection('stream').insertOne({ _id: -1, after: 'restart' } as Document);
      expect(await again.db('durable').collection('stream').countDocuments({ _id: -1 as never })).toBe(1);
      await again.close();
      await sigkill(second);
    },
    120_000,
  );

  it(
    'keeps acknowledged updates, deletes, drops, index changes and committed transactions; drops uncommitted ones',
    async () => {
      const dir = await tempDir();
      const first = await spawnEngine(['--port', '0', '--dbpath', dir]);
      const client = await connect(first.uri);
      const db = client.db('durable');
      await db.collection('users').createIndex({ email: 1 }, { unique: true });
      await db.collection('users').insertMany([
        { _id: 1, email: 'a@x', n: 0 },
        { _id: 2, email: 'b@x', n: 0 },
        { _id: 3, email: 'c@x', n: 0 },
      ] as Document[]);
      await db.collection('users').updateOne({ _id: 1 as never }, { $inc: { n: 5 } });
      await db.collection('users').deleteOne({ _id: 2 as never });
      await db.collection('temp').insertOne({ t: 1 });
      await db.collection('temp').drop();
      await db.collection('users').createIndex({ n: 1 }, { name: 'gone_1' });
      await db.collection('users').dropIndex('gone_1');
      await client.db('durable_other').collection('x').insertOne({ x: 1 });
      await client.db('durable_other').dropDatabase();
      const committed = client.startSession();
      await committed.withTransaction(async () => {
        await db.collection('users').insertOne({ _id: 4, email: 'd@x', n: 0 } as Document, { session: committed });
        await db.collection('users').updateOne({ _id: 3 as never }, { $set: { n: 3 } }, { session: committed });
      });
      await committed.endSession();
      const open = client.startSession();
      open.startTransaction();
      await db.collection('users').insertOne({ _id: 5, email: 'e@x', n: 0 } as Document, { session: open });
      await sigkill(first);
      await client.close().catch(() => {});

      const second = await spawnEngine(['--port', '0', '--dbpath', dir]);
      const again = await connect(second.uri);
      const users = again.db('durable').collection('users');
      expect(await users.find().sort({ _id: 1 }).toArray()).toEqual([
        { _id: 1, email: 'a@x', n: 5 },
        { _id: 3, email: 'c@x', n: 3 },
        { _id: 4, email: 'd@x', n: 0 },
      ]);
      expect((await users.listIndexes().toArray()).map((i) => [i.name, i.unique ?? false])).toEqual([
        ['_id_', false],
        ['email_1', true],
      ]);
      const dup = await users.insertOne({ email: 'a@x' }).then(
        () => undefined,
        (e: { code?: number }) => e.code,
      );
      expect(dup).toBe(11000);
      const names = (await again.db('durable').listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
      expect(names).not.toContain('temp');
      const dbs = (await again.db('admin').admin().listDatabases()).databases.map((d) => d.name);
      expect(dbs).toContain('durable');
      expect(dbs).not.toContain('durable_other');
      await again.close();
      await sigkill(second);
    },
    120_000,
  );
});

describe.runIf(isEmbedded)('the data directory (embedded engine only)', () => {
  it('keeps everything across a clean stop; the directory is 0700 and every file in it 0600', async () => {
    const dir = await tempDir();
    fs.chmodSync(dir, 0o755); // as mkdtemp or a careless operator left it
    const first = new Engine({ port: 0, dbPath: dir });
    const running = await first.listen();
    const c1 = await connect(running.uri);
    await c1.db('durable').collection('kept').insertMany(Array.from({ length: 1000 }, (_, i) => ({ _id: i, bank: `6222020200112233${String(i).padStart(3, '0')}` })) as Document[]);
    await c1.db('durable').collection('kept').createIndex({ bank: 1 }, { unique: true });
    await c1.close();
    await running.close();

    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    const files = fs.readdirSync(dir);
    expect(files).toContain('engine.sqlite');
    for (const f of files) expect({ f, mode: fs.statSync(path.join(dir, f)).mode & 0o777 }).toEqual({ f, mode: 0o600 });

    const second = await startEngine({ port: 0, dbPath: dir });
    engines.push(second);
    const c2 = await connect(second.uri);
    expect(await c2.db('durable').collection('kept').countDocuments()).toBe(1000);
    expect(await c2.db('durable').collection('kept').findOne({ bank: '6222020200112233500' })).toEqual({ _id: 500, bank: '6222020200112233500' });
    const dup = await c2.db('durable').collection('kept').insertOne({ bank: '6222020200112233001' }).then(
      () => undefined,
      (e: { code?: number }) => e.code,
    );
    expect(dup).toBe(11000);
    // The files the running engine keeps open are owner-only too (SQLite gives its log the database's mode).
    for (const f of fs.readdirSync(dir)) expect({ f, mode: fs.statSync(path.join(dir, f)).mode & 0o777 }).toEqual({ f, mode: 0o600 });
  });

  it('refuses a second live engine on the directory with a clear message, and starts at once after kill -9 of the holder', async () => {
    const dir = await tempDir();
    const holder = await spawnEngine(['--port', '0', '--dbpath', dir]);
    const refused = await spawnEngine(['--port', '0', '--dbpath', dir], { timeoutMs: 30_000 }).then(
      () => undefined,
      (e: Error) => e.message,
    );
    expect(refused).toMatch(/exited \(code 2/);
    expect(refused).toContain(`data directory ${dir} is in use by another engine (process ${holder.proc.pid})`);
    // In this process too, without touching the holder's lock.
    expect(() => new Engine({ port: 0, dbPath: dir })).toThrow(/is in use by another engine/);

    // kill -9, and a supervisor restarting at once: the kernel dropped the lock with the process, zombie or not.
    holder.proc.kill('SIGKILL');
    const again = await spawnEngine(['--port', '0', '--dbpath', dir]);
    const client = await connect(again.uri);
    expect((await client.db('admin').command({ ping: 1 })).ok).toBe(1);
    await client.close();
    await sigkill(again);
  });

  it('with --fsync commit (every commit on disk before the answer) keeps acknowledged writes across kill -9 too', async () => {
    const dir = await tempDir();
    const first = await spawnEngine(['--port', '0', '--dbpath', dir, '--fsync', 'commit']);
    const client = await connect(first.uri);
    const coll = client.db('durable').collection('fsynced');
    for (let i = 0; i < 50; i++) await coll.insertOne({ _id: i, at: i } as Document);
    await coll.updateOne({ _id: 7 as never }, { $set: { at: 'changed' } });
    await sigkill(first);
    await client.close().catch(() => {});
    const second = await spawnEngine(['--port', '0', '--dbpath', dir, '--fsync', 'commit']);
    const again = await connect(second.uri);
    const docs = await again.db('durable').collection('fsynced').find().sort({ _id: 1 }).toArray();
    expect(docs).toHaveLength(50);
    expect(docs[7]).toEqual({ _id: 7, at: 'changed' });
    await again.close();
    await sigkill(second);
  });

  it('answers a retryable write repeated after kill -9 with the recorded answer instead of applying it again', async () => {
    const dir = await tempDir();
    const port = await freePort();
    const first = await spawnEngine(['--port', String(port), '--dbpath', dir]);
    // One client for the whole test: after the restart on the same port it reconnects, with the same session.
    const client = new MongoClient(first.uri, { retryWrites: false, serverSelectionTimeoutMS: 20_000, heartbeatFrequencyMS: 500 });
    clients.push(client);
    await client.connect();
    const db = client.db('durable');
    const session = client.startSession();
    const write = (txnNumber: number) =>
      db.command({ update: 'counters', updates: [{ q: { _id: 'c' }, u: { $inc: { n: 1 } }, upsert: true }], txnNumber: Long.fromNumber(txnNumber) }, { session });
    const firstAnswer = await write(7);
    expect(firstAnswer).toMatchObject({ n: 1, nModified: 0, upserted: [{ index: 0, _id: 'c' }] });
    await sigkill(first);

    const second = await spawnEngine(['--port', String(port), '--dbpath', dir]);
    const retried = await write(7);
    expect(retried).toMatchObject({ n: 1, nModified: 0, upserted: [{ index: 0, _id: 'c' }] });
    expect(await db.collection('counters').findOne({ _id: 'c' as never })).toEqual({ _id: 'c', n: 1 });
    // The next txnNumber is a new write.
    expect(await write(8)).toMatchObject({ n: 1, nModified: 1 });
    expect(await db.collection('counters').findOne({ _id: 'c' as never })).toEqual({ _id: 'c', n: 2 });
    await session.endSession();
    await sigkill(second);
  });
});

describe.runIf(isEmbedded)('memory only (embedded engine only)', () => {
  it('forgets everything when the engine stops', async () => {
    const first = await startEngine({ port: 0, dbPath: null });
    expect(first.dbPath).toBeNull();
    const c1 = await connect(first.uri);
    await c1.db('volatile').collection('c').insertOne({ a: 1 });
    expect((await c1.db('admin').admin().listDatabases()).databases.map((d) => d.name)).toContain('volatile');
    await c1.close();
    await first.close();

    const second = await startEngine({ port: 0, dbPath: null });
    engines.push(second);
    const c2 = await connect(second.uri);
    expect(await c2.db('volatile').collection('c').countDocuments()).toBe(0);
    expect((await c2.db('admin').admin().listDatabases()).databases.map((d) => d.name)).not.toContain('volatile');
  });
});
