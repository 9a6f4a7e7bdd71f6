// The write-ahead log is copied into the database file by the checkpointer's thread while the writer goes on, and
// the engine's own process runs with the V8 flags that keep its memory bounded.
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MongoClient, type Document } from 'mongodb';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { BACKSTOP_BYTES } from '../../engine/checkpointer.ts';
import { startEngine } from '../../engine/index.ts';
import { PAGE_SIZE } from '../../engine/store.ts';
import { ENGINE_V8_FLAGS } from '../../engine/process-flags.ts';
import { isEmbedded } from '../helpers/mongo.ts';
import { killAllChildren, spawnEngine } from './child.ts';

const dirs: string[] = [];
afterAll(async () => {
  killAllChildren();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const sizeOf = (file: string): number => (fs.existsSync(file) ? fs.statSync(file).size : 0);

describe.runIf(isEmbedded)('checkpoints (embedded engine only)', () => {
  it('copy the log into the database file while the engine runs, and a clean stop leaves no log behind', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'engine-checkpoints-'));
    dirs.push(dir);
    const engine = await startEngine({ port: 0, dbPath: dir });
    const client = await new MongoClient(engine.uri).connect();
    const coll = client.db('ckpt').collection('claims');
    await coll.createIndex({ claimNo: 1 }, { unique: true });
    const filler = 'x'.repeat(2000);
    for (let b = 0; b < 10; b++) {
      await coll.insertMany(Array.from({ length: 1000 }, (_, i) => ({ claimNo: `EC-${b}-${i}`, filler })) as Document[]);
    }
    // 20 MB written, below the writer's own backstop (512 MiB of log): only the checkpointer moves it into the file.
    expect(BACKSTOP_BYTES).toBeGreaterThan(60 * 1024 * 1024);
    const db = path.join(dir, 'engine.sqlite');
    await vi.waitFor(() => expect(sizeOf(db)).toBeGreaterThan(20_000_000), { timeout: 30_000, interval: 50 });
    expect(await coll.countDocuments()).toBe(10_000);
    await client.close();
    await engine.close();
    expect(sizeOf(`${db}-wal`)).toBe(0);

    const again = await startEngine({ port: 0, dbPath: dir });
    const reader = await new MongoClient(again.uri).connect();
    expect(await reader.db('ckpt').collection('claims').findOne({ claimNo: 'EC-9-999' }, { projection: { _id: 0, claimNo: 1 } })).toEqual({ claimNo: 'EC-9-999' });
    await reader.close();
    await again.close();
  });

  it('gives a new database pages of 8 KiB and leaves an existing database its own page size', async () => {
    const { DatabaseSync } = await import('node:sqlite');
    const pageSize = (file: string) => {
      const db = new DatabaseSync(file, { readOnly: true });
      try {
        return (db.prepare('PRAGMA page_size').get() as { page_size: number }).page_size;
      } finally {
        db.close();
      }
    };
    const fresh = await mkdtemp(path.join(tmpdir(), 'engine-page-new-'));
    const older = await mkdtemp(path.join(tmpdir(), 'engine-page-old-'));
    dirs.push(fresh, older);
    // A database file made with SQLite's default 4 KiB pages in WAL mode, as the first releases of this storage made them.
    const made = new DatabaseSync(path.join(older, 'engine.sqlite'));
    made.exec("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE earlier(a); INSERT INTO earlier VALUES ('kept');");
    made.close();
    for (const dir of [fresh, older]) {
      const engine = await startEngine({ port: 0, dbPath: dir });
      const client = await new MongoClient(engine.uri).connect();
      await client.db('pages').collection('c').insertOne({ _id: 'one' as never, filler: 'z'.repeat(20_000) });
      expect(await client.db('pages').collection('c').findOne({ _id: 'one' as never })).toEqual({ _id: 'one', filler: 'z'.repeat(20_000) });
      await client.close();
      await engine.close();
    }
    expect(pageSize(path.join(fresh, 'engine.sqlite'))).toBe(PAGE_SIZE);
    expect(PAGE_SIZE).toBe(8192);
    expect(pageSize(path.join(older, 'engine.sqlite'))).toBe(4096);
  });

  it('runs the engine process with its V8 flags, as the same process (pid) its supervisor started', async () => {
    const child = await spawnEngine(['--port', '0', '--memory']);
    const argv = fs.readFileSync(`/proc/${child.proc.pid}/cmdline`, 'utf8').split('\0');
    for (const flag of ENGINE_V8_FLAGS) expect(argv).toContain(flag);
    expect(argv).toContain('--import');
    child.proc.kill('SIGTERM');
    const exit = await child.exited;
    expect({ ...exit, output: exit.code === 0 ? '' : child.output() }).toEqual({ code: 0, signal: null, output: '' });
  });
});

describe.runIf(isEmbedded)('the log under overlapping transactions (embedded engine only)', () => {
  it('stays bounded: transactions that always overlap (each holds a snapshot) wait a moment for the log to restart', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'engine-log-restart-'));
    dirs.push(dir);
    const limit = 512 * 1024;
    const engine = await startEngine({ port: 0, dbPath: dir, logRestartBytes: limit });
    const client = await new MongoClient(engine.uri, { maxPoolSize: 8 }).connect();
    const coll = client.db('logs').collection('entries');
    await coll.createIndex({ worker: 1, n: 1 }, { unique: true });
    const wal = path.join(dir, 'engine.sqlite-wal');
    const filler = 'y'.repeat(4000);
    let largest = 0;
    // Six workers, each one transaction after another: at any instant some are open, as under the soak's load.
    const worker = async (w: number) => {
      for (let n = 0; n < 150; n++) {
        const session = client.startSession();
        try {
          await session.withTransaction(async () => {
            await coll.insertOne({ worker: w, n, filler }, { session });
            await coll.findOne({ worker: w, n }, { session });
          });
        } finally {
          await session.endSession();
        }
        largest = Math.max(largest, sizeOf(wal));
      }
    };
    await Promise.all([0, 1, 2, 3, 4, 5].map(worker));
    // 900 transactions of a 4 KB document each: several MB through the log, which held at about its limit.
    expect(await coll.countDocuments()).toBe(900);
    expect(fs.statSync(path.join(dir, 'engine.sqlite')).size + sizeOf(wal)).toBeGreaterThan(900 * filler.length);
    expect(largest).toBeLessThan(4 * limit);
    await client.close();
    await engine.close();
  }, 60_000);
});
