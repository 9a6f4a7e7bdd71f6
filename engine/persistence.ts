// Durability: a journal of write operations, compacted now and then into a snapshot.
//
// Files in the data directory:
//   snapshot.bson        the whole state as of generation G (written to snapshot.tmp, fsynced, then renamed)
//   journal.<G>.log      operations after snapshot G; a new journal starts with every snapshot
//   engine.lock          the pid of the process using the directory
// Every record is [u32 payload length][u32 CRC-32 of payload][payload BSON]. A write command's operations are
// one record, appended with a synchronous write before the command is acknowledged, so a process killed at
// any point loses nothing it acknowledged; a torn last record fails its length or CRC check and is dropped
// whole, never half-applied.
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { BSON } from 'bson';
import type { Catalog, JournalOp } from './catalog.ts';
import { Collection, type IndexSpec, makeEntry } from './collection.ts';
import { EXACT } from './wire.ts';
import type { Doc } from './values.ts';

export interface PersistenceLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

const SNAPSHOT = 'snapshot.bson';
const LOCK = 'engine.lock';
const journalName = (gen: number) => `journal.${String(gen).padStart(8, '0')}.log`;
const JOURNAL_RE = /^journal\.(\d{8})\.log$/;

function frame(payload: Doc): Buffer {
  const body = BSON.serialize(payload, { ignoreUndefined: true });
  const head = Buffer.allocUnsafe(8);
  head.writeUInt32LE(body.length, 0);
  head.writeUInt32LE(crc32(body), 4);
  return Buffer.concat([head, body]);
}

/** Reads framed records up to the first incomplete or corrupt one; `validEnd` is where intact data ends. */
function readFrames(buf: Buffer): { records: Doc[]; validEnd: number } {
  const records: Doc[] = [];
  let off = 0;
  while (off + 8 <= buf.length) {
    const len = buf.readUInt32LE(off);
    const sum = buf.readUInt32LE(off + 4);
    if (len < 5 || off + 8 + len > buf.length) break;
    const body = buf.subarray(off + 8, off + 8 + len);
    if (crc32(body) !== sum) break;
    try {
      records.push(BSON.deserialize(body, EXACT) as Doc);
    } catch {
      break;
    }
    off += 8 + len;
  }
  return { records, validEnd: off };
}

export interface RecoveryReport {
  snapshotGeneration: number | null;
  journalRecords: number;
  droppedTailBytes: number;
}

export class Persistence {
  private fd: number | undefined;
  private generation = 0;
  private journalBytes = 0;

  constructor(
    readonly dir: string,
    private readonly catalog: Catalog,
    private readonly logger: PersistenceLogger,
    private readonly compactAtBytes = 64 * 1024 * 1024,
  ) {}

