// Realistic sizes through the real driver over TCP: a 50 MB collection and a 100 MB GridFS file across a clean
// stop and kill -9, the 16 MiB document limit (insert and update), and an ordered batch stopped by a duplicate.
// Tests of the engine's own data directory and CLI are "(embedded engine only)"; the others also run against
// MONGODB_URI.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BSON } from 'bson';
import { Binary, Decimal128, type Document, GridFSBucket, MongoBulkWriteError, MongoClient, MongoServerError, type ObjectId } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { isEmbedded, rejection, useMongo } from '../helpers/mongo.ts';
import { type EngineChild, exitWithin, killAllChildren, spawnEngine } from './child.ts';
import { RawConnection, opMsg } from './raw-wire.ts';

const m = useMongo('large');
const MiB = 1024 * 1024;
const MAX_BSON = 16 * MiB;

const dirs: string[] = [];
const clients: MongoClient[] = [];

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  killAllChildren();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'engine-large-'));
  dirs.push(dir);
  return dir;
}

async function connect(uri: string): Promise<MongoClient> {
  const client = new MongoClient(uri, { retryWrites: false, serverSelectionTimeoutMS: 10_000 });
  clients.push(client);
  await client.connect();
  return client;
}

async function cleanStop(child: EngineChild): Promise<void> {
  child.proc.kill('SIGINT');
  expect(await exitWithin(child, 60_000)).toEqual({ code: 0, signal: null });
}

async function kill9(child: EngineChild): Promise<void> {
  child.proc.kill('SIGKILL');
  expect((await exitWithin(child, 10_000)).signal).toBe('SIGKILL');
}

// ---------------------------------------------------------------------------------------------------------
// A 50 MB collection: 2,500 documents of 20 KB, regenerated from their number to compare byte for byte

const DOCS = 2_500;
const POOL = randomBytes(256 * 1024);

function bigDoc(i: number): Document {
  const offset = (i * 7919) % (POOL.length - 20 * 1024);
  const body = Buffer.from(POOL.subarray(offset, offset + 20 * 1024));
  body.writeUInt32BE(i, 0); // no two documents alike
  return { _id: i, title: `archive record ${i}`, amount: Decimal128.fromString(`${i}.25`), filedAt: new Date(Date.UTC(2024, 0, 1) + i * 60_000), body: new Binary(body) };
}

async function writeCollection(client: MongoClient, db: string): Promise<void> {
  const coll = client.db(db).collection('records');
  for (let s = 0; s < DOCS; s += 250) await coll.insertMany(Array.from({ length: 250 }, (_, j) => bigDoc(s + j)));
}

/** Every document back, byte for byte, in _id order; returns the SHA-256 of them all. */
async function checkCollection(client: MongoClient, db: string): Promise<string> {
  const all = createHash('sha256');
  const expected = createHash('sha256');
  let n = 0;
  for await (const doc of client.db(db).collection('records').find({}).sort({ _id: 1 })) {
    const bytes = BSON.serialize(doc);
    const want = BSON.serialize(bigDoc(n));
    if (!Buffer.from(bytes).equals(Buffer.from(want))) throw new Error(`document ${n} differs from what was written (${String(doc._id)})`);
    all.update(bytes);
    expected.update(want);
    n++;
  }
  expect(n).toBe(DOCS);
  const digest = all.digest('hex');
  expect(digest).toBe(expected.digest('hex'));
  return digest;
}

