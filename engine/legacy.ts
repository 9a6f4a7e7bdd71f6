// Upgrade of a data directory written by the engine's first storage format (until c2f4c9a): a snapshot
// (snapshot.bson) plus journals (journal.<generation>.log) of framed BSON records, [u32 length][u32 CRC-32][BSON].
//
// On the first start of this release the directory's state is read as that release would have recovered it
// (the snapshot, then every journal of its generation or later, up to a torn or corrupt last record) and
// written into the store in one transaction. The old files are then moved, never deleted, into
// `legacy-format-1-<time>/` in the data directory; the store records the migration, so a crash between the two
// steps only repeats the move. A `snapshot.tmp` is an unfinished snapshot that the old release ignored too.
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { BSON, UUID } from 'bson';
import { Access } from './access.ts';
import type { Catalog } from './catalog.ts';
import { Collection, type IndexSpec } from './collection.ts';
import type { Store } from './store.ts';
import type { Doc } from './values.ts';
import { encodeKey } from './value-order.ts';
import { EXACT } from './wire.ts';

const SNAPSHOT = 'snapshot.bson';
const JOURNAL_RE = /^journal\.(\d{8})\.log$/;
const LEGACY_FILES = (f: string) => f === SNAPSHOT || f === 'snapshot.tmp' || f === 'engine.lock' || JOURNAL_RE.test(f);

export interface MigrationLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface MigrationReport {
  collections: number;
  documents: number;
  journalRecords: number;
  droppedTailBytes: number;
  movedTo: string;
}

interface LegacyCollection {
  db: string;
  name: string;
  options: Doc;
  uuid?: UUID;
  indexes: IndexSpec[];
  docs: Map<string, Doc>;
}

type JournalOp =
  | { o: 'put'; db: string; c: string; d: Doc }
  | { o: 'del'; db: string; c: string; id: unknown }
  | { o: 'create'; db: string; c: string; options: Doc; uuid: UUID }
  | { o: 'drop'; db: string; c: string }
  | { o: 'dropDb'; db: string }
  | { o: 'index'; db: string; c: string; spec: IndexSpec }
  | { o: 'dropIndex'; db: string; c: string; name: string };

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

export function hasLegacyData(dir: string): boolean {
  return fs.readdirSync(dir).some((f) => f === SNAPSHOT || JOURNAL_RE.test(f));
}

/** The pid in a first-format lock file, when that process still runs (and is not a zombie). */
function liveLegacyHolder(dir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(path.join(dir, 'engine.lock'), 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!pid || pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/\) Z /.test(stat)) return undefined;
  } catch {
    // no /proc: trust kill(0)
  }
  return pid;
}

