// Reading and writing documents, either directly or inside a transaction.
//
// Outside a transaction a command reads the latest state and writes straight into the store, inside the write
// transaction the server opened for it. Each document write checks everything that could refuse it (size,
// unique keys) before it changes anything, so a refused document leaves no trace and the documents written
// before it stay, as in MongoDB, where a multi-document write is atomic per document.
//
// A transaction reads through a snapshot (a SQLite read transaction on a connection of its own, taken when it
// starts) and keeps its writes in a private overlay; nobody else sees them until commit. The first writer of a
// document locks it for its transaction, so a second transaction writing the same document gets a WriteConflict
// (labelled TransientTransactionError, so the driver's withTransaction retries), and so does a transaction
// writing a document committed by someone else after its snapshot. At commit the overlay is applied in one
// store transaction, only if no document it wrote changed underneath it.
import type { Catalog } from './catalog.ts';
import { Collection, type DocKeys, type Entry, type Index, entryFromRow, fieldPicker, makeEntry } from './collection.ts';
import { ErrorCodes, MongoServerError, writeConflict } from './errors.ts';
import { type Plan, planQuery } from './planner.ts';
import { type SortSpec, compileFilter } from './query.ts';
import { IN_BATCH, batched, rowsOfKeys } from './reader.ts';
import type { KeyRow, Reader, Store } from './store.ts';
import { bytesOf } from './doc-bytes.ts';
import type { Doc } from './values.ts';

const PAGE = 256;
const PAGE_BYTES = 1024 * 1024;
/** Keys read for up to IN_BATCH ranges in one statement; as many means more may be there, and the ranges are read one by one. */
const RANGES_KEYS = 1024;

interface Overlay {
  /** id -> the transaction's version of the document (null: deleted by the transaction). */
  entries: Map<string, Entry | null>;
  /** id -> version of the document in the snapshot when the transaction first wrote it (null: it did not exist). */
  baseVersions: Map<string, number | null>;
  /** unique index name -> key -> id, for the transaction's own documents. */
  uniqueKeys: Map<string, Map<string, string>>;
}

export class Transaction {
  readonly overlays = new Map<Collection, Overlay>();
  /** Collections its statements created: invisible to others until commit. */
  readonly created = new Map<string, Collection>();
  /** When its last command arrived (stamped by Sessions): its lifetime and the log's restart go by it. */
  lastUse = Date.now();
  released = false;

  constructor(
    readonly locks: LockTable,
    readonly label: string,
    readonly store: Store,
    /** Its snapshot: what it reads besides its own writes. */
    readonly reader: Reader = store.openSnapshot(),
    /** The commit sequence its snapshot shows. */
    readonly snapshotSeq = store.seq,
  ) {}

  overlay(coll: Collection): Overlay {
    let o = this.overlays.get(coll);
    if (!o) this.overlays.set(coll, (o = { entries: new Map(), baseVersions: new Map(), uniqueKeys: new Map() }));
    return o;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    for (const [coll, o] of this.overlays) for (const id of o.entries.keys()) this.locks.release(coll, id, this);
    this.overlays.clear();
    this.store.closeSnapshot(this.reader);
  }
}

/** Which open transaction owns which document. */
export class LockTable {
  private readonly owners = new Map<string, Transaction>();
  private key = (coll: Collection, id: string) => `${coll.uuid.toHexString()}\u0000${id}`;

  acquire(coll: Collection, id: string, txn: Transaction): void {
    const k = this.key(coll, id);
    const owner = this.owners.get(k);
    if (owner && owner !== txn) throw writeConflict('Another transaction is writing the same document.');
    this.owners.set(k, txn);
  }

  release(coll: Collection, id: string, txn: Transaction): void {
    const k = this.key(coll, id);
    if (this.owners.get(k) === txn) this.owners.delete(k);
  }
}

export interface FindOptions {
  limit?: number;
  /** The index to use (its name), or '$natural'. */
  hint?: string;
  naturalDirection?: 1 | -1;
  /** The order wanted; `delivers` says whether the plan gives it. */
  sort?: SortSpec;
  /** A plan already made for these options (see `plan`). */
  plan?: Plan;
}

/** The documents and writes one command sees: the latest state, or a transaction's snapshot under its overlay. */
export class Access {
  /** Commit sequence stamped on what this command writes (taken at its first write). */
  private seq: number | undefined;
  /** Stored documents read so far by `scan` (explain's totalDocsExamined). */
  examined = 0;