describe.runIf(isEmbedded)('a 50 MB collection in a data directory (embedded engine only)', () => {
  it(
    'comes back whole, byte for byte, after kill -9 right after the writes and after a clean stop',
    async () => {
      const dir = await tempDir();
      const first = await spawnEngine(['--port', '0', '--dbpath', dir], { timeoutMs: 60_000 });
      const c1 = await connect(first.uri);
      expect(DOCS * BSON.calculateObjectSize(bigDoc(0))).toBeGreaterThan(50 * 1000 * 1000);
      await writeCollection(c1, 'large');
      await kill9(first); // everything was acknowledged: it must all be there

      const second = await spawnEngine(['--port', '0', '--dbpath', dir], { timeoutMs: 60_000 });
      const c2 = await connect(second.uri);
      const afterKill = await checkCollection(c2, 'large');
      await cleanStop(second);

      const third = await spawnEngine(['--port', '0', '--dbpath', dir], { timeoutMs: 60_000 });
      const c3 = await connect(third.uri);
      expect(await checkCollection(c3, 'large')).toBe(afterKill);
      await kill9(third);
    },
    120_000,
  );

  it(
    'is read holding about one batch of buffers: rows and replies are released as each getMore is answered, and read again whole',
    async () => {
      const dir = await tempDir();
      const writer = await spawnEngine(['--port', '0', '--dbpath', dir], { timeoutMs: 60_000 });
      await writeCollection(await connect(writer.uri), 'released');
      await cleanStop(writer); // the reader starts with none of the writes' buffers
      const child = await spawnEngine(['--port', '0', '--dbpath', dir], { timeoutMs: 60_000 });
      const client = await connect(child.uri);
      const db = client.db('released');
      const arrayBuffersMb = async () => Number(((await db.admin().command({ serverStatus: 1 })).mem as Document).arrayBuffers);
      const base = await arrayBuffersMb();
      // ~53 MB in 4 MiB batches: left to the collector, their rows and replies (twice the data) would pile up to
      // V8's 64 MiB allowance of external memory before a collection frees them.
      let peak = base;
      let seen = 0;
      let reply = await db.command({ find: 'records', filter: {}, sort: { _id: 1 }, batchSize: 1_000 });
      for (;;) {
        const cursor = reply.cursor as { id: bigint | number | { toString(): string }; firstBatch?: Document[]; nextBatch?: Document[] };
        seen += (cursor.firstBatch ?? cursor.nextBatch ?? []).length;
        peak = Math.max(peak, await arrayBuffersMb());
        if (String(cursor.id) === '0') break;
        reply = await db.command({ getMore: cursor.id, collection: 'records' });
      }
      expect(seen).toBe(DOCS);
      expect(peak - base).toBeLessThan(16);
      // Released bytes were never shared: a second read, and documents written inside a transaction and read in
      // it (bytes of the insert message, held by the transaction) come back whole.
      await checkCollection(client, 'released');
      const session = client.startSession();
      try {
        await session.withTransaction(async () => {
          const extra = db.collection('extra');
          await extra.insertMany(Array.from({ length: 300 }, (_, i) => bigDoc(i)), { session });
          for (let pass = 0; pass < 2; pass++) {
            const back = await extra.find({}, { session, batchSize: 100 }).sort({ _id: 1 }).toArray();
            expect(back.map((d) => Buffer.from(BSON.serialize(d)).equals(Buffer.from(BSON.serialize(bigDoc(Number(d._id))))))).toEqual(Array(300).fill(true));
          }
        });
      } finally {
        await session.endSession();
      }
      const committed = await db.collection('extra').find({}).sort({ _id: -1 }).toArray();
      expect(committed.map((d) => Number(d._id))).toEqual(Array.from({ length: 300 }, (_, i) => 299 - i));
      expect(Buffer.from(BSON.serialize(committed[0])).equals(Buffer.from(BSON.serialize(bigDoc(299))))).toBe(true);
      await cleanStop(child);
    },
    120_000,
  );
});

// ---------------------------------------------------------------------------------------------------------
// A 100 MB GridFS file, produced and checked as a stream (SHA-256 on both sides, never 100 MB in memory)

const FILE_MB = 100;
const FILE_POOL = randomBytes(4 * MiB);

/** MiB number `k` of the file. */
function mibOfFile(k: number): Buffer {
  const offset = (k * 104_729) % (3 * MiB);
  const chunk = Buffer.from(FILE_POOL.subarray(offset, offset + MiB));
  chunk.writeUInt32BE(k, 0);
  return chunk;
}

function* fileContent(): Generator<Buffer> {
  for (let k = 0; k < FILE_MB; k++) yield mibOfFile(k);
}

const fileDigest = (() => {
  let digest: string | undefined;
  return () => {
    if (!digest) {
      const h = createHash('sha256');
      for (const c of fileContent()) h.update(c);
      digest = h.digest('hex');
    }
    return digest;
  };
})();

async function upload(bucket: GridFSBucket, filename: string): Promise<ObjectId> {
  const stream = bucket.openUploadStream(filename, { metadata: { kind: 'scan' } });
  await pipeline(Readable.from(fileContent()), stream);
  return stream.id as ObjectId;
}

async function download(bucket: GridFSBucket, id: ObjectId): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  await pipeline(
    bucket.openDownloadStream(id),
    new Writable({
      write(chunk: Buffer, _enc, done) {
        h.update(chunk);
        bytes += chunk.length;
        done();
      },
    }),
  );
  return { sha256: h.digest('hex'), bytes };
}

