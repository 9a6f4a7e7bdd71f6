// Databases and their collections, and the journal operations that change them.
import type { UUID } from 'bson';
import { Collection, type IndexSpec, makeEntry } from './collection.ts';
import { ErrorCodes, MongoServerError } from './errors.ts';
import { type Doc, encodeKey } from './values.ts';

/** A change as the journal records it. Every operation is a blind write, so replaying a prefix twice is harmless. */
export type JournalOp =
  | { o: 'put'; db: string; c: string; d: Doc }
  | { o: 'del'; db: string; c: string; id: unknown }
  | { o: 'create'; db: string; c: string; options: Doc; uuid: UUID }
  | { o: 'drop'; db: string; c: string }
  | { o: 'dropDb'; db: string }
  | { o: 'index'; db: string; c: string; spec: IndexSpec }
  | { o: 'dropIndex'; db: string; c: string; name: string };

const NAME_RE = /^[^\0$]+$/;

export function validateNamespace(db: string, coll?: string): void {
  if (!db || /[/\\. "$\0]/.test(db) || db.length > 63) throw new MongoServerError(ErrorCodes.InvalidNamespace, `Invalid database name: '${db}'`);
  if (coll !== undefined && (!NAME_RE.test(coll) || coll.startsWith('.') || coll.startsWith('system.'))) {
    throw new MongoServerError(ErrorCodes.InvalidNamespace, `Invalid collection name: ${coll}`);
  }
}

export class Catalog {
  readonly dbs = new Map<string, Map<string, Collection>>();

  get(db: string, name: string): Collection | undefined {
    return this.dbs.get(db)?.get(name);
  }

  list(db: string): Collection[] {
    return [...(this.dbs.get(db)?.values() ?? [])];
  }

  /** Returns the collection, creating it (and recording the creation in `ops`) when it does not exist. */
  ensure(db: string, name: string, ops: JournalOp[], options: Doc = {}): Collection {
    const existing = this.get(db, name);
    if (existing) return existing;
    validateNamespace(db, name);
    const coll = new Collection(db, name, options);
    this.attach(coll);
    ops.push({ o: 'create', db, c: name, options, uuid: coll.uuid });
    return coll;
  }

  attach(coll: Collection): void {
    let colls = this.dbs.get(coll.db);
    if (!colls) this.dbs.set(coll.db, (colls = new Map()));
    colls.set(coll.name, coll);
  }

  drop(db: string, name: string): boolean {
    const colls = this.dbs.get(db);
    if (!colls?.delete(name)) return false;
    if (colls.size === 0) this.dbs.delete(db);
    return true;
  }

  dropDatabase(db: string): boolean {
    return this.dbs.delete(db);
  }

  /** Applies a journal operation during recovery. */
  apply(op: JournalOp): void {
    switch (op.o) {
      case 'put': {
        const coll = this.get(op.db, op.c) ?? this.createForReplay(op.db, op.c);
        coll.put(makeEntry(op.d));
        return;
      }
      case 'del':
        this.get(op.db, op.c)?.remove(encodeKey(op.id));
        return;
      case 'create':
        if (!this.get(op.db, op.c)) this.attach(new Collection(op.db, op.c, op.options, op.uuid));
        return;
      case 'drop':
        this.drop(op.db, op.c);
        return;
      case 'dropDb':
        this.dropDatabase(op.db);
        return;
      case 'index': {
        const coll = this.get(op.db, op.c) ?? this.createForReplay(op.db, op.c);
        if (!coll.indexes.has(op.spec.name)) coll.addIndex(op.spec);
        return;
      }
      case 'dropIndex':
        this.get(op.db, op.c)?.indexes.delete(op.name);
        return;
      default:
    }
  }

  private createForReplay(db: string, name: string): Collection {
    const coll = new Collection(db, name);
    this.attach(coll);
    return coll;
  }
}
