// Reading and writing documents, either directly or inside a transaction.
//
// A transaction keeps its writes in a private overlay; nobody else sees them until commit. The first writer of
// a document locks it for its transaction, so a second transaction writing the same document gets a
// WriteConflict (labelled TransientTransactionError, so the driver's withTransaction retries). At commit the
// overlay is applied to the collections only if no document it wrote changed underneath it; the whole commit
// is one journal record.
import type { Catalog, JournalOp } from './catalog.ts';
import { type Collection, type Entry, closeSnapshot, makeEntry, openSnapshot, stamp } from './collection.ts';
import { ErrorCodes, MongoServerError, writeConflict } from './errors.ts';
import { compileFilter } from './query.ts';
import type { Doc } from './values.ts';

interface Overlay {
  /** id -> the transaction's version of the document (null: deleted by the transaction). */
  entries: Map<string, Entry | null>;
  /** id -> version of the committed document when the transaction first wrote it (null: it did not exist). */
  baseVersions: Map<string, number | null>;
  /** unique index name -> key -> id, for the transaction's own documents. */
  uniqueKeys: Map<string, Map<string, string>>;
}

export class Transaction {
  readonly overlays = new Map<Collection, Overlay>();
  lastUse = Date.now();
  /** Commit version whose state the transaction reads (snapshot isolation). */
  readonly snapshot: number;
  /** Collections its statements created implicitly: dropped again if it aborts. */
  readonly createdCollections: Collection[] = [];
  constructor(
    readonly locks: LockTable,
    readonly label: string,
  ) {
    this.snapshot = openSnapshot(this);
  }

  overlay(coll: Collection): Overlay {
    let o = this.overlays.get(coll);
    if (!o) this.overlays.set(coll, (o = { entries: new Map(), baseVersions: new Map(), uniqueKeys: new Map() }));
    return o;
  }

  release(): void {
    for (const [coll, o] of this.overlays) for (const id of o.entries.keys()) this.locks.release(coll, id, this);
    this.overlays.clear();
    closeSnapshot(this);
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
}

/** The documents and writes one command sees: committed state, or committed state under a transaction's overlay. */
export class Access {
  constructor(
    readonly catalog: Catalog,
    readonly ops: JournalOp[],
    readonly txn?: Transaction,
  ) {}

  /** The version of one document this command sees, by id key. */
  get(coll: Collection, id: string): Entry | undefined {
    if (!this.txn) return coll.docs.get(id);
    const o = this.txn.overlays.get(coll);
    if (o?.entries.has(id)) return o.entries.get(id) ?? undefined;
    return coll.visibleAt(id, this.txn.snapshot);
  }

  /** Entries matching `filter` (exact form), in storage order, using an index where one applies. */
  match(coll: Collection, filter: Doc | undefined | null, opts: FindOptions = {}): Entry[] {
    const matcher = compileFilter(filter);
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Infinity;
    const out: Entry[] = [];
    const candidates = coll.candidates(filter);
    if (!this.txn) {
      if (candidates) {
        const seen = new Set<string>();
        for (const id of candidates) {
          if (seen.has(id)) continue;
          seen.add(id);
          const e = coll.docs.get(id);
          if (e && matcher.test(e.exact, e.view)) out.push(e);
          if (out.length >= limit) break;
        }
        return out;
      }
      for (const e of coll.docs.values()) {
        if (matcher.test(e.exact, e.view)) out.push(e);
        if (out.length >= limit) break;
      }
      return out;
    }
    // In a transaction the index reflects the newest commits only: also consider every document the
    // transaction wrote and every older version its snapshot may still see.
    const seen = new Set<string>();
    const consider = (id: string): boolean => {
      if (seen.has(id)) return false;
      seen.add(id);
      const e = this.get(coll, id);
      if (e && matcher.test(e.exact, e.view)) out.push(e);
      return out.length >= limit;
    };
    for (const id of candidates ?? coll.docs.keys()) if (consider(id)) return out;
    for (const id of coll.history.keys()) if (consider(id)) return out;
    for (const id of this.txn.overlays.get(coll)?.entries.keys() ?? []) if (consider(id)) return out;
    return out;
  }

  /** Number of documents the command can see. */
  size(coll: Collection): number {
    return this.txn ? this.all(coll).length : coll.docs.size;
  }

  all(coll: Collection): Entry[] {
    return this.match(coll, undefined);
  }

  collection(db: string, name: string): Collection | undefined {
    return this.catalog.get(db, name);
  }

  ensureCollection(db: string, name: string): Collection {
    const existed = this.catalog.get(db, name);
    const coll = existed ?? this.catalog.ensure(db, name, this.ops);
    if (!existed && this.txn) this.txn.createdCollections.push(coll);
    return coll;
  }

  insert(coll: Collection, doc: Doc): Entry {
    const entry = makeEntry(doc);
    if (this.get(coll, entry.id)) {
      const idIndex = coll.indexes.get('_id_')!;
      throw idIndex.duplicateError(coll.ns, [doc._id]);
    }
    this.write(coll, entry.id, entry);
    return entry;
  }