describe('a 100 MB GridFS file', () => {
  it(
    'uploads through openUploadStream and downloads byte-equal through openDownloadStream, with the bucket indexes in place',
    async () => {
      const bucket = new GridFSBucket(m.db, { bucketName: 'scans' });
      const id = await upload(bucket, 'claim-scans.pdf');
      const [file] = await bucket.find({ _id: id }).toArray();
      expect(file).toMatchObject({ filename: 'claim-scans.pdf', length: FILE_MB * MiB, chunkSize: 255 * 1024, metadata: { kind: 'scan' } });
      expect(await m.db.collection('scans.chunks').countDocuments({ files_id: id })).toBe(Math.ceil((FILE_MB * MiB) / (255 * 1024)));
      expect(await download(bucket, id)).toEqual({ sha256: fileDigest(), bytes: FILE_MB * MiB });

      const filesIndexes = await m.db.collection('scans.files').listIndexes().toArray();
      expect(filesIndexes.find((ix) => ix.name === 'filename_1_uploadDate_1')?.key).toEqual({ filename: 1, uploadDate: 1 });
      const chunksIndexes = await m.db.collection('scans.chunks').listIndexes().toArray();
      expect(chunksIndexes.find((ix) => ix.name === 'files_id_1_n_1')).toMatchObject({ key: { files_id: 1, n: 1 }, unique: true });
      // A range inside the file, as a video player or a PDF viewer asks for it.
      const start = 37 * MiB + 12_345;
      const part: Buffer[] = [];
      for await (const c of bucket.openDownloadStream(id, { start, end: start + 300_000 })) part.push(c as Buffer);
      const whole = Buffer.concat([mibOfFile(37), mibOfFile(38)]);
      expect(Buffer.concat(part).equals(whole.subarray(12_345, 12_345 + 300_000))).toBe(true);
    },
    120_000,
  );

  it.runIf(isEmbedded)(
    'survives a clean stop and a kill -9 of the engine process (embedded engine only)',
    async () => {
      const dir = await tempDir();
      const first = await spawnEngine(['--port', '0', '--dbpath', dir], { timeoutMs: 60_000 });
      const c1 = await connect(first.uri);
      const id = await upload(new GridFSBucket(c1.db('files'), { bucketName: 'scans' }), 'kept.pdf');
      await cleanStop(first);

      const second = await spawnEngine(['--port', '0', '--dbpath', dir], { timeoutMs: 60_000 });
      const c2 = await connect(second.uri);
      expect(await download(new GridFSBucket(c2.db('files'), { bucketName: 'scans' }), id)).toEqual({ sha256: fileDigest(), bytes: FILE_MB * MiB });
      await kill9(second);

      const third = await spawnEngine(['--port', '0', '--dbpath', dir], { timeoutMs: 60_000 });
      const c3 = await connect(third.uri);
      const bucket = new GridFSBucket(c3.db('files'), { bucketName: 'scans' });
      expect(await download(bucket, id)).toEqual({ sha256: fileDigest(), bytes: FILE_MB * MiB });
      const [file] = await bucket.find({ filename: 'kept.pdf' }).toArray();
      expect(file._id).toEqual(id);
      await kill9(third);
    },
    120_000,
  );
});

// ---------------------------------------------------------------------------------------------------------
// The 16 MiB document limit

/** `{ _id, s: 'x…' }` of exactly `size` bytes of BSON. */
function docOfSize(id: string, size: number): { _id: string; s: string } {
  const overhead = BSON.calculateObjectSize({ _id: id, s: '' });
  const doc = { _id: id, s: 'x'.repeat(size - overhead) };
  expect(BSON.calculateObjectSize(doc)).toBe(size);
  return doc;
}