  constructor(
    readonly catalog: Catalog,
    readonly txn?: Transaction,
  ) {}

  get store(): Store {
    return this.catalog.store;
  }

  /** For cursors: whether what this command reads from is still there (its transaction has not ended). */
  readonly alive = (): boolean => !this.txn?.released;

  private get reader(): Reader {
    return this.txn?.reader ?? this.store.reader;
  }

  // -------------------------------------------------------------------------------------------------------
  // Reads

  collection(db: string, name: string): Collection | undefined {
    return this.txn?.created.get(`${db}.${name}`) ?? this.catalog.get(db, name);
  }

  ensureCollection(db: string, name: string): Collection {
    const existing = this.collection(db, name);
    if (existing) return existing;
    if (!this.txn) return this.catalog.ensure(db, name);
    const coll = new Collection(db, name);
    this.txn.created.set(coll.ns, coll);
    return coll;
  }

  /** The version of one document this command sees, by _id key. */
  get(coll: Collection, idKey: Buffer): Entry | undefined {
    const o = this.txn?.overlays.get(coll);
    const id = idKey.toString('latin1');
    if (o?.entries.has(id)) return o.entries.get(id) ?? undefined;
    if (coll.cid === undefined) return undefined;
    const row = this.reader.byIdKey(coll.cid, idKey);
    return row ? entryFromRow(row) : undefined;
  }

  plan(coll: Collection, filter: Doc | undefined | null, opts: FindOptions = {}): Plan {
    return planQuery(coll, filter, {
      sort: opts.sort,
      hint: opts.hint,
      naturalDirection: opts.naturalDirection,
      snapshotSeq: this.txn?.snapshotSeq,
    });
  }

  /** Whether `scan` with this plan yields documents already in the order the plan was made for. */
  delivers(coll: Collection, p: Plan): boolean {
    if (this.txn?.overlays.get(coll)?.entries.size) return false; // the transaction's own documents come last
    if (p.kind === 'or') return false;
    return p.kind === 'ids' ? p.keys.length <= 1 : p.sorted;
  }

  /** Entries matching `filter`, lazily, through the best index (see planner.ts). */
  *scan(coll: Collection, filter: Doc | undefined | null, opts: FindOptions = {}): Generator<Entry> {
    const matcher = compileFilter(filter);
    // A stored document is tested on the fields the filter reads, not decoded whole (a few of an event's dozens).
    const names = fieldPicker(matcher.fields);
    const plan = opts.plan ?? this.plan(coll, filter, opts);
    const overlay = this.txn?.overlays.get(coll);
    const dedupe = overlay !== undefined || (plan.kind === 'index' && plan.dedupe) || plan.kind === 'ids' || plan.kind === 'or';
    const seen = dedupe ? new Set<string>() : undefined;
    const exact = plan.exact === true;
    let n = 0;
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Infinity;
    if (coll.cid !== undefined) {
      for (const stored of this.stored(coll.cid, plan, exact && !overlay && limit !== Infinity ? limit : undefined)) {
        let e: Entry | undefined = stored;
        if (seen) {
          if (seen.has(e.id)) continue;
          seen.add(e.id);
        }
        // A stored document of an exact plan is a match without decoding it; the transaction's own version is not.
        if (overlay?.entries.has(e.id)) e = overlay.entries.get(e.id) ?? undefined;
        else if (exact) {
          yield e;
          if (++n >= limit) return;
          continue;
        }
        if (e && matcher.test(e.pick(names))) {
          yield e;
          if (++n >= limit) return;
        }
      }
    }
    if (overlay) {
      for (const [id, e] of overlay.entries) {
        if (!e || seen!.has(id)) continue;
        if (matcher.test(e.exact)) {
          yield e;
          if (++n >= limit) return;
        }
      }
    }
  }

  /**
   * Stored documents a plan yields (a superset of the matches), a page at a time. `want`: how many the caller takes
   * at most, when each one yielded is a match (an exact plan with a limit), so that no more are read.
   */
  private *stored(cid: number, plan: Plan, want?: number): Generator<Entry> {
    for (const e of this.storedRows(cid, plan, want)) {
      this.examined++;
      yield e;
    }
  }

