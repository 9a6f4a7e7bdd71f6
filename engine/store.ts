// The engine's storage: one SQLite database (node:sqlite) in the data directory, in WAL mode.
//
// SQLite gives what an archive kept for decades needs and a hand-made journal did not: crash safety (a commit is
// in the write-ahead log before the engine answers, and on disk within a second or at once, see `fsync`; a torn
// tail is ignored on recovery), data far
// larger than memory (B-trees on disk behind a bounded page cache) and snapshot reads (a reader keeps the
// state as of its first read while the writer goes on), which MongoDB transactions are built on here.
// The reasons for SQLite over LMDB, and the measurements, are in engine/README.md.
//
// The tables and their rows are in ./store-schema.ts.
import fs from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { BACKSTOP_BYTES, Checkpointer } from './checkpointer.ts';

import { LOG_RESTART_BYTES, LogRestart } from './log-restart.ts';
import { chmodIfPresent, ownerOnlyFile, prepareDirectory, releaseLock, takeLock, tmpRoot } from './data-dir.ts';
import { Reader } from './reader.ts';
import { type CollectionRow, type DocRow, FORMAT, type IndexRow, type KeyRow, PAGE_SIZE, SCHEMA, type SessionRow } from './store-schema.ts';

export { PAGE_SIZE };
export type { CollectionRow, DocRow, IndexRow, KeyRow, SessionRow };
export { IN_BATCH, Reader, type KeyRange } from './reader.ts';

export const DB_FILE = 'engine.sqlite';



/**
 * Connections kept for transactions' snapshots once their transaction has ended. Opening one (and preparing its
 * statements again) cost 3% of the engine's time at 50 approvals/s with 8 kept, as more transactions than that
 * overlap; each holds at most a 4 MiB page cache, within ENGINE_CACHE_MB's bound on all of SQLite's memory.
 */
const IDLE_SNAPSHOT_CONNECTIONS = 16;

export interface StoreOptions {
  /** The data directory, or null for a throw-away store in a temporary directory (tests, --memory). */
  dir: string | null;
  /** Page cache of the writer connection in MiB (ENGINE_CACHE_MB). */
  cacheMb?: number;
  /**
   * When commits reach the disk (ENGINE_FSYNC). 'interval' (default): a commit is in the operating system before
   * the engine answers (it survives kill -9 of the engine) and on the disk within a second (`flush`, off the
   * event loop). 'commit': on the disk before the engine answers (it survives power loss too), at the price of
   * a disk flush on the event loop at every write.
   */
  fsync?: 'interval' | 'commit';
  /** Size of the write-ahead log past which it is copied back and restarted (see LogRestart; default 64 MiB). */
  logRestartBytes?: number;
  /** The longest any open transaction has gone without a command (ms), for the log's restart; 0 when none is open. */
  idleMs?: () => number;
}

/** The SQLite database of a data directory, its lock, and the writer connection. */
export class Store {
  readonly dir: string;
  readonly temporary: boolean;
  private readonly db: DatabaseSync;
  private readonly lockDb: DatabaseSync;
  readonly reader: Reader;
  private readonly idle: DatabaseSync[] = [];
  private readonly stmts: ReturnType<typeof prepareWrites>;
  private depth = 0;
  /** The sequence of the last commit; a write command stamps its documents with the next one. */
  seq = 0;