  replace(coll: Collection, previous: Entry, doc: Doc): Entry {
    const entry = makeEntry(doc);
    if (entry.id !== previous.id) {
      throw new MongoServerError(ErrorCodes.ImmutableField, "Performing an update on the path '_id' would modify the immutable field '_id'");
    }
    this.write(coll, entry.id, entry);
    return entry;
  }

  delete(coll: Collection, previous: Entry): void {
    this.write(coll, previous.id, null);
  }

  private write(coll: Collection, id: string, entry: Entry | null): void {
    const txn = this.txn;
    if (!txn) {
      if (entry) {
        coll.put(entry);
        this.ops.push({ o: 'put', db: coll.db, c: coll.name, d: entry.exact });
      } else {
        const removed = coll.remove(id);
        if (removed) this.ops.push({ o: 'del', db: coll.db, c: coll.name, id: removed.exact._id });
      }
      return;
    }
    txn.lastUse = Date.now();
    txn.locks.acquire(coll, id, txn);
    const o = txn.overlay(coll);
    if (!o.baseVersions.has(id)) {
      // First-writer-wins: a document committed by someone else since the snapshot cannot be overwritten.
      const committed = coll.docs.get(id);
      if (committed && committed !== coll.visibleAt(id, txn.snapshot)) {
        txn.locks.release(coll, id, txn);
        throw writeConflict('The document was changed after this transaction started.');
      }
      if (!committed && coll.visibleAt(id, txn.snapshot)) {
        txn.locks.release(coll, id, txn);
        throw writeConflict('The document was deleted after this transaction started.');
      }
    }
    if (entry) this.checkUniqueInTransaction(coll, o, entry);
    if (!o.baseVersions.has(id)) o.baseVersions.set(id, coll.docs.get(id)?.version ?? null);
    this.unindexOverlay(coll, o, id);
    o.entries.set(id, entry);
    if (entry) this.indexOverlay(coll, o, entry);
  }

  private checkUniqueInTransaction(coll: Collection, o: Overlay, entry: Entry): void {
    // Committed documents, except those this transaction has replaced or deleted.
    coll.checkUnique(entry, (id) => o.entries.has(id));
    for (const index of coll.indexes.values()) {
      if (!index.unique) continue;
      const keys = index.keysOf(entry);
      const mine = o.uniqueKeys.get(index.name);
      if (!keys || !mine) continue;
      keys.keys.forEach((k, i) => {
        const holder = mine.get(k);
        if (holder !== undefined && holder !== entry.id) throw index.duplicateError(coll.ns, keys.values[i]);
      });
    }
  }

  private indexOverlay(coll: Collection, o: Overlay, entry: Entry): void {
    for (const index of coll.indexes.values()) {
      if (!index.unique) continue;
      const keys = index.keysOf(entry);
      if (!keys) continue;
      let mine = o.uniqueKeys.get(index.name);
      if (!mine) o.uniqueKeys.set(index.name, (mine = new Map()));
      for (const k of keys.keys) mine.set(k, entry.id);
    }
  }

  private unindexOverlay(coll: Collection, o: Overlay, id: string): void {
    const previous = o.entries.get(id);
    if (!previous) return;
    for (const index of coll.indexes.values()) {
      const mine = o.uniqueKeys.get(index.name);
      const keys = mine && index.keysOf(previous);
      if (keys) for (const k of keys.keys) if (mine!.get(k) === id) mine!.delete(k);
    }
  }
}

/**
 * Applies a transaction's overlay to the committed collections, or nothing at all: if a document changed since
 * the transaction first wrote it, or a unique key is now taken, the commit fails with a WriteConflict.
 */
export function commitTransaction(txn: Transaction, ops: JournalOp[]): void {
  for (const [coll, o] of txn.overlays) {
    for (const [id, expected] of o.baseVersions) {
      if ((coll.docs.get(id)?.version ?? null) !== expected) {
        throw writeConflict('A document written by this transaction was changed by another operation.');
      }
    }
  }
  const undo: Array<() => void> = [];
  try {
    for (const pass of ['delete', 'put'] as const) {
      for (const [coll, o] of txn.overlays) {
        for (const [id, entry] of o.entries) {
          if (pass === 'delete' && entry === null) {
            const previous = coll.remove(id);
            if (previous) {
              undo.push(() => coll.put(previous));
              ops.push({ o: 'del', db: coll.db, c: coll.name, id: previous.exact._id });
            }
          } else if (pass === 'put' && entry) {
            const previous = coll.put(stamp(entry));
            undo.push(() => (previous ? coll.put(previous) : coll.remove(id)));
            ops.push({ o: 'put', db: coll.db, c: coll.name, d: entry.exact });
          }
        }
      }
    }
  } catch (err) {
    for (const u of undo.reverse()) u();
    ops.length = 0;
    if (err instanceof MongoServerError && err.code === ErrorCodes.DuplicateKey) {
      throw writeConflict('A unique key written by this transaction was taken by another operation.');
    }
    throw err;
  } finally {
    txn.release();
  }
}
