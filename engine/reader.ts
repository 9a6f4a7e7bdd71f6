// Reads through one SQLite connection of the store (engine/store.ts): the writer's, or a transaction's snapshot.
// Statements are prepared once per connection; reads of many documents go in batches of one statement each.
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { DocRow, KeyRow } from './store-schema.ts';

/** A range of index keys; `after` resumes a scan behind the last (key, rid) returned. */
export interface KeyRange {
  lo?: Buffer;
  loInclusive?: boolean;
  hi?: Buffer;
  hiInclusive?: boolean;
}

/** Most items one batch read (`byRowIds`, `byIdKeys`, `keysInRanges`) takes. */
export const IN_BATCH = 256;
const EMPTY = new Uint8Array(0);
const marks = (n: number) => '?,'.repeat(n - 1) + '?';
/** `xs` made `n` long by repeating its last item (IN ignores the repeats). */
const padded = <T>(xs: readonly T[], n: number): T[] => (xs.length === n ? [...xs] : [...xs, ...Array<T>(n - xs.length).fill(xs[xs.length - 1])]);
/** About how many bytes of documents one batch holds (all in memory at once). */
const BATCH_BYTES = 1024 * 1024;

/**
 * The rows of `items`, read in batches of one statement each: the first as large as the caller takes (`want`) or
 * 32, then up to twice the last while a batch stays near BATCH_BYTES of documents.
 */
export function* batched<T>(items: readonly T[], fetch: (group: T[]) => DocRow[], want?: number): Generator<{ group: T[]; rows: DocRow[] }> {
  let size = want !== undefined ? Math.min(IN_BATCH, Math.max(1, want)) : 32;
  for (let i = 0; i < items.length; ) {
    const group = items.slice(i, i + size);
    const rows = fetch(group);
    i += group.length;
    yield { group, rows };
    let bytes = 0;
    for (const row of rows) bytes += row.doc.byteLength;
    size = Math.max(1, Math.min(IN_BATCH, size * 2, Math.floor((BATCH_BYTES * Math.max(rows.length, 1)) / Math.max(bytes, 1))));
  }
}

/** The stored rows of index entries, in the entries' order, read in batches; `open` runs before each statement. */
export function* rowsOfKeys(reader: Reader, keys: readonly KeyRow[], open: () => void, want?: number): Generator<DocRow> {
  const fetch = (group: KeyRow[]) => (open(), reader.byRowIds(group.map((k) => Number(k.rid))));
  for (const { group, rows } of batched(keys, fetch, want)) {
    const byRid = new Map<number, DocRow>();
    for (const row of rows) byRid.set(Number(row.rid), row);
    for (const k of group) {
      const row = byRid.get(Number(k.rid));
      if (row) yield row;
    }
  }
}

/** Reads through one SQLite connection: the writer's (latest state) or a transaction's (its snapshot). */
export class Reader {
  private readonly byId: StatementSync;
  private readonly byRid: StatementSync;
  private readonly scanAsc: StatementSync;
  private readonly scanDesc: StatementSync;
  private readonly countDocs: StatementSync;
  private readonly first: StatementSync;
  private readonly keyScans = new Map<string, StatementSync>();
  /** Statements reading a batch, by their SQL: one per batch size (a power of two up to IN_BATCH). */
  private readonly batches = new Map<string, StatementSync>();

  constructor(readonly db: DatabaseSync) {
    this.byId = db.prepare('SELECT rid, id, ver, doc FROM docs WHERE cid = ? AND id = ?');
    this.byRid = db.prepare('SELECT rid, id, ver, doc FROM docs WHERE rid = ?');
    this.scanAsc = db.prepare('SELECT rid, id, ver, doc FROM docs WHERE cid = ? AND rid > ? ORDER BY rid LIMIT ?');
    this.scanDesc = db.prepare('SELECT rid, id, ver, doc FROM docs WHERE cid = ? AND rid < ? ORDER BY rid DESC LIMIT ?');
    this.countDocs = db.prepare('SELECT count(*) AS n FROM docs WHERE cid = ?');
    this.first = db.prepare('SELECT 1 FROM meta LIMIT 1');
  }

  /** Takes the snapshot of the read transaction just begun on this connection: SQLite takes it at the first read. */
  takeSnapshot(): void {
    this.first.get();
  }

  byIdKey(cid: number, id: Buffer): DocRow | undefined {
    return this.byId.get(cid, id) as DocRow | undefined;
  }

  byRowId(rid: number): DocRow | undefined {
    return this.byRid.get(rid) as DocRow | undefined;
  }

  /**
   * The rows of `rids` (at most IN_BATCH; those gone are left out), in no particular order: one statement instead
   * of one per row. Each SQLite statement outside a transaction opens and closes a read of the log (about 20 µs
   * here), which made a page of 100 documents cost 100 of them.
   */
  byRowIds(rids: readonly number[]): DocRow[] {
    const { stmt, n } = this.batch((k) => `SELECT rid, id, ver, doc FROM docs WHERE rid IN (${marks(k)})`, rids.length);
    return stmt.all(...padded(rids, n)) as unknown as DocRow[];
  }

