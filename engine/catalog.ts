// Databases and their collections and indexes: kept in memory for every command to consult, and changed only
// together with their rows in the store, inside the write transaction of the command that changes them.
import { BSON, UUID } from 'bson';
import { Collection, Index, type IndexSpec, entryFromRow } from './collection.ts';
import { ErrorCodes, MongoServerError } from './errors.ts';
import type { Store } from './store.ts';
import type { Doc } from './values.ts';
import { EXACT } from './wire.ts';

const NAME_RE = /^[^\0$]+$/;

export function validateNamespace(db: string, coll?: string): void {
  if (!db || /[/\\. "$\0]/.test(db) || db.length > 63) throw new MongoServerError(ErrorCodes.InvalidNamespace, `Invalid database name: '${db}'`);
  if (coll !== undefined && (!NAME_RE.test(coll) || coll.startsWith('.') || coll.startsWith('system.'))) {
    throw new MongoServerError(ErrorCodes.InvalidNamespace, `Invalid collection name: ${coll}`);
  }
}

const bson = (d: Doc): Uint8Array => BSON.serialize(d, { ignoreUndefined: true });
const fromBson = (b: Uint8Array): Doc => BSON.deserialize(b, EXACT) as Doc;

export class Catalog {
  readonly dbs = new Map<string, Map<string, Collection>>();
  /** Counts changes, so a rolled-back statement can tell whether the catalog must be reloaded. */
  changes = 0;

  constructor(readonly store: Store) {
    this.reload();
  }

  /** Rebuilds the in-memory catalog from the store (at start, and after a rolled-back write changed it). */
  reload(): void {
    // Collections that are still there keep their objects: transactions and cursors hold on to them.
    const previous = new Map(this.all().filter((c) => c.cid !== undefined).map((c) => [c.cid!, c]));
    this.dbs.clear();
    const byCid = new Map<number, Collection>();
    for (const row of this.store.collections()) {
      const cid = Number(row.cid);
      const kept = previous.get(cid);
      const coll =
        kept && kept.db === row.db && kept.name === row.name
          ? kept
          : new Collection(row.db, row.name, fromBson(row.options), new UUID(Buffer.from(row.uuid)), cid);
      coll.options = fromBson(row.options);
      for (const name of [...coll.indexes.keys()]) if (name !== '_id_') coll.indexes.delete(name);
      this.attach(coll);
      byCid.set(cid, coll);
    }
    for (const row of this.store.indexes()) {
      const coll = byCid.get(Number(row.cid));
      if (!coll) continue;
      coll.indexes.set(row.name, new Index(fromBson(row.spec) as IndexSpec, Number(row.iid), row.multikey === 1, Number(row.built_seq)));
    }
    this.changes++;
  }

  get(db: string, name: string): Collection | undefined {
    return this.dbs.get(db)?.get(name);
  }

  list(db: string): Collection[] {
    return [...(this.dbs.get(db)?.values() ?? [])];
  }

  all(): Collection[] {
    return [...this.dbs.values()].flatMap((colls) => [...colls.values()]);
  }

  /** Returns the collection, creating it (in the store, inside the current write) when it does not exist. */
  ensure(db: string, name: string, options: Doc = {}): Collection {
    const existing = this.get(db, name);
    if (existing) return existing;
    validateNamespace(db, name);
    return this.create(new Collection(db, name, options));
  }

  /** Stores a collection that so far existed only in memory (created inside a transaction, or new). */
  create(coll: Collection): Collection {
    coll.cid = this.store.createCollection(coll.db, coll.name, coll.uuid.buffer, bson(coll.options));
    this.attach(coll);
    return coll;
  }

  private attach(coll: Collection): void {
    let colls = this.dbs.get(coll.db);
    if (!colls) this.dbs.set(coll.db, (colls = new Map()));
    colls.set(coll.name, coll);
    this.changes++;
  }

  drop(db: string, name: string): boolean {
    const colls = this.dbs.get(db);
    const coll = colls?.get(name);
    if (!colls || !coll) return false;
    if (coll.cid !== undefined) this.store.dropCollection(coll.cid);
    colls.delete(name);
    if (colls.size === 0) this.dbs.delete(db);
    this.changes++;
    return true;
  }

  dropDatabase(db: string): boolean {
    const colls = this.dbs.get(db);
    if (!colls) return false;
    for (const name of [...colls.keys()]) this.drop(db, name);
    return true;
  }

  setOptions(coll: Collection, options: Doc): void {
    coll.options = options;
    if (coll.cid !== undefined) this.store.setCollectionOptions(coll.cid, bson(options));
    this.changes++;
  }

  /** Replaces the spec of an existing index (collMod: hidden, expireAfterSeconds); its keys stay as they are. */
  setIndexSpec(coll: Collection, index: Index, spec: IndexSpec): void {
    index.spec = spec;
    if (!index.isId) this.store.setIndexSpec(index.iid, bson(spec));
    this.changes++;
  }

  /**
   * Builds a new index over the collection's documents, in the current write transaction: every document's keys
   * are entered, and a duplicate in a unique index fails the build (and, by rollback, leaves nothing).
   */
  createIndex(coll: Collection, spec: IndexSpec): Index {
    if (coll.cid === undefined) this.create(coll);
    const cid = coll.cid!;
    const iid = this.store.createIndex(cid, spec.name, bson(spec));
    const index = new Index(spec, iid, false, this.store.seq);
    let after: number | undefined;
    for (;;) {
      const rows = this.store.reader.scan(cid, after, 512);
      if (rows.length === 0) break;
      for (const row of rows) {
        const entry = entryFromRow(row);
        const k = index.keysOf(entry);
        if (!k) continue;
        if (k.multi && !index.multikey) {
          index.multikey = true;
          this.store.setMultikey(iid);
        }
        k.keys.forEach((key, i) => {
          if (index.unique && this.store.keyHolder(iid, key, entry.rid) !== undefined) throw index.duplicateError(coll.ns, k.values[i]);
          this.store.addKey(iid, key, entry.rid);
        });
      }
      after = Number(rows[rows.length - 1].rid);
    }
    coll.indexes.set(spec.name, index);
    this.changes++;
    return index;
  }

  dropIndex(coll: Collection, name: string): void {
    const index = coll.indexes.get(name);
    if (!index || index.isId) return;
    this.store.dropIndex(index.iid);
    coll.indexes.delete(name);
    this.changes++;
  }

  markMultikey(index: Index): void {
    if (index.multikey || index.isId) return;
    index.multikey = true;
    this.store.setMultikey(index.iid);
  }
}