  constructor(opts: StoreOptions) {
    this.temporary = opts.dir === null;
    this.dir = opts.dir ?? fs.mkdtempSync(path.join(tmpRoot(), 'oa-engine-'));
    prepareDirectory(this.dir);
    this.lockDb = takeLock(this.dir);
    const file = path.join(this.dir, DB_FILE);
    ownerOnlyFile(file);
    this.db = new DatabaseSync(file, { timeout: 0 });
    const cacheMb = Math.max(2, opts.cacheMb ?? 256);
    // WAL with synchronous NORMAL is crash-consistent: a power loss can lose the last commits (at most a second's,
    // with `flush`), never corrupt. FULL fsyncs the log at every commit. A throw-away store skips fsync: nothing
    // in it outlives the process.
    const synchronous = this.temporary ? 'OFF' : opts.fsync === 'commit' ? 'FULL' : 'NORMAL';
    // Checkpoints run on the checkpointer's thread; the writer's own automatic checkpoint is only a backstop.
    // The cache is bounded twice: its pages (cache_size) and all of SQLite's memory in the process, page headers
    // and every connection included (soft_heap_limit, process-wide: the engine is SQLite's only user here).
    // A new database gets pages of 8 KiB: batches of claim-sized inserts ran ~20% faster than with SQLite's default
    // 4 KiB, and single-document updates and small transactions as fast; 16 KiB made those 10-18% slower (each
    // commit logs whole pages). engine/README.md has the figures. An existing database keeps its size: in WAL mode
    // it cannot change.
    this.db.exec(`PRAGMA page_size = ${PAGE_SIZE}`);
    const pageSize = Number((this.db.prepare('PRAGMA page_size').get() as { page_size: number }).page_size);
    this.db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${synchronous}; PRAGMA wal_autocheckpoint = ${Math.ceil(BACKSTOP_BYTES / pageSize)};
      PRAGMA cache_size = -${cacheMb * 1024}; PRAGMA soft_heap_limit = ${cacheMb * 1024 * 1024};
      PRAGMA journal_size_limit = ${64 * 1024 * 1024}; PRAGMA foreign_keys = OFF;`);
    this.db.exec(SCHEMA);
    const format = (this.db.prepare("SELECT v FROM meta WHERE k = 'format'").get() as { v: number } | undefined)?.v;
    if (format === undefined) this.db.prepare("INSERT INTO meta(k, v) VALUES ('format', ?)").run(FORMAT);
    else if (Number(format) > FORMAT) {
      this.close();
      throw new Error(`data directory ${this.dir} was written by a newer engine (storage format ${format}); refusing to open it`);
    }
    this.seq = Number((this.db.prepare("SELECT v FROM meta WHERE k = 'seq'").get() as { v: number } | undefined)?.v ?? 0);
    this.reader = new Reader(this.db);
    this.stmts = prepareWrites(this.db);
    for (const f of [DB_FILE, `${DB_FILE}-wal`, `${DB_FILE}-shm`]) chmodIfPresent(path.join(this.dir, f), 0o600);
    this.checkpointer = new Checkpointer(file, synchronous);
    this.logRestart = new LogRestart({ walFile: `${file}-wal`, limitBytes: opts.logRestartBytes ?? LOG_RESTART_BYTES, restart: () => this.restartLog(), idleMs: () => opts.idleMs?.() ?? 0 });
  }

  private checkpointer: Checkpointer | undefined;
  private readonly logRestart: LogRestart;

  /** Copies the whole log back into the database file and truncates it (engine/log-restart.ts); only between writes. */
  private restartLog(): boolean {
    if (this.depth > 0 || !this.db.isOpen) return false;
    const row = this.db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get() as { busy: number } | undefined;
    return row?.busy === 0;
  }

  /** Bytes in the write-ahead log now. */
  logBytes(): number {
    return this.logRestart.logBytes();
  }

  // ---------------------------------------------------------------------------------------------------------
  // Write transactions. A write command runs inside one; each statement of a batch inside a savepoint, so a
  // failing statement leaves no trace and the ones before it are committed with the command.

  get inWrite(): boolean {
    return this.depth > 0;
  }

  begin(): void {
    if (this.depth++ === 0) this.db.exec('BEGIN IMMEDIATE');
  }

  /** Stamps the next sequence: the version of every document this write transaction writes. */
  nextSeq(): number {
    this.seq++;
    this.stmts.setSeq.run(this.seq);
    return this.seq;
  }

  commit(): void {
    if (this.depth === 0) return;
    if (--this.depth === 0) {
      this.db.exec('COMMIT');
      this.unflushed = true;
      this.checkpointer?.committed();
      this.logRestart.committed();
    }
  }

  private unflushed = false;
  private flushing = false;
  private walFd: number | undefined;

  /**
   * Puts every commit so far on the disk, in the thread pool rather than on the event loop (an fsync of the
   * write-ahead log; checkpoints fsync the database file themselves). The engine calls it every second.
   */
  flush(done?: (err: Error | null) => void): void {
    if (!this.unflushed || this.flushing || this.temporary || !this.db.isOpen) return done?.(null);
    if (this.walFd === undefined) {
      try {
        this.walFd = fs.openSync(path.join(this.dir, `${DB_FILE}-wal`), 'r');
      } catch {
        return done?.(null); // no log yet
      }
    }
    this.unflushed = false;
    this.flushing = true;
    fs.fdatasync(this.walFd, (err) => {
      this.flushing = false;
      if (err) this.unflushed = true;
      done?.(err);
    });
  }

  rollback(): void {
    if (this.depth === 0) return;
    this.depth = 0;
    if (this.db.isTransaction) this.db.exec('ROLLBACK');
    this.seq = Number((this.db.prepare("SELECT v FROM meta WHERE k = 'seq'").get() as { v: number } | undefined)?.v ?? 0);
  }

  savepoint(): void {
    this.db.exec('SAVEPOINT stmt');
  }

  release(): void {
    this.db.exec('RELEASE stmt');
  }

  rollbackTo(): void {
    this.db.exec('ROLLBACK TO stmt; RELEASE stmt');
  }

  meta(key: string): string | number | undefined {
    return (this.db.prepare('SELECT v FROM meta WHERE k = ?').get(key) as { v: string | number } | undefined)?.v;
  }

  setMeta(key: string, value: string | number): void {
    this.db.prepare('INSERT INTO meta(k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v').run(key, value);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Catalog

  collections(): CollectionRow[] {
    return this.db.prepare('SELECT cid, db, name, uuid, options FROM collections ORDER BY cid').all() as unknown as CollectionRow[];
  }

  indexes(): IndexRow[] {
    return this.db.prepare('SELECT iid, cid, name, spec, multikey, built_seq FROM indexes ORDER BY iid').all() as unknown as IndexRow[];
  }

  createCollection(db: string, name: string, uuid: Uint8Array, options: Uint8Array): number {
    return Number(this.stmts.createCollection.run(db, name, uuid, options).lastInsertRowid);
  }

  setCollectionOptions(cid: number, options: Uint8Array): void {
    this.stmts.setOptions.run(options, cid);
  }

  dropCollection(cid: number): void {
    this.db.prepare('DELETE FROM ikeys WHERE iid IN (SELECT iid FROM indexes WHERE cid = ?)').run(cid);
    this.db.prepare('DELETE FROM indexes WHERE cid = ?').run(cid);
    this.db.prepare('DELETE FROM docs WHERE cid = ?').run(cid);
    this.db.prepare('DELETE FROM collections WHERE cid = ?').run(cid);
  }

  createIndex(cid: number, name: string, spec: Uint8Array): number {
    return Number(this.stmts.createIndex.run(cid, name, spec, this.seq).lastInsertRowid);
  }

  setIndexSpec(iid: number, spec: Uint8Array): void {
    this.stmts.setSpec.run(spec, iid);
  }

  setMultikey(iid: number): void {
    this.stmts.setMultikey.run(iid);
  }

  dropIndex(iid: number): void {
    this.db.prepare('DELETE FROM ikeys WHERE iid = ?').run(iid);
    this.db.prepare('DELETE FROM indexes WHERE iid = ?').run(iid);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Documents and index entries (inside a write transaction)

  /** The new row id, or undefined when the collection already holds a document with this _id. */
  insertDoc(cid: number, id: Buffer, ver: number, doc: Uint8Array): number | undefined {
    const r = this.stmts.insertDoc.run(cid, id, ver, doc);
    return r.changes === 0 ? undefined : Number(r.lastInsertRowid);
  }

  updateDoc(rid: number, ver: number, doc: Uint8Array): void {
    this.stmts.updateDoc.run(ver, doc, rid);
  }

  deleteDoc(rid: number): void {
    this.stmts.deleteDoc.run(rid);
  }

  addKey(iid: number, key: Buffer, rid: number): void {
    this.stmts.addKey.run(iid, key, rid);
  }

  removeKey(iid: number, key: Buffer, rid: number): void {
    this.stmts.removeKey.run(iid, key, rid);
  }

  /** A row other than `rid` holding `key` in the index, if any (unique indexes). */
  keyHolder(iid: number, key: Buffer, rid: number): number | undefined {
    const row = this.stmts.keyHolder.get(iid, key, rid) as { rid: number } | undefined;
    return row?.rid;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Sessions: the recorded answer of retryable writes and transactions

  session(lsid: Buffer): SessionRow | undefined {
    return this.stmts.getSession.get(lsid) as SessionRow | undefined;
  }

  recordSession(lsid: Buffer, txnNumber: bigint, kind: 'write' | 'commit', reply: Uint8Array | null): void {
    this.stmts.putSession.run(lsid, txnNumber, kind, reply, Date.now());
  }

  forgetSessionsBefore(time: number): number {
    return Number(this.db.prepare('DELETE FROM sessions WHERE last_use < ?').run(time).changes);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Snapshot readers for transactions: a connection of their own holding a read transaction.

  openSnapshot(): Reader {
    const db = this.idle.pop() ?? this.connect();
    const reader = readerOf(db);
    db.exec('BEGIN');
    reader.takeSnapshot();
    this.logRestart.opened();
    return reader;
  }

  closeSnapshot(reader: Reader): void {
    if (reader.db.isTransaction) reader.db.exec('ROLLBACK');
    if (this.idle.length < IDLE_SNAPSHOT_CONNECTIONS) this.idle.push(reader.db);
    else reader.db.close();
    this.logRestart.closed(this.depth === 0);
  }

  /** True while the log waits for a moment without snapshots: a transaction starting now should wait (`whenLogRestarted`). */
  get logRestartWanted(): boolean {
    return this.logRestart.wanted;
  }

  /** Calls `resume` once the log has restarted, or after a short wait if it could not (transactions still open). */
  whenLogRestarted(resume: () => void): void {
    this.logRestart.wait(resume);
  }

  private connect(): DatabaseSync {
    const db = new DatabaseSync(path.join(this.dir, DB_FILE), { timeout: 0 });
    db.exec('PRAGMA cache_size = -4096; PRAGMA query_only = 1;');
    return db;
  }

  close(): void {
    this.checkpointer?.stop();
    for (const db of this.idle.splice(0)) db.close();
    if (this.walFd !== undefined) {
      if (this.unflushed) fs.fdatasyncSync(this.walFd);
      fs.closeSync(this.walFd);
      this.walFd = undefined;
    }
    if (this.db.isOpen) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      try {
        this.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
      } catch {
        // a transaction's reader still open: SQLite checkpoints at the next start
      }
      this.db.close();
    }
    releaseLock(this.dir, this.lockDb);
    if (this.temporary) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

const readers = new WeakMap<DatabaseSync, Reader>();
function readerOf(db: DatabaseSync): Reader {
  let r = readers.get(db);
  if (!r) readers.set(db, (r = new Reader(db)));
  return r;
}

function prepareWrites(db: DatabaseSync) {
  return {
    setSeq: db.prepare("INSERT INTO meta(k, v) VALUES ('seq', ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v"),
    createCollection: db.prepare('INSERT INTO collections(db, name, uuid, options) VALUES (?, ?, ?, ?)'),
    setOptions: db.prepare('UPDATE collections SET options = ? WHERE cid = ?'),
    createIndex: db.prepare('INSERT INTO indexes(cid, name, spec, built_seq) VALUES (?, ?, ?, ?)'),
    setSpec: db.prepare('UPDATE indexes SET spec = ? WHERE iid = ?'),
    setMultikey: db.prepare('UPDATE indexes SET multikey = 1 WHERE iid = ?'),
    insertDoc: db.prepare('INSERT INTO docs(cid, id, ver, doc) VALUES (?, ?, ?, ?) ON CONFLICT(cid, id) DO NOTHING'),
    updateDoc: db.prepare('UPDATE docs SET ver = ?, doc = ? WHERE rid = ?'),
    deleteDoc: db.prepare('DELETE FROM docs WHERE rid = ?'),
    addKey: db.prepare('INSERT INTO ikeys(iid, key, rid) VALUES (?, ?, ?)'),
    removeKey: db.prepare('DELETE FROM ikeys WHERE iid = ? AND key = ? AND rid = ?'),
    keyHolder: db.prepare('SELECT rid FROM ikeys WHERE iid = ? AND key = ? AND rid <> ? LIMIT 1'),
    getSession: db.prepare('SELECT txn_number, kind, reply FROM sessions WHERE lsid = ?'),
    putSession: db.prepare(
      'INSERT INTO sessions(lsid, txn_number, kind, reply, last_use) VALUES (?, ?, ?, ?, ?) ' +
        'ON CONFLICT(lsid) DO UPDATE SET txn_number = excluded.txn_number, kind = excluded.kind, reply = excluded.reply, last_use = excluded.last_use',
    ),
  };
}
