// Durability of the embedded engine: every acknowledged write survives kill -9; a torn last journal record is
// dropped whole; snapshots; memory-only engines forget everything.
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { BSON, MongoClient, type Document } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, startEngine } from '../../engine/index.ts';
import { isEmbedded, sleep } from '../helpers/mongo.ts';
import { exitWithin, killAllChildren, logLines, spawnEngine, type EngineChild } from './child.ts';

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

function newestJournal(dir: string): string {
  const journals = fs.readdirSync(dir).filter((f) => /^journal\.\d+\.log$/.test(f)).sort();
  expect(journals.length).toBeGreaterThan(0);
  return path.join(dir, journals.at(-1)!);
}

/** A journal record as the engine writes it: [u32 length][u32 CRC-32][BSON {ops}]. */
function journalFrame(ops: Document[]): Buffer {
  const body = Buffer.from(BSON.serialize({ ops }));
  const head = Buffer.alloc(8);
  head.writeUInt32LE(body.length, 0);
  head.writeUInt32LE(crc32(body), 4);
  return Buffer.concat([head, body]);
}

function recordingLogger() {
  const entries: Array<{ level: string; obj: Record<string, unknown>; msg?: string }> = [];
  const at = (level: string) => (obj: object, msg?: string) => entries.push({ level, obj: obj as Record<string, unknown>, msg });
  return { entries, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
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

describe.runIf(isEmbedded)('a torn last journal record (embedded engine only)', () => {
  const cases: Array<[string, (dir: string) => number]> = [
    [
      'garbage bytes',
      (dir) => {
        const garbage = Buffer.from([0xab, 0xcd, 0xef, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08]);
        fs.appendFileSync(newestJournal(dir), garbage);
        return garbage.length;
      },
    ],
    [
      'a truncated frame',
      (dir) => {
        const frame = journalFrame([{ o: 'put', db: 'durable', c: 'torn', d: { _id: 'torn', v: 'half-written' } }]);
        const half = frame.subarray(0, Math.floor(frame.length / 2));
        fs.appendFileSync(newestJournal(dir), half);
        return half.length;
      },
    ],
    [
      'a whole frame with a wrong checksum',
      (dir) => {
        const frame = journalFrame([{ o: 'put', db: 'durable', c: 'torn', d: { _id: 'torn', v: 'corrupt' } }]);
        frame.writeUInt32LE((frame.readUInt32LE(4) + 1) >>> 0, 4);
        fs.appendFileSync(newestJournal(dir), frame);
        return frame.length;
      },
    ],
  ];

  for (const [name, tear] of cases) {
    it(
      `drops ${name} at the end of the journal, keeps everything before it, and journals new writes after it`,
      async () => {
        const dir = await tempDir();
        const first = await spawnEngine(['--port', '0', '--dbpath', dir]);
        let client = await connect(first.uri);
        await client.db('durable').collection('torn').insertMany(Array.from({ length: 50 }, (_, i) => ({ _id: i, v: i })) as Document[]);
        await client.db('durable').collection('torn').updateOne({ _id: 0 as never }, { $set: { v: 'updated' } });
        await client.close();
        await sigkill(first);
        const sizeBefore = fs.statSync(newestJournal(dir)).size;
        const added = tear(dir);
        expect(fs.statSync(newestJournal(dir)).size).toBe(sizeBefore + added);

        const second = await spawnEngine(['--port', '0', '--dbpath', dir]);
        const recovered = logLines(second.output()).find((l) => l.msg === 'embedded engine recovered its data');
        expect(recovered?.droppedTailBytes).toBe(added);
        client = await connect(second.uri);
        const coll = client.db('durable').collection('torn');
        expect(await coll.countDocuments()).toBe(50);
        expect(await coll.findOne({ _id: 0 as never })).toEqual({ _id: 0, v: 'updated' });
        expect(await coll.findOne({ _id: 'torn' as never })).toBeNull();
        // The engine serves writes, and they land where a later recovery finds them.
        await coll.insertOne({ _id: 'after', v: 'recovery' } as Document);
        await client.close();
        await sigkill(second);

        const third = await spawnEngine(['--port', '0', '--dbpath', dir]);
        client = await connect(third.uri);
        const again = client.db('durable').collection('torn');
        expect(await again.countDocuments()).toBe(51);
        expect(await again.findOne({ _id: 'after' as never })).toEqual({ _id: 'after', v: 'recovery' });
        await client.close();
        await sigkill(third);
      },
      120_000,
    );
  }
});

describe.runIf(isEmbedded)('snapshots (embedded engine only)', () => {
  it('close() writes snapshot.bson and a restart reloads everything from it', async () => {
    const dir = await tempDir();
    const engine = new Engine({ port: 0, dbPath: dir });
    const running = await engine.listen();
    const client = await connect(running.uri);
    const coll = client.db('snap').collection('docs');
    await coll.createIndex({ k: 1 }, { unique: true });
    for (let i = 0; i < 2000; i += 500) {
      await coll.insertMany(Array.from({ length: 500 }, (_, j) => ({ _id: i + j, k: `key-${i + j}` })) as Document[]);
    }
    await coll.deleteMany({ _id: { $gte: 1990 } as never });
    await client.close();
    await engine.close();
    expect(fs.existsSync(path.join(dir, 'snapshot.bson'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'engine.lock'))).toBe(false);

    const logger = recordingLogger();
    const reopened = new Engine({ port: 0, dbPath: dir, logger });
    engines.push(reopened);
    const again = await connect((await reopened.listen()).uri);
    const report = logger.entries.find((e) => e.msg === 'embedded engine recovered its data')!.obj;
    expect(report.snapshotGeneration).toBeGreaterThanOrEqual(1);
    expect(report.journalRecords).toBe(0);
    expect(report.droppedTailBytes).toBe(0);
    const docs = again.db('snap').collection('docs');
    expect(await docs.countDocuments()).toBe(1990);
    expect(await docs.findOne({ _id: 1234 as never })).toEqual({ _id: 1234, k: 'key-1234' });
    const dup = await docs.insertOne({ k: 'key-5' }).then(
      () => undefined,
      (e: { code?: number }) => e.code,
    );
    expect(dup).toBe(11000);
  });

  it('compacts the journal into a snapshot past compactAtBytes, and a crash image recovers snapshot plus journal', async () => {
    const dir = await tempDir();
    const engine = new Engine({ port: 0, dbPath: dir, compactAtBytes: 32 * 1024 });
    engines.push(engine);
    const client = await connect((await engine.listen()).uri);
    const coll = client.db('snap').collection('compact');
    for (let i = 0; i < 400; i++) await coll.insertOne({ _id: i, blob: 'x'.repeat(200) } as Document);
    await coll.updateOne({ _id: 7 as never }, { $set: { blob: 'changed' } });
    const files = fs.readdirSync(dir);
    expect(files).toContain('snapshot.bson');
    const journals = files.filter((f) => /^journal\.\d+\.log$/.test(f));
    expect(journals).toHaveLength(1);
    expect(Number(/\d+/.exec(journals[0])![0])).toBeGreaterThanOrEqual(2); // several compactions happened
    expect(fs.statSync(path.join(dir, journals[0])).size).toBeLessThan(32 * 1024 + 1024);

    // The files as they are now are what a kill -9 would leave behind.
    const image = await tempDir();
    for (const f of files) if (f !== 'engine.lock') fs.copyFileSync(path.join(dir, f), path.join(image, f));
    const logger = recordingLogger();
    const recovered = new Engine({ port: 0, dbPath: image, logger });
    engines.push(recovered);
    const again = await connect((await recovered.listen()).uri);
    const report = logger.entries.find((e) => e.msg === 'embedded engine recovered its data')!.obj;
    expect(report.snapshotGeneration).toBeGreaterThanOrEqual(1);
    const docs = again.db('snap').collection('compact');
    expect(await docs.countDocuments()).toBe(400);
    expect((await docs.findOne({ _id: 7 as never }))!.blob).toBe('changed');
    expect((await docs.findOne({ _id: 399 as never }))!.blob).toBe('x'.repeat(200));
  });

  it('refuses to start on a data directory another live process holds', async () => {
    const dir = await tempDir();
    const holder = new Engine({ port: 0, dbPath: dir });
    engines.push(holder);
    await holder.listen();
    const child = spawnEngine(['--port', '0', '--dbpath', dir], { timeoutMs: 30_000 });
    const err = await child.then(
      () => undefined,
      (e: Error) => e.message,
    );
    expect(err).toMatch(/exited \(code 2/);
    expect(err).toContain(`data directory ${dir} is in use by process ${process.pid}`);
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