  private *storedRows(cid: number, plan: Plan, want?: number): Generator<Entry> {
    const reader = this.reader;
    // A cursor of a transaction ends with it: its reader goes back to the pool for other transactions.
    const txn = this.txn;
    const open = () => {
      if (txn?.released) throw new MongoServerError(ErrorCodes.CursorNotFound, 'cursor killed: the transaction it was reading in has ended');
    };
    if (plan.kind === 'or') {
      // The branches one after the other; a document several of them yield is deduplicated by scan().
      for (const branch of plan.plans) yield* this.storedRows(cid, branch);
      return;
    }
    if (plan.kind === 'ids') {
      // In batches, in the order the store gives (several keys are never a sorted plan: see delivers).
      const fetch = (group: Buffer[]) => (open(), reader.byIdKeys(cid, group));
      for (const { rows } of batched(plan.keys, fetch, want)) for (const row of rows) yield entryFromRow(row);
      return;
    }
    if (plan.kind === 'scan') {
      let after: number | undefined;
      let limit = 64;
      for (;;) {
        open();
        const rows = reader.scan(cid, after, limit, plan.reverse);
        let bytes = 0;
        for (const row of rows) {
          bytes += row.doc.byteLength;
          yield entryFromRow(row);
        }
        if (rows.length < limit) return;
        // Pages of about PAGE_BYTES: 256 small documents, fewer large ones (what a page holds is all in memory).
        limit = Math.max(16, Math.min(PAGE, Math.floor((PAGE_BYTES * rows.length) / Math.max(bytes, 1))));
        after = Number(rows[rows.length - 1].rid);
      }
    }
    const ranges = plan.reverse ? [...plan.ranges].reverse() : plan.ranges;
    // Several bounded ranges (an $in): up to IN_BATCH of them in one statement while they hold few keys.
    const bounded = ranges.length > 1 && ranges.every((r) => r.lo && r.hi && r.loInclusive !== false && !r.hiInclusive);
    for (let i = 0; i < ranges.length; i += bounded ? IN_BATCH : ranges.length) {
      const chunk = bounded ? ranges.slice(i, i + IN_BATCH) : ranges;
      if (bounded) {
        open();
        const keys = reader.keysInRanges(plan.index.iid, chunk as Array<{ lo: Buffer; hi: Buffer }>, RANGES_KEYS);
        if (keys.length < RANGES_KEYS) {
          for (const row of rowsOfKeys(reader, keys, open, want)) yield entryFromRow(row);
          continue;
        }
        // Many keys: the ranges one by one, each a page at a time (what a page holds is all in memory).
      }
      for (const range of chunk) {
        let after: KeyRow | undefined;
        let limit = want !== undefined && chunk.length === 1 ? Math.min(PAGE, Math.max(1, want)) : PAGE;
        for (;;) {
          open();
          const keys = reader.keys(plan.index.iid, range, after, limit, plan.reverse, cid);
          for (const row of rowsOfKeys(reader, keys, open, want)) yield entryFromRow(row);
          if (keys.length < limit) break;
          after = keys[keys.length - 1];
          limit = PAGE;
        }
      }
    }
  }

  /** Entries matching `filter` (exact form), using an index where one applies. */
  match(coll: Collection, filter: Doc | undefined | null, opts: FindOptions = {}): Entry[] {
    return [...this.scan(coll, filter, opts)];
  }

  /** Number of documents the command can see. */
  size(coll: Collection): number {
    if (!this.txn?.overlays.get(coll)?.entries.size && coll.cid !== undefined) return this.reader.count(coll.cid);
    let n = 0;
    for (const _ of this.scan(coll, undefined)) n++;
    return n;
  }

  all(coll: Collection): Entry[] {
    return this.match(coll, undefined);
  }

  // -------------------------------------------------------------------------------------------------------
  // Writes

  insert(coll: Collection, doc: Doc): Entry {
    return this.insertEntry(coll, makeEntry(doc));
  }

  /** Inserts a prepared entry (engine/collection.ts `entryFromBytes` for bytes off the wire). */
  insertEntry(coll: Collection, entry: Entry): Entry {
    if (this.txn) {
      if (this.get(coll, entry.idKey)) throw coll.indexes.get('_id_')!.duplicateError(coll.ns, [entry.exact._id]);
      this.writeInTransaction(coll, entry.id, entry);
    } else writeRow(this.catalog, coll, undefined, entry, this.stamp()); // the _id index refuses a duplicate there
    return entry;
  }

