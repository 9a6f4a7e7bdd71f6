// Storage spike (`npm run bench -- spike`): node:sqlite against LMDB (the `lmdb` package) on the same raw workload,
// without the engine, to compare the two libraries the engine's storage could be built on.
//
// Workload, the same for each library, each in a process of its own (so RSS and reopen are its own):
//   - 200,000 BSON documents of ~2 KB (expense claims, bench/fixtures.ts) keyed by a 12-byte id, each with 2 secondary
//     index entries (claimNo; departmentId + submittedAt), keys in the engine's order-preserving encoding
//     (engine/keys.ts), written in transactions of 1,000 with durable commits
//   - point lookups by id (p50/p99), a range scan of 10,000 index entries (keys only, and with their documents)
//   - single-document durable commits (1 document + 2 index entries) per second
//   - then, for comparison, each library with commits that reach the OS at once and the disk later (SQLite
//     synchronous=NORMAL, as the engine's default --fsync interval runs it; LMDB transactionSync with NO_SYNC_FLUSH)
//   - size on disk, RSS (VmHWM; anonymous vs file-backed), and reopen time (open + first read)
// Durability: SQLite in WAL mode with synchronous=FULL (the WAL is fsynced at every commit, as the engine runs it);
// LMDB with its default sync on commit: `transactionSync` (flags default to a synchronous commit flushed to disk
// before it returns), and the asynchronous `transaction()` awaited together with `db.flushed` (resolves once the
// commit is synced to disk, with LMDB's default overlappingSync).
//
// lmdb is not a dependency: `npm install --no-save lmdb` first; without it the LMDB columns are skipped.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BSON } from 'bson';
import { tupleKey, valueKey } from '../engine/keys.ts';
import { DEPARTMENTS, claimDoc, departmentOf, idOf, prng } from './fixtures.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DOCS = Number(process.env.SPIKE_DOCS ?? 200_000);
const TXN = 1_000;
const LOOKUPS = 20_000;
const RANGE = 10_000;
const SINGLE_COMMITS = 2_000;
const SINGLE_COMMIT_MS = 15_000;
const CACHE_MB = 256;
const MiB = 1024 * 1024;

type Variant = 'sqlite' | 'lmdb-sync' | 'lmdb-async' | 'sqlite-normal' | 'lmdb-nosync';

interface Result {
  variant: Variant;
  writeSeconds: number;
  docsPerSecond: number;
  lookupP50us: number;
  lookupP99us: number;
  rangeKeysMs: number;
  rangeDocsMs: number;
  rangeCount: number;
  singleCommitsPerSecond: number;
  fileBytes: number;
  allocatedBytes: number;
  hwm: number;
  rssAnon: number;
  rssFile: number;
  reopenMs: number;
}

// ---------------------------------------------------------------------------------------------------------
// The documents and their index entries

interface Item {
  id: Buffer;
  bson: Uint8Array;
  keys: [Buffer, Buffer];
}

function item(i: number): Item {
  const doc = claimDoc(i);
  return {
    id: Buffer.from((doc._id as { id: Uint8Array }).id),
    bson: BSON.serialize(doc),
    keys: [valueKey(doc.claimNo), tupleKey([doc.departmentId, doc.submittedAt], [1, 1])],
  };
}

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];