describe('the 16 MiB document limit', () => {
  it(
    'refuses a document of 16 MiB + 1 byte with BSONObjectTooLarge (10334) and writes nothing',
    async () => {
      const coll = m.db.collection('limits');
      await coll.insertOne({ _id: 'before' as never });
      const before = await coll.countDocuments();
      const err = await rejection<MongoServerError>(() => coll.insertOne(docOfSize('too-big', MAX_BSON + 1) as never));
      // The driver sends it (it leaves the limit to the server): the server answers.
      expect(err).toBeInstanceOf(MongoServerError);
      expect(err.code).toBe(10334);
      expect(await coll.countDocuments()).toBe(before);
      expect(await coll.countDocuments({ _id: 'too-big' as never })).toBe(0);
    },
    120_000,
  );

  it(
    'accepts a document of 16 MiB - 1 KB and reads it back',
    async () => {
      const coll = m.db.collection('limits');
      const doc = docOfSize('just-fits', MAX_BSON - 1024);
      await coll.insertOne(doc as never);
      const back = await coll.findOne({ _id: 'just-fits' as never });
      expect(back?.s.length).toBe(doc.s.length);
      expect(back?.s === doc.s).toBe(true);
    },
    120_000,
  );

  it(
    'refuses an update that would grow a 9 MB document past 16 MiB, leaving the document unchanged',
    async () => {
      const coll = m.db.collection('limits');
      const nine = 'a'.repeat(9 * MiB);
      await coll.insertOne({ _id: 'grows' as never, a: nine, n: 1 });
      const err = await rejection<MongoServerError>(() => coll.updateOne({ _id: 'grows' as never }, { $set: { b: 'b'.repeat(9 * MiB) }, $inc: { n: 1 } }));
      expect(err).toBeInstanceOf(MongoServerError);
      // MongoDB 7 answers BSONObjectTooLarge (10334); servers before it answered 17419 for the same refusal.
      expect([10334, 17419]).toContain(err.code);
      const after = await coll.findOne({ _id: 'grows' as never });
      expect(Object.keys(after!)).toEqual(['_id', 'a', 'n']);
      expect(after!.n).toBe(1);
      expect(after!.a === nine).toBe(true);
    },
    120_000,
  );

  it.runIf(isEmbedded)(
    'refuses 16 MiB + 1 byte sent as a raw OP_MSG document sequence, whatever the driver checks (embedded engine only)',
    async () => {
      const conn = await RawConnection.open(m.engine!.host, m.engine!.port);
      try {
        await conn.authenticate(m.engine!.credentials);
        const doc = docOfSize('raw-too-big', MAX_BSON + 1);
        const reply = await conn.request(opMsg({ insert: 'limits_raw', ordered: true, $db: m.dbName }, { sequences: { documents: [doc, { _id: 'after' }] } }), 30_000);
        const answer = reply.documents[0];
        expect(answer).toMatchObject({ ok: 1, n: 0 });
        expect(answer.writeErrors).toEqual([expect.objectContaining({ index: 0, code: 10334 })]);
      } finally {
        conn.close();
      }
      expect(await m.db.collection('limits_raw').countDocuments()).toBe(0);
    },
    120_000,
  );
});

// ---------------------------------------------------------------------------------------------------------
// Ordered batches stop at the first failure; what was applied before it is answered as applied

describe('an ordered insertMany whose second document is a duplicate', () => {
  it('inserts the first, reports writeErrors[index 1] and n = 1, and stops there', async () => {
    const coll = m.db.collection('ordered');
    await coll.insertOne({ _id: 'taken' as never });
    const err = await rejection<MongoBulkWriteError>(() => coll.insertMany([{ _id: 'first' }, { _id: 'taken' }, { _id: 'third' }] as never[], { ordered: true }));
    expect(err).toBeInstanceOf(MongoBulkWriteError);
    expect(err.insertedCount).toBe(1);
    expect(err.insertedIds).toEqual({ 0: 'first' });
    const writeErrors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    expect(writeErrors.map((e) => [e.index, e.code])).toEqual([[1, 11000]]);
    expect(await coll.find({}, { sort: { _id: 1 } }).toArray()).toEqual([{ _id: 'first' }, { _id: 'taken' }]);
  });

  it('answers the insert command with ok: 1, n: 1 and the write error, not as a plain error, since the first document was applied', async () => {
    const reply = await m.db.command({ insert: 'ordered_cmd', documents: [{ _id: 1 }, { _id: 1 }, { _id: 2 }], ordered: true });
    expect(reply.ok).toBe(1);
    expect(reply.n).toBe(1);
    expect(reply.writeErrors).toHaveLength(1);
    expect(reply.writeErrors[0]).toMatchObject({ index: 1, code: 11000 });
    expect(reply.errmsg).toBeUndefined();
    expect(await m.db.collection('ordered_cmd').find().toArray()).toEqual([{ _id: 1 }]);
  });
});