  replace(coll: Collection, previous: Entry, doc: Doc): Entry {
    const entry = makeEntry(doc);
    if (entry.id !== previous.id) {
      throw new MongoServerError(ErrorCodes.ImmutableField, "Performing an update on the path '_id' would modify the immutable field '_id'");
    }
    if (this.txn) this.writeInTransaction(coll, entry.id, entry);
    else writeRow(this.catalog, coll, previous, entry, this.stamp());
    return entry;
  }

  delete(coll: Collection, previous: Entry): void {
    if (this.txn) this.writeInTransaction(coll, previous.id, null);
    else writeRow(this.catalog, coll, previous, null, this.stamp());
  }

  private stamp(): number {
    if (!this.store.inWrite) throw new Error('engine: a write outside a write transaction');
    return (this.seq ??= this.store.nextSeq());
  }

  private writeInTransaction(coll: Collection, id: string, entry: Entry | null): void {
    const txn = this.txn!;
    if (entry) bytesOf(entry); // refuse an oversized document now, not at commit
    txn.locks.acquire(coll, id, txn);
    const o = txn.overlay(coll);
    if (!o.baseVersions.has(id)) {
      // First-writer-wins: a document committed by someone else since the snapshot cannot be overwritten.
      const idKey = Buffer.from(id, 'latin1');
      const inSnapshot = coll.cid === undefined ? undefined : txn.reader.byIdKey(coll.cid, idKey);
      const latest = coll.cid === undefined ? undefined : this.store.reader.byIdKey(coll.cid, idKey);
      if ((inSnapshot?.ver ?? null) !== (latest?.ver ?? null)) {
        if (!o.entries.has(id)) txn.locks.release(coll, id, txn);
        throw writeConflict(latest ? 'The document was changed after this transaction started.' : 'The document was deleted after this transaction started.');
      }
      o.baseVersions.set(id, inSnapshot ? Number(inSnapshot.ver) : null);
    }
    if (entry) this.checkUniqueInTransaction(coll, o, entry);
    this.unindexOverlay(coll, o, id);
    o.entries.set(id, entry);
    if (entry) this.indexOverlay(coll, o, entry);
  }

  private checkUniqueInTransaction(coll: Collection, o: Overlay, entry: Entry): void {
    for (const index of coll.indexes.values()) {
      if (!index.unique || index.isId) continue;
      const keys = index.keysOf(entry);
      if (!keys) continue;
      const mine = o.uniqueKeys.get(index.name);
      keys.keys.forEach((k, i) => {
        // Committed documents, except those this transaction has replaced or deleted.
        if (coll.cid !== undefined) {
          const holder = this.store.keyHolder(index.iid, k, 0);
          if (holder !== undefined) {
            const row = this.store.reader.byRowId(holder);
            const holderId = row ? entryFromRow(row).id : undefined;
            if (holderId !== undefined && holderId !== entry.id && !o.entries.has(holderId)) throw index.duplicateError(coll.ns, keys.values[i]);
          }
        }
        const other = mine?.get(k.toString('latin1'));
        if (other !== undefined && other !== entry.id) throw index.duplicateError(coll.ns, keys.values[i]);
      });
    }
  }

  private indexOverlay(coll: Collection, o: Overlay, entry: Entry): void {
    for (const index of coll.indexes.values()) {
      if (!index.unique || index.isId) continue;
      const keys = index.keysOf(entry);
      if (!keys) continue;
      let mine = o.uniqueKeys.get(index.name);
      if (!mine) o.uniqueKeys.set(index.name, (mine = new Map()));
      for (const k of keys.keys) mine.set(k.toString('latin1'), entry.id);
    }
  }

  private unindexOverlay(coll: Collection, o: Overlay, id: string): void {
    const previous = o.entries.get(id);
    if (!previous) return;
    for (const index of coll.indexes.values()) {
      const mine = o.uniqueKeys.get(index.name);
      const keys = mine && index.keysOf(previous);
      if (keys) for (const k of keys.keys) if (mine!.get(k.toString('latin1')) === id) mine!.delete(k.toString('latin1'));
    }
  }
}