function memory(): { hwm: number; rssAnon: number; rssFile: number } {
  const s = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (f: string) => Number(new RegExp(`${f}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN) * 1024;
  return { hwm: kb('VmHWM'), rssAnon: kb('RssAnon'), rssFile: kb('RssFile') + kb('RssShmem') };
}

function diskUsage(dir: string): { fileBytes: number; allocatedBytes: number } {
  let fileBytes = 0;
  let allocatedBytes = 0;
  for (const f of fs.readdirSync(dir)) {
    const st = fs.statSync(path.join(dir, f));
    if (!st.isFile()) continue;
    fileBytes += st.size;
    allocatedBytes += st.blocks * 512;
  }
  return { fileBytes, allocatedBytes };
}

/** The keys of department `d` in the departmentId + submittedAt index: [lo, hi). */
function departmentRange(d: number): { lo: Buffer; hi: Buffer } {
  const prefix = valueKey(departmentOf(d));
  return { lo: prefix, hi: Buffer.concat([prefix, Buffer.from([0xff])]) };
}

// ---------------------------------------------------------------------------------------------------------
// One library: the operations the workload needs

interface Store {
  /** Writes the items in one durable transaction. */
  writeBatch(items: Item[]): Promise<void> | void;
  get(id: Buffer): Uint8Array | undefined;
  /** Index entries of index 2 in [lo, hi), at most `limit`; with `docs`, each entry's document too. Returns the count. */
  range(lo: Buffer, hi: Buffer, limit: number, docs: boolean): number;
  close(): Promise<void> | void;
}

function openSqlite(dir: string, synchronous: 'FULL' | 'NORMAL'): Store {
  const db = new DatabaseSync(path.join(dir, 'spike.sqlite'));
  db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${synchronous}; PRAGMA cache_size = -${CACHE_MB * 1024};
    PRAGMA journal_size_limit = ${64 * MiB};
    CREATE TABLE IF NOT EXISTS docs(rid INTEGER PRIMARY KEY, cid INTEGER NOT NULL, id BLOB NOT NULL, ver INTEGER NOT NULL, doc BLOB NOT NULL) STRICT;
    CREATE UNIQUE INDEX IF NOT EXISTS docs_by_id ON docs(cid, id);
    CREATE INDEX IF NOT EXISTS docs_in_order ON docs(cid, rid);
    CREATE TABLE IF NOT EXISTS ikeys(iid INTEGER NOT NULL, key BLOB NOT NULL, rid INTEGER NOT NULL, PRIMARY KEY(iid, key, rid)) STRICT, WITHOUT ROWID;`);
  const insertDoc = db.prepare('INSERT INTO docs(cid, id, ver, doc) VALUES (1, ?, 1, ?)');
  const addKey = db.prepare('INSERT INTO ikeys(iid, key, rid) VALUES (?, ?, ?)');
  const byId = db.prepare('SELECT rid, ver, doc FROM docs WHERE cid = 1 AND id = ?');
  const byRid = db.prepare('SELECT rid, ver, doc FROM docs WHERE rid = ?');
  // As the engine reads an index (engine/store.ts Reader.keys): pages of 256 entries, each resuming behind the last
  // (key, rid), a row value SQLite seeks to.
  const firstPage = db.prepare('SELECT key, rid FROM ikeys WHERE iid = 2 AND key >= ? AND key < ? ORDER BY key, rid LIMIT ?');
  const nextPage = db.prepare('SELECT key, rid FROM ikeys WHERE iid = 2 AND key < ? AND (key, rid) > (?, ?) ORDER BY key, rid LIMIT ?');
  return {
    writeBatch(items) {
      db.exec('BEGIN IMMEDIATE');
      try {
        for (const it of items) {
          const rid = Number(insertDoc.run(it.id, it.bson).lastInsertRowid);
          addKey.run(1, it.keys[0], rid);
          addKey.run(2, it.keys[1], rid);
        }
        db.exec('COMMIT');
      } catch (err) {
        db.exec('ROLLBACK');
        throw err;
      }
    },
    get(id) {
      return (byId.get(id) as { doc: Uint8Array } | undefined)?.doc;
    },
    range(lo, hi, limit, docs) {
      let n = 0;
      let last: { key: Uint8Array; rid: number } | undefined;
      while (n < limit) {
        const want = Math.min(256, limit - n);
        const rows = (last ? nextPage.all(hi, last.key, last.rid, want) : firstPage.all(lo, hi, want)) as Array<{ key: Uint8Array; rid: number }>;
        for (const r of rows) if (docs && !byRid.get(r.rid)) throw new Error('index entry without its document');
        n += rows.length;
        if (rows.length < want) break;
        last = rows[rows.length - 1];
      }
      return n;
    },
    close() {
      db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
      db.close();
    },
  };
}

/** The lmdb package, loaded only when installed (not a dependency). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Lmdb = { open(options: Record<string, unknown>): any };
async function loadLmdb(): Promise<Lmdb | undefined> {
  const name = 'lmdb';
  try {
    return (await import(name)) as Lmdb;
  } catch {
    return undefined;
  }
}

function openLmdb(lmdb: Lmdb, dir: string, mode: 'sync' | 'async' | 'nosync'): Store {
  // One environment (data.mdb), two named databases; raw keys and values, no encoding by the library.
  const env = lmdb.open({ path: dir, maxDbs: 4, keyEncoding: 'binary', encoding: 'binary', cache: false });
  const docs = env.openDB({ name: 'docs', keyEncoding: 'binary', encoding: 'binary', cache: false });
  const ikeys = env.openDB({ name: 'ikeys', keyEncoding: 'binary', encoding: 'binary', cache: false });
  // Index entry: index number, key, then the document id (unique per document, so equal keys never collide).
  const entry = (iid: number, key: Buffer, id: Buffer) => Buffer.concat([Buffer.from([iid]), key, id]);
  const put = (items: Item[], sync: boolean) => {
    for (const it of items) {
      if (sync) {
        docs.putSync(it.id, it.bson);
        ikeys.putSync(entry(1, it.keys[0], it.id), it.id);
        ikeys.putSync(entry(2, it.keys[1], it.id), it.id);
      } else {
        docs.put(it.id, it.bson);
        ikeys.put(entry(1, it.keys[0], it.id), it.id);
        ikeys.put(entry(2, it.keys[1], it.id), it.id);
      }
    }
  };
  return {
    async writeBatch(items) {
      if (mode === 'sync') {
        env.transactionSync(() => put(items, true)); // flags default: synchronous commit, flushed before it returns
        return;
      }
      if (mode === 'nosync') {
        // ABORTABLE | SYNCHRONOUS_COMMIT | NO_SYNC_FLUSH: committed (visible, in the OS) on return, flushed later.
        env.transactionSync(() => put(items, true), 0x10003);
        return;
      }
      await env.transaction(() => put(items, false));
      await env.flushed;
    },
    get(id) {
      return docs.getBinary(id) as Buffer | undefined;
    },
    range(lo, hi, limit, withDocs) {
      let n = 0;
      for (const { value } of ikeys.getRange({ start: Buffer.concat([Buffer.from([2]), lo]), end: Buffer.concat([Buffer.from([2]), hi]), limit })) {
        if (withDocs && !docs.getBinary(value)) throw new Error('index entry without its document');
        n++;
      }
      return n;
    },
    async close() {
      await env.close();
    },
  };
}

async function openStore(variant: Variant, dir: string): Promise<Store> {
  if (variant === 'sqlite' || variant === 'sqlite-normal') return openSqlite(dir, variant === 'sqlite' ? 'FULL' : 'NORMAL');
  const lmdb = await loadLmdb();
  if (!lmdb) throw new Error('the lmdb package is not installed');
  return openLmdb(lmdb, dir, variant === 'lmdb-sync' ? 'sync' : variant === 'lmdb-async' ? 'async' : 'nosync');
}

// ---------------------------------------------------------------------------------------------------------
// The workload, in a worker process

async function worker(variant: Variant, dir: string): Promise<Result> {
  const store = await openStore(variant, dir);
  // Writes: documents are generated outside the clock; each transaction of 1,000 is timed to its durable commit.
  let writeMs = 0;
  for (let s = 0; s < DOCS; s += TXN) {
    const items = Array.from({ length: Math.min(TXN, DOCS - s) }, (_, j) => item(s + j));
    const t = performance.now();
    await store.writeBatch(items);
    writeMs += performance.now() - t;
  }

  // Point lookups by id.
  const rnd = prng(99);
  const samples: number[] = [];
  for (let i = 0; i < LOOKUPS + 1000; i++) {
    const id = Buffer.from(idOf(1, Math.floor(rnd() * DOCS)).id);
    const t = performance.now();
    const doc = store.get(id);
    const us = (performance.now() - t) * 1000;
    if (!doc) throw new Error('lookup missed');
    if (i >= 1000) samples.push(us);
  }

  // Range scans of one department's 10,000 entries (the first of each run warms up).
  const time = (fn: () => number): { ms: number; n: number } => {
    let best = Infinity;
    let n = 0;
    for (let r = 0; r < 4; r++) {
      const t = performance.now();
      n = fn();
      if (r > 0) best = Math.min(best, performance.now() - t);
    }
    return { ms: best, n };
  };
  const { lo, hi } = departmentRange(5 % DEPARTMENTS);
  const keysOnly = time(() => store.range(lo, hi, RANGE, false));
  const withDocs = time(() => store.range(lo, hi, RANGE, true));

  // Single-document durable commits, one after another.
  let commits = 0;
  const start = performance.now();
  while (commits < SINGLE_COMMITS && performance.now() - start < SINGLE_COMMIT_MS) {
    await store.writeBatch([item(DOCS + commits)]);
    commits++;
  }
  const singleCommitsPerSecond = commits / ((performance.now() - start) / 1000);
  const mem = memory();
  await store.close();
  const disk = diskUsage(dir);

  // Reopen: open the files again and answer a first read.
  const t = performance.now();
  const again = await openStore(variant, dir);
  if (!again.get(Buffer.from(idOf(1, 12345 % DOCS).id))) throw new Error('the reopened store lost a document');
  const reopenMs = performance.now() - t;
  await again.close();

  return {
    variant,
    writeSeconds: writeMs / 1000,
    docsPerSecond: DOCS / (writeMs / 1000),
    lookupP50us: percentile(samples, 50),
    lookupP99us: percentile(samples, 99),
    rangeKeysMs: keysOnly.ms,
    rangeDocsMs: withDocs.ms,
    rangeCount: keysOnly.n,
    singleCommitsPerSecond,
    ...disk,
    ...mem,
    reopenMs,
  };
}

// ---------------------------------------------------------------------------------------------------------
// The section: one worker process per variant, then the table

function runWorker(variant: Variant): Promise<Result> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `spike-${variant}-`));
  const proc = spawn(process.execPath, ['--import', 'tsx', 'bench/storage-spike.ts', '--worker', variant, dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10 * 60_000); // bounded: a stuck worker is killed
  return new Promise<Result>((resolve, reject) => {
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      fs.rmSync(dir, { recursive: true, force: true });
      const line = out.split('\n').find((l) => l.startsWith('SPIKE_RESULT '));
      if (code === 0 && line) resolve(JSON.parse(line.slice('SPIKE_RESULT '.length)) as Result);
      else reject(new Error(`spike worker ${variant} failed (${code ?? signal}):\n${out}`));
    });
  });
}

export async function benchStorageSpike(): Promise<void> {
  console.log('\n## Storage spike: node:sqlite vs LMDB, same raw workload, no engine');
  console.log(
    `${DOCS.toLocaleString('en')} BSON documents of ~${BSON.calculateObjectSize(claimDoc(1))} bytes keyed by a 12-byte id, 2 index entries each, ` +
      `transactions of ${TXN.toLocaleString('en')} with durable commits; each library in a process of its own; load average ${os.loadavg()[0].toFixed(1)}.`,
  );
  const lmdb = (await loadLmdb()) !== undefined;
  if (!lmdb) console.log('lmdb is not installed (`npm install --no-save lmdb`): LMDB skipped, SQLite only.');
  // Durable at every commit first; then each library's commit that reaches the OS at once and the disk later
  // (what the engine's default --fsync interval does with SQLite).
  const variants: Variant[] = lmdb ? ['sqlite', 'lmdb-sync', 'lmdb-async', 'sqlite-normal', 'lmdb-nosync'] : ['sqlite', 'sqlite-normal'];
  const results: Result[] = [];
  for (const v of variants) {
    const started = Date.now();
    console.log(`  [spike] ${v} …`);
    results.push(await runWorker(v));
    console.log(`  [spike] ${v} done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  const name: Record<Variant, string> = {
    sqlite: 'SQLite (WAL, synchronous=FULL)',
    'lmdb-sync': 'LMDB (transactionSync)',
    'lmdb-async': 'LMDB (transaction + flushed)',
    'sqlite-normal': 'not durable per commit: SQLite (WAL, NORMAL)',
    'lmdb-nosync': 'not durable per commit: LMDB (transactionSync, NO_SYNC_FLUSH)',
  };
  const mb = (b: number) => `${(b / MiB).toFixed(0)} MB`;
  const rows: Array<[string, (r: Result) => string]> = [
    [`write ${DOCS.toLocaleString('en')} docs, txns of ${TXN}`, (r) => `${r.writeSeconds.toFixed(1)} s = ${Math.round(r.docsPerSecond).toLocaleString('en')} docs/s`],
    ['point lookup by id p50 / p99', (r) => `${r.lookupP50us.toFixed(1)} / ${r.lookupP99us.toFixed(1)} µs`],
    [`range scan of ${RANGE.toLocaleString('en')} index entries (keys only)`, (r) => `${r.rangeKeysMs.toFixed(1)} ms (${r.rangeCount} entries)`],
    [`range scan of ${RANGE.toLocaleString('en')} index entries + their documents`, (r) => `${r.rangeDocsMs.toFixed(1)} ms`],
    ['single-document commits, one after another', (r) => `${Math.round(r.singleCommitsPerSecond).toLocaleString('en')} /s`],
    ['file size (allocated)', (r) => `${mb(r.fileBytes)} (${mb(r.allocatedBytes)})`],
    ['RSS peak (VmHWM); at the end anonymous + file-backed', (r) => `${mb(r.hwm)}; ${mb(r.rssAnon)} + ${mb(r.rssFile)}`],
    ['reopen (open + first read)', (r) => `${r.reopenMs.toFixed(1)} ms`],
  ];
  console.log('');
  console.log(`| measure | ${results.map((r) => name[r.variant]).join(' | ')} |`);
  console.log(`|---|${results.map(() => '---').join('|')}|`);
  for (const [label, f] of rows) console.log(`| ${label} | ${results.map(f).join(' | ')} |`);
}

if (process.argv[2] === '--worker' && import.meta.url === pathToFileURL(path.resolve(process.argv[1] ?? '')).href) {
  const result = await worker(process.argv[3] as Variant, process.argv[4]);
  console.log(`SPIKE_RESULT ${JSON.stringify(result)}`);
}