  /** Takes the directory lock, loads the snapshot, replays the journals and opens a journal for appends. */
  open(): RecoveryReport {
    fs.mkdirSync(this.dir, { recursive: true });
    this.lock();
    const report: RecoveryReport = { snapshotGeneration: null, journalRecords: 0, droppedTailBytes: 0 };
    const snapPath = path.join(this.dir, SNAPSHOT);
    if (fs.existsSync(snapPath)) {
      report.snapshotGeneration = this.loadSnapshot(fs.readFileSync(snapPath));
      this.generation = report.snapshotGeneration;
    }
    const journals = fs
      .readdirSync(this.dir)
      .map((f) => JOURNAL_RE.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    for (const gen of journals) {
      const file = path.join(this.dir, journalName(gen));
      if (gen < this.generation) {
        fs.rmSync(file, { force: true }); // superseded by the snapshot
        continue;
      }
      const buf = fs.readFileSync(file);
      const { records, validEnd } = readFrames(buf);
      for (const record of records) {
        for (const op of record.ops as JournalOp[]) this.replay(op);
        report.journalRecords++;
      }
      if (validEnd < buf.length) {
        report.droppedTailBytes += buf.length - validEnd;
        this.logger.warn({ file, droppedBytes: buf.length - validEnd }, 'dropped a torn journal record');
        fs.truncateSync(file, validEnd);
      }
      this.generation = Math.max(this.generation, gen);
    }
    this.openJournal(this.generation);
    return report;
  }

  private replay(op: JournalOp): void {
    try {
      this.catalog.apply(op);
    } catch (err) {
      this.logger.warn({ op: op.o, ns: `${op.db}.${'c' in op ? op.c : ''}`, err: (err as Error).message }, 'journal operation could not be replayed');
    }
  }

  private openJournal(gen: number): void {
    const file = path.join(this.dir, journalName(gen));
    this.fd = fs.openSync(file, 'a');
    this.journalBytes = fs.fstatSync(this.fd).size;
  }

  /** Appends one atomic record; returns once the bytes are with the operating system. */
  append(ops: JournalOp[]): void {
    if (ops.length === 0 || this.fd === undefined) return;
    const buf = frame({ ops });
    fs.writeSync(this.fd, buf);
    this.journalBytes += buf.length;
    if (this.journalBytes >= this.compactAtBytes) this.snapshot();
  }

  /** Writes a snapshot of the whole catalog and starts a new journal generation. */
  snapshot(): void {
    const next = this.generation + 1;
    const tmp = path.join(this.dir, 'snapshot.tmp');
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, frame({ t: 'meta', gen: next, format: 1 }));
      for (const colls of this.catalog.dbs.values()) {
        for (const coll of colls.values()) {
          const indexes = [...coll.indexes.values()].filter((ix) => ix.name !== '_id_').map((ix) => ix.spec);
          fs.writeSync(fd, frame({ t: 'coll', db: coll.db, c: coll.name, options: coll.options, uuid: coll.uuid, indexes }));
          let batch: Doc[] = [];
          for (const entry of coll.docs.values()) {
            batch.push(entry.exact);
            if (batch.length === 1000) {
              fs.writeSync(fd, frame({ t: 'docs', db: coll.db, c: coll.name, docs: batch }));
              batch = [];
            }
          }
          if (batch.length) fs.writeSync(fd, frame({ t: 'docs', db: coll.db, c: coll.name, docs: batch }));
        }
      }
      fs.writeSync(fd, frame({ t: 'end' }));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    // Switch journals before the rename: a crash in between leaves the old snapshot plus both journals.
    const previous = this.generation;
    if (this.fd !== undefined) {
      fs.fsyncSync(this.fd);
      fs.closeSync(this.fd);
    }
    this.generation = next;
    this.openJournal(next);
    fs.renameSync(tmp, path.join(this.dir, SNAPSHOT));
    this.syncDir();
    fs.rmSync(path.join(this.dir, journalName(previous)), { force: true });
  }

  private loadSnapshot(buf: Buffer): number {
    let gen = 0;
    let complete = false;
    const { records } = readFrames(buf);
    for (const r of records) if (r.t === 'end') complete = true;
    if (!complete) throw new Error(`snapshot in ${this.dir} is incomplete; refusing to start on partial data`);
    for (const r of records) {
      if (r.t === 'meta') gen = Number(r.gen);
      else if (r.t === 'coll') {
        const coll = new Collection(String(r.db), String(r.c), r.options as Doc, r.uuid as Collection['uuid']);
        this.catalog.attach(coll);
        for (const spec of r.indexes as IndexSpec[]) {
          coll.addIndex(spec);
        }
      } else if (r.t === 'docs') {
        const coll = this.catalog.get(String(r.db), String(r.c));
        if (coll) for (const d of r.docs as Doc[]) coll.put(makeEntry(d));
      }
    }
    return gen;
  }

  private lock(): void {
    const file = path.join(this.dir, LOCK);
    try {
      const pid = Number(fs.readFileSync(file, 'utf8').trim());
      if (pid && pid !== process.pid && isAlive(pid)) {
        throw new Error(`data directory ${this.dir} is in use by process ${pid}`);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    fs.writeFileSync(file, String(process.pid));
  }

  private syncDir(): void {
    try {
      const fd = fs.openSync(this.dir, 'r');
      fs.fsyncSync(fd);
      fs.closeSync(fd);
    } catch {
      // Some filesystems do not allow fsync on directories; the rename is still atomic.
    }
  }

  /** Flushes, writes a final snapshot (so the next start is quick) and releases the lock. */
  close(): void {
    if (this.fd === undefined) return;
    this.snapshot();
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    this.fd = undefined;
    fs.rmSync(path.join(this.dir, LOCK), { force: true });
  }

  /** Forces journal bytes to stable storage (power-loss safety); the server calls it on a short timer. */
  sync(): void {
    if (this.fd !== undefined) fs.fdatasyncSync(this.fd);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