  /** The documents of collection `cid` with these _id keys (at most IN_BATCH), in no particular order. */
  byIdKeys(cid: number, ids: readonly Uint8Array[]): DocRow[] {
    const { stmt, n } = this.batch((k) => `SELECT rid, id, ver, doc FROM docs WHERE cid = ? AND id IN (${marks(k)})`, ids.length);
    return stmt.all(cid, ...padded(ids, n)) as unknown as DocRow[];
  }

  /**
   * Index entries of several half-open ranges [lo, hi) of index `iid` (at most IN_BATCH ranges), up to `limit`, in
   * no particular order across ranges: one statement that seeks each range in turn (an $in of 100 values was 100).
   */
  keysInRanges(iid: number, ranges: ReadonlyArray<{ lo: Uint8Array; hi: Uint8Array }>, limit: number): KeyRow[] {
    const { stmt, n } = this.batch(
      (k) => `WITH r(lo, hi) AS (VALUES ${Array.from({ length: k }, () => '(?, ?)').join(', ')}) SELECT k.key, k.rid FROM r CROSS JOIN ikeys k ON k.iid = ? AND k.key >= r.lo AND k.key < r.hi LIMIT ?`,
      ranges.length,
    );
    const args: Uint8Array[] = [];
    for (const r of ranges) args.push(r.lo, r.hi);
    // Padding: empty ranges, which hold no key.
    for (let i = ranges.length; i < n; i++) args.push(EMPTY, EMPTY);
    return stmt.all(...args, iid, limit) as unknown as KeyRow[];
  }

  private batch(sql: (n: number) => string, count: number): { stmt: StatementSync; n: number } {
    if (count < 1 || count > IN_BATCH) throw new RangeError(`a batch read takes 1 to ${IN_BATCH} items, not ${count}`);
    const n = 2 ** Math.ceil(Math.log2(count));
    const text = sql(n);
    let stmt = this.batches.get(text);
    if (!stmt) this.batches.set(text, (stmt = this.db.prepare(text)));
    return { stmt, n };
  }

  /** Documents of a collection in row order, `limit` at a time from behind `after`. */
  scan(cid: number, after: number | undefined, limit: number, reverse = false): DocRow[] {
    if (reverse) return this.scanDesc.all(cid, after ?? Number.MAX_SAFE_INTEGER, limit) as unknown as DocRow[];
    return this.scanAsc.all(cid, after ?? 0, limit) as unknown as DocRow[];
  }

  count(cid: number): number {
    return Number((this.countDocs.get(cid) as { n: number }).n);
  }

  /**
   * Index entries in `range`, in key order (or reverse), `limit` at a time from behind `after`. Index 0 is the
   * _id index of collection `cid`, which the documents table itself keeps.
   */
  keys(iid: number, range: KeyRange, after: KeyRow | undefined, limit: number, reverse = false, cid = 0): KeyRow[] {
    const byId = iid === 0;
    const where = byId ? ['cid = ?'] : ['iid = ?'];
    const args: Array<number | Uint8Array> = [byId ? cid : iid];
    const key = byId ? 'id' : 'key';
    // Resuming, the bound behind `after` replaces the range's own bound on that side (`after` lies inside the
    // range): given both, SQLite seeks to the range's bound and reads every entry up to `after` again on each
    // page, which makes a long range quadratic. The row value (key, rid) is a bound SQLite seeks to.
    if (range.lo && !(after && !reverse)) {
      where.push(range.loInclusive === false ? `${key} > ?` : `${key} >= ?`);
      args.push(range.lo);
    }
    if (range.hi && !(after && reverse)) {
      where.push(range.hiInclusive ? `${key} <= ?` : `${key} < ?`);
      args.push(range.hi);
    }
    if (after) {
      // _id keys are unique: the key alone resumes.
      if (byId) where.push(reverse ? 'id < ?' : 'id > ?');
      else where.push(reverse ? '(key, rid) < (?, ?)' : '(key, rid) > (?, ?)');
      args.push(...(byId ? [after.key] : [after.key, after.rid]));
    }
    const dir = reverse ? 'DESC' : 'ASC';
    const sql = byId
      ? `SELECT id AS key, rid FROM docs WHERE ${where.join(' AND ')} ORDER BY id ${dir} LIMIT ?`
      : `SELECT key, rid FROM ikeys WHERE ${where.join(' AND ')} ORDER BY key ${dir}, rid ${dir} LIMIT ?`;
    let stmt = this.keyScans.get(sql);
    if (!stmt) this.keyScans.set(sql, (stmt = this.db.prepare(sql)));
    args.push(limit);
    return stmt.all(...args) as unknown as KeyRow[];
  }
}