/**
 * Writes one document (or deletes it, when `next` is null) in the store with its index entries, inside the
 * current write transaction. Unique indexes are checked before anything changes.
 */
export function writeRow(catalog: Catalog, coll: Collection, previous: Entry | undefined, next: Entry | null, seq: number): void {
  const store = catalog.store;
  if (coll.cid === undefined) catalog.create(coll);
  const cid = coll.cid!;
  const indexes = coll.secondary();
  const oldKeys = previous ? indexes.map((ix) => ix.keysOf(previous)) : [];
  if (!next) {
    indexes.forEach((ix, i) => {
      for (const k of oldKeys[i]?.keys ?? []) store.removeKey(ix.iid, k, previous!.rid);
    });
    store.deleteDoc(previous!.rid);
    return;
  }
  const bytes = bytesOf(next, previous !== undefined);
  const newKeys: Array<DocKeys | undefined> = indexes.map((ix) => ix.keysOf(next));
  const rid = previous?.rid ?? 0;
  indexes.forEach((ix, i) => {
    if (!ix.unique) return;
    const k = newKeys[i];
    k?.keys.forEach((key, j) => {
      if (store.keyHolder(ix.iid, key, rid) !== undefined) throw ix.duplicateError(coll.ns, k.values[j]);
    });
  });
  if (previous) {
    store.updateDoc(previous.rid, seq, bytes);
    next.rid = previous.rid;
  } else {
    // Nothing has been written yet: a duplicate _id is refused by the documents table's unique index.
    const rid = store.insertDoc(cid, next.idKey, seq, bytes);
    if (rid === undefined) throw coll.indexes.get('_id_')!.duplicateError(coll.ns, [next.exact._id]);
    next.rid = rid;
  }
  next.version = seq;
  indexes.forEach((ix: Index, i) => {
    const before = new Set((oldKeys[i]?.keys ?? []).map((k) => k.toString('latin1')));
    const after = newKeys[i];
    const afterSet = new Set((after?.keys ?? []).map((k) => k.toString('latin1')));
    for (const k of oldKeys[i]?.keys ?? []) if (!afterSet.has(k.toString('latin1'))) store.removeKey(ix.iid, k, next.rid);
    for (const k of after?.keys ?? []) if (!before.has(k.toString('latin1'))) store.addKey(ix.iid, k, next.rid);
    if (after?.multi) catalog.markMultikey(ix);
  });
}

/**
 * Applies a transaction's overlay in one store transaction, or nothing at all: if a document changed since the
 * transaction first wrote it, or a unique key is now taken, the commit fails with a WriteConflict.
 */
export function commitTransaction(catalog: Catalog, txn: Transaction, record?: () => void): void {
  const store = catalog.store;
  store.begin();
  try {
    for (const coll of txn.created.values()) {
      if (catalog.get(coll.db, coll.name)) throw writeConflict(`Collection ${coll.ns} was created by another operation meanwhile.`);
      catalog.create(coll);
    }
    for (const [coll, o] of txn.overlays) {
      const current = catalog.get(coll.db, coll.name);
      if (current !== coll) throw writeConflict(`Collection ${coll.ns} was dropped or recreated meanwhile.`);
      for (const [id, expected] of o.baseVersions) {
        const row = store.reader.byIdKey(coll.cid!, Buffer.from(id, 'latin1'));
        if ((row ? Number(row.ver) : null) !== expected) {
          throw writeConflict('A document written by this transaction was changed by another operation.');
        }
      }
    }
    const seq = store.nextSeq();
    for (const pass of ['delete', 'put'] as const) {
      for (const [coll, o] of txn.overlays) {
        for (const [id, entry] of o.entries) {
          if ((pass === 'delete') !== (entry === null)) continue;
          const row = store.reader.byIdKey(coll.cid!, Buffer.from(id, 'latin1'));
          const previous = row ? entryFromRow(row) : undefined;
          if (!entry && !previous) continue;
          writeRow(catalog, coll, previous, entry, seq);
        }
      }
    }
    record?.();
    store.commit();
  } catch (err) {
    store.rollback();
    catalog.reload();
    if (err instanceof MongoServerError && err.code === ErrorCodes.DuplicateKey) {
      throw writeConflict('A unique key written by this transaction was taken by another operation.');
    }
    throw err;
  } finally {
    txn.release();
  }
}