/** Reads the first-format state of `dir` as its release recovered it. */
function readLegacy(dir: string, logger: MigrationLogger): { colls: Map<string, LegacyCollection>; journalRecords: number; droppedTailBytes: number } {
  const colls = new Map<string, LegacyCollection>();
  const ns = (db: string, c: string) => `${db}.${c}`;
  const ensure = (db: string, name: string): LegacyCollection => {
    let c = colls.get(ns(db, name));
    if (!c) colls.set(ns(db, name), (c = { db, name, options: {}, indexes: [], docs: new Map() }));
    return c;
  };
  let generation = 0;
  const snapPath = path.join(dir, SNAPSHOT);
  if (fs.existsSync(snapPath)) {
    const { records } = readFrames(fs.readFileSync(snapPath));
    if (!records.some((r) => r.t === 'end')) throw new Error(`${snapPath} is incomplete; refusing to migrate partial data (the directory is left as it is)`);
    for (const r of records) {
      if (r.t === 'meta') generation = Number(r.gen);
      else if (r.t === 'coll') {
        const c = ensure(String(r.db), String(r.c));
        c.options = (r.options as Doc) ?? {};
        c.uuid = r.uuid as UUID;
        c.indexes = (r.indexes as IndexSpec[]) ?? [];
      } else if (r.t === 'docs') {
        const c = ensure(String(r.db), String(r.c));
        for (const d of r.docs as Doc[]) c.docs.set(encodeKey(d._id), d);
      }
    }
  }
  let journalRecords = 0;
  let droppedTailBytes = 0;
  const journals = fs
    .readdirSync(dir)
    .map((f) => JOURNAL_RE.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .filter((g) => g >= generation)
    .sort((a, b) => a - b);
  for (const gen of journals) {
    const file = path.join(dir, `journal.${String(gen).padStart(8, '0')}.log`);
    const buf = fs.readFileSync(file);
    const { records, validEnd } = readFrames(buf);
    if (validEnd < buf.length) {
      droppedTailBytes += buf.length - validEnd;
      logger.warn({ file, droppedBytes: buf.length - validEnd }, 'legacy journal ends in a torn record (a write the old engine never acknowledged); it is left out');
    }
    for (const record of records) {
      journalRecords++;
      for (const op of record.ops as JournalOp[]) {
        switch (op.o) {
          case 'put':
            ensure(op.db, op.c).docs.set(encodeKey(op.d._id), op.d);
            break;
          case 'del':
            colls.get(ns(op.db, op.c))?.docs.delete(encodeKey(op.id));
            break;
          case 'create': {
            const c = ensure(op.db, op.c);
            c.options = op.options ?? {};
            c.uuid ??= op.uuid;
            break;
          }
          case 'drop':
            colls.delete(ns(op.db, op.c));
            break;
          case 'dropDb':
            for (const [k, c] of colls) if (c.db === op.db) colls.delete(k);
            break;
          case 'index': {
            const c = ensure(op.db, op.c);
            if (!c.indexes.some((ix) => ix.name === op.spec.name)) c.indexes.push(op.spec);
            break;
          }
          case 'dropIndex': {
            const c = colls.get(ns(op.db, op.c));
            if (c) c.indexes = c.indexes.filter((ix) => ix.name !== op.name);
            break;
          }
          default:
        }
      }
    }
  }
  return { colls, journalRecords, droppedTailBytes };
}

/** Migrates `store.dir` when it holds first-format data; undefined when there is nothing to migrate. */
export function migrateLegacy(store: Store, catalog: Catalog, logger: MigrationLogger): MigrationReport | undefined {
  const dir = store.dir;
  if (!hasLegacyData(dir)) return undefined;
  const holder = liveLegacyHolder(dir);
  if (holder !== undefined) throw new Error(`data directory ${dir} is in use by process ${holder} (an engine of the previous release); stop it first`);
  const movedTo = path.join(dir, `legacy-format-1-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const already = store.meta('migrated_from_legacy');
  let report: MigrationReport = { collections: 0, documents: 0, journalRecords: 0, droppedTailBytes: 0, movedTo };
  if (already === undefined) {
    const { colls, journalRecords, droppedTailBytes } = readLegacy(dir, logger);
    report = { ...report, journalRecords, droppedTailBytes };
    store.begin();
    try {
      const access = new Access(catalog);
      for (const c of colls.values()) {
        const coll = catalog.get(c.db, c.name) ?? catalog.create(new Collection(c.db, c.name, c.options, c.uuid ?? new UUID()));
        for (const spec of c.indexes) if (spec.name !== '_id_' && !coll.indexes.has(spec.name)) catalog.createIndex(coll, spec);
        for (const d of c.docs.values()) {
          access.insert(coll, d);
          report.documents++;
        }
        report.collections++;
      }
      store.setMeta('migrated_from_legacy', new Date().toISOString());
      store.commit();
    } catch (err) {
      store.rollback();
      catalog.reload();
      throw new Error(`migrating ${dir} from the first storage format failed, nothing was changed: ${(err as Error).message}`);
    }
  }
  fs.mkdirSync(movedTo, { mode: 0o700 });
  for (const f of fs.readdirSync(dir).filter(LEGACY_FILES)) fs.renameSync(path.join(dir, f), path.join(movedTo, f));
  logger.info({ ...report }, `migrated the data directory from the first storage format; the old files are kept in ${movedTo}`);
  return report;
}
