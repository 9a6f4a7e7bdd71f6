// Upgrade without loss: a data directory written by the engine's first storage format (journal + snapshot,
// fixtures in fixtures/legacy-v1, made by that release) is migrated on the first start, whole, with every BSON
// type and index, and its old files are kept aside, never deleted.
import fs from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Binary, Decimal128, Double, Int32, Long, MongoClient, type Document } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, type RunningEngine } from '../../engine/index.ts';
import { isEmbedded } from '../helpers/mongo.ts';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/legacy-v1');
const dirs: string[] = [];
const clients: MongoClient[] = [];
const running: RunningEngine[] = [];

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  for (const e of running) await e.close().catch(() => {});
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function copyOf(name: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'engine-migration-'));
  dirs.push(dir);
  await cp(path.join(fixtures, name), dir, { recursive: true });
  return dir;
}

async function start(dir: string): Promise<{ engine: RunningEngine; client: MongoClient; log: Array<{ obj: Record<string, unknown>; msg?: string }> }> {
  const log: Array<{ obj: Record<string, unknown>; msg?: string }> = [];
  const at = (obj: object, msg?: string) => log.push({ obj: obj as Record<string, unknown>, msg });
  const engine = await new Engine({ port: 0, dbPath: dir, logger: { info: at, warn: at, error: at, debug() {} } }).listen();
  running.push(engine);
  const client = await new MongoClient(engine.uri, { promoteValues: false }).connect();
  clients.push(client);
  return { engine, client, log };
}

async function expectTheFixtureState(client: MongoClient): Promise<void> {
  const db = client.db('oa_archive');
  const claims = db.collection('expense_claims');
  expect((await claims.countDocuments()).valueOf()).toBe(299); // 300, one deleted in the journal
  expect(await claims.findOne({ claimNo: 'BX-2026-00002' })).toBeNull();
  const one = (await claims.findOne({ claimNo: 'BX-2026-00001' })) as Document;
  expect(one.status).toBe('APPROVED');
  expect(one.amount).toEqual(Decimal128.fromString('1.10'));
  const seven = (await claims.findOne({ claimNo: 'BX-2026-00007' })) as Document;
  expect(seven.title).toBe('差旅费 上海 — taxi');
  expect(seven.amount).toEqual(Decimal128.fromString('7.07'));
  expect(seven.count).toEqual(new Int32(7));
  expect(seven.big).toEqual(Long.fromString('9007199254740993'));
  expect(seven.ratio).toEqual(new Double(7 / 3));
  expect(seven.submittedAt).toEqual(new Date(Date.UTC(2026, 7, 8)));
  expect(seven.items).toEqual([
    { kind: 'taxi', amount: Decimal128.fromString('12.30') },
    { kind: 'hotel', amount: Decimal128.fromString('450.00') },
  ]);
  expect((seven.blob as Binary).buffer).toEqual(new Binary(Buffer.from([0, 1, 2, 7])).buffer);
  // The committed transaction of the journal.
  expect(((await claims.findOne({ claimNo: 'BX-2026-00003' })) as Document).status).toBe('PAID');
  expect(await db.collection('vouchers').findOne({ _id: 'V-1' as never })).toEqual({ _id: 'V-1', claimNo: 'BX-2026-00003' });
  // A collection dropped in the journal stays dropped; one created there is there, 50 KB whole.
  const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
  expect(names).toEqual(['archive_records', 'expense_claims', 'sessions_ttl', 'vouchers']);
  const record = (await db.collection('archive_records').findOne({ _id: 'AR-1' as never })) as Document;
  expect(record.content).toBe('x'.repeat(50_000));
  // Indexes, with their options, in force.
  const indexes = (await claims.listIndexes().toArray()).map((ix) => [ix.name, ix.unique ?? false]);
  expect(indexes).toEqual([
    ['_id_', false],
    ['claimNo_1', true],
    ['departmentId_1_submittedAt_-1', false],
  ]);
  const ttl = (await db.collection('sessions_ttl').listIndexes().toArray()).find((ix) => ix.name === 'at_1');
  expect(Number(ttl?.expireAfterSeconds)).toBe(3600);
  const dup = await claims.insertOne({ claimNo: 'BX-2026-00010' }).then(
    () => undefined,
    (e: { code?: number }) => Number(e.code),
  );
  expect(dup).toBe(11000);
  // The compound index serves queries and their order.
  const d1 = await claims.find({ departmentId: 'D1' }).sort({ submittedAt: -1 }).toArray();
  expect(d1).toHaveLength(60);
  const times = d1.map((d) => (d.submittedAt as Date).getTime());
  expect(times).toEqual([...times].sort((a, b) => b - a));
}

describe.runIf(isEmbedded)('migration from the first storage format (embedded engine only)', () => {
  it('migrates a directory left by kill -9: every document, type and index; the old files kept aside', async () => {
    const dir = await copyOf('clean-kill');
    const { engine, client, log } = await start(dir);
    await expectTheFixtureState(client);
    const files = fs.readdirSync(dir);
    expect(files.filter((f) => /^(snapshot|journal)/.test(f))).toEqual([]);
    const kept = files.filter((f) => f.startsWith('legacy-format-1-'));
    expect(kept).toHaveLength(1);
    expect(fs.readdirSync(path.join(dir, kept[0])).sort()).toEqual(['engine.lock', 'journal.00000001.log', 'snapshot.bson']);
    expect(fs.statSync(path.join(dir, kept[0])).mode & 0o777).toBe(0o700);
    const report = log.find((l) => /migrated the data directory/.test(l.msg ?? ''));
    expect(report?.obj).toMatchObject({ collections: 4, documents: 302, journalRecords: 7, droppedTailBytes: 0 });

    // A second start is a plain start: nothing migrated twice.
    await client.close();
    await engine.close();
    const again = await start(dir);
    await expectTheFixtureState(again.client);
    expect(again.log.some((l) => /migrated/.test(l.msg ?? ''))).toBe(false);
  });

  it('migrates a directory where a snapshot was cut off half way (snapshot.tmp), keeping the partial file aside', async () => {
    const dir = await copyOf('partial-snapshot');
    const { client } = await start(dir);
    await expectTheFixtureState(client);
    const kept = fs.readdirSync(dir).find((f) => f.startsWith('legacy-format-1-'))!;
    expect(fs.readdirSync(path.join(dir, kept))).toContain('snapshot.tmp');
  });

  it('migrates a directory whose journal ends in a torn record, leaving out only that record', async () => {
    const dir = await copyOf('torn-journal');
    const { client, log } = await start(dir);
    await expectTheFixtureState(client);
    expect(log.find((l) => /migrated the data directory/.test(l.msg ?? ''))?.obj).toMatchObject({ droppedTailBytes: 11 });
  });

  it('refuses, and changes nothing, when the old snapshot itself is incomplete', async () => {
    const dir = await copyOf('clean-kill');
    const snapshot = path.join(dir, 'snapshot.bson');
    fs.truncateSync(snapshot, 40_000);
    expect(() => new Engine({ port: 0, dbPath: dir })).toThrow(/snapshot\.bson is incomplete; refusing to migrate partial data/);
    expect(fs.statSync(snapshot).size).toBe(40_000);
    expect(fs.existsSync(path.join(dir, 'journal.00000001.log'))).toBe(true);
  });
});
