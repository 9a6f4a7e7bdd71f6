// Collections and indexes as the engine describes them: names, options, index specs and how an index derives
// its keys from a document. The documents and index entries themselves live in the store (engine/store.ts).
import { BSON, UUID } from 'bson';
import { ErrorCodes, MongoServerError } from './errors.ts';
import { tupleKey, valueKey } from './keys.ts';
import { FieldNames, pickedFields } from './raw-bson.ts';
import { type Matcher, compileFilter } from './query.ts';
import { type Doc, EXACT, isPlainObject, pathValuesForIndex, shellString, toNumber, toView } from './values.ts';

/** One document as a command sees it: its exact form, the view mingo reads, where it is stored and which commit wrote it. */
export interface Entry {
  /** The _id key (engine/keys.ts) as a string: equal for equal _id values. */
  readonly id: string;
  readonly idKey: Buffer;
  readonly exact: Doc;
  readonly view: Doc;
  /** The BSON it is stored as, when it came from the store or arrived as bytes to insert. */
  readonly bytes?: Uint8Array;
  /** `bytes` is a row the store read for this entry alone: nothing else holds it (engine/raw.ts may release it). */
  readonly ownsBytes?: boolean;
  /** `_id` and the top-level fields the indexes read, when only those were decoded (an insert's bytes). */
  readonly fields?: Doc;
  /** Row id in the store; 0 until stored. */
  rid: number;
  /** Sequence of the commit that wrote it; 0 until stored. */
  version: number;
  /**
   * A document with the top-level fields `names` holds (and `_id`), for a filter or a projection that reads no
   * others: stored bytes are walked, not decoded. The whole document when it is decoded already, when `names` is
   * undefined, or when it holds a type the walk does not know.
   */
  pick(names: FieldNames | undefined): Doc;
}

/** What Entry.pick is given for the fields `fields` names: undefined when the whole document is needed. */
export function fieldPicker(fields: readonly string[] | null): FieldNames | undefined {
  // `$ref`/`$id` at the top would make bson read the picked few as a DBRef, not the document they were part of.
  return fields && !fields.some((f) => f.startsWith('$')) ? new FieldNames(fields) : undefined;
}

/** Maps views handed to mingo back to the exact documents they came from (aggregation output). */
export const exactOfView = new WeakMap<object, Doc>();
/** Exact documents as stored: never to be modified in place. */
export const storedDocs = new WeakSet<object>();

class StoredEntry implements Entry {
  private decoded: Doc | undefined;
  private viewed: Doc | undefined;

  constructor(
    readonly id: string,
    readonly idKey: Buffer,
    public rid: number,
    public version: number,
    readonly bytes?: Uint8Array,
    exact?: Doc,
    readonly fields?: Doc,
    readonly ownsBytes = false,
  ) {
    this.decoded = exact;
    if (exact) storedDocs.add(exact);
  }

  pick(names: FieldNames | undefined): Doc {
    if (this.decoded !== undefined || !this.bytes || !names) return this.exact;
    return pickedFields(this.bytes, names) ?? this.exact;
  }

  /** Decoded on first use: a plain find answers with `bytes` and never needs it. */
  get exact(): Doc {
    if (this.decoded === undefined) {
      this.decoded = BSON.deserialize(this.bytes!, EXACT) as Doc;
      storedDocs.add(this.decoded);
    }
    return this.decoded;
  }

  // The view costs as much as decoding the document (every Decimal128 becomes a double through its text), and
  // only aggregation and $expr read it: made on first use.
  get view(): Doc {
    if (this.viewed === undefined) {
      this.viewed = toView(this.exact) as Doc;
      exactOfView.set(this.viewed, this.exact);
    }
    return this.viewed;
  }
}

export function makeEntry(exact: Doc, rid = 0, version = 0): Entry {
  const idKey = valueKey(exact._id);
  return new StoredEntry(idKey.toString('latin1'), idKey, rid, version, undefined, exact);
}

/** A document to insert as the bytes it arrived as, with its `_id` and indexed fields decoded (engine/raw-bson.ts). */
export function entryFromBytes(bytes: Uint8Array, fields: Doc): Entry {
  const idKey = valueKey(fields._id);
  return new StoredEntry(idKey.toString('latin1'), idKey, 0, 0, bytes, undefined, fields);
}

export function entryFromRow(row: { rid: number; ver: number; doc: Uint8Array; id: Uint8Array }): Entry {
  const idKey = Buffer.from(row.id.buffer, row.id.byteOffset, row.id.byteLength);
  return new StoredEntry(idKey.toString('latin1'), idKey, Number(row.rid), Number(row.ver), row.doc, undefined, undefined, true);
}

export interface IndexSpec {
  v?: number;
  key: Doc;
  name: string;
  unique?: boolean;
  sparse?: boolean;
  partialFilterExpression?: Doc;
  expireAfterSeconds?: number;
  hidden?: boolean;
  [option: string]: unknown;
}

const ALLOWED_INDEX_OPTIONS = new Set([
  'v', 'key', 'name', 'unique', 'sparse', 'partialFilterExpression', 'expireAfterSeconds', 'background', 'ns', 'hidden',
]);

/** The keys one document gives an index. */
export interface DocKeys {
  keys: Buffer[];
  /** The values of each key, for duplicate-key messages. */
  values: unknown[][];
  /** Some indexed field held an array: the index becomes multikey. */
  multi: boolean;
}

export class Index {
  readonly fields: Array<[string, number]>;
  readonly directions: number[];
  readonly unique: boolean;
  readonly sparse: boolean;
  private readonly partial: Matcher | undefined;

  constructor(
    public spec: IndexSpec,
    /** Row id of the index in the store; 0 for the _id index, which the documents table itself serves. */
    readonly iid: number,
    /** An array value has been indexed: a range on one field can no longer be bounded on both sides. */
    public multikey = false,
    /** The commit sequence at which it was built: a transaction that started before cannot use it. */
    readonly builtSeq = 0,
  ) {
    this.fields = Object.entries(spec.key).map(([f, d]) => [f, typeof d === 'string' ? 1 : toNumber(d)]);
    this.directions = this.fields.map(([, d]) => (d < 0 ? -1 : 1));
    this.unique = spec.unique === true || spec.name === '_id_';
    this.sparse = spec.sparse === true;
    this.partial = spec.partialFilterExpression ? compileFilter(spec.partialFilterExpression) : undefined;
  }

  get name(): string {
    return this.spec.name;
  }

  get isId(): boolean {
    return this.iid === 0;
  }

  get isPartial(): boolean {
    return this.partial !== undefined;
  }

  get hidden(): boolean {
    return this.spec.hidden === true;
  }

  /** Key tuples of a document (several for array fields), or none when sparse/partial leaves it out. */
  keysOf(entry: Pick<Entry, 'exact' | 'fields'>): DocKeys | undefined {
    if (this.partial && !this.partial.test(entry.exact)) return undefined;
    const doc = entry.fields ?? entry.exact;
    const perField = this.fields.map(([f]) => pathValuesForIndex(doc, f));
    if (this.sparse && perField.every((vals) => vals.length === 0)) return undefined;
    let multi = false;
    let tuples: unknown[][] = [[]];
    for (const vals of perField) {
      if (vals.length > 1 || (vals.length === 1 && vals[0] === undefined)) multi = true;
      const options = vals.length === 0 ? [null] : vals;
      const next: unknown[][] = [];
      for (const t of tuples) for (const v of options) next.push([...t, v === undefined ? null : v]);
      tuples = next;
    }
    if (!multi) multi = this.fields.some(([f]) => holdsArray(doc, f));
    const seen = new Set<string>();
    const keys: Buffer[] = [];
    const values: unknown[][] = [];
    for (const t of tuples) {
      const k = tupleKey(t, this.directions);
      const s = k.toString('latin1');
      if (seen.has(s)) continue;
      seen.add(s);
      keys.push(k);
      values.push(t);
    }
    return { keys, values, multi };
  }

  duplicateError(ns: string, values: unknown[]): MongoServerError {
    const keyPattern: Doc = {};
    const keyValue: Doc = {};
    this.fields.forEach(([f, d], i) => {
      keyPattern[f] = d;
      keyValue[f] = values[i];
    });
    const dup = this.fields.map(([f], i) => `${f}: ${shellString(values[i])}`).join(', ');
    return new MongoServerError(
      ErrorCodes.DuplicateKey,
      `E11000 duplicate key error collection: ${ns} index: ${this.name} dup key: { ${dup} }`,
      { extra: { keyPattern, keyValue } },
    );
  }
}

/** Whether a path passes through or ends at an array (the index is then multikey). */
function holdsArray(doc: unknown, path: string): boolean {
  let cur: unknown = doc;
  for (const seg of path.split('.')) {
    if (Array.isArray(cur)) return true;
    if (cur === null || typeof cur !== 'object') return false;
    cur = (cur as Doc)[seg];
  }
  return Array.isArray(cur);
}

export function validateIndexSpec(raw: unknown): IndexSpec {
  if (!isPlainObject(raw)) throw new MongoServerError(ErrorCodes.TypeMismatch, 'index specification must be an object');
  const spec = raw as IndexSpec;
  if (!isPlainObject(spec.key) || Object.keys(spec.key).length === 0) {
    throw new MongoServerError(ErrorCodes.CannotCreateIndex, "Index keys cannot be empty.");
  }
  if (typeof spec.name !== 'string' || !spec.name) {
    throw new MongoServerError(ErrorCodes.CannotCreateIndex, "The 'name' field is a required property of an index specification");
  }
  for (const [field, dir] of Object.entries(spec.key)) {
    if (typeof dir === 'string') {
      throw new MongoServerError(ErrorCodes.CannotCreateIndex, `Index type '${dir}' on field '${field}' is not supported by the embedded engine`);
    }
    const n = toNumber(dir);
    if (!Number.isFinite(n) || n === 0) throw new MongoServerError(ErrorCodes.CannotCreateIndex, `Values in the index key pattern can't be 0: ${field}`);
  }
  for (const opt of Object.keys(spec)) {
    if (!ALLOWED_INDEX_OPTIONS.has(opt)) {
      throw new MongoServerError(ErrorCodes.InvalidIndexSpecificationOption, `The field '${opt}' is not valid for an index specification (embedded engine)`);
    }
  }
  if (spec.expireAfterSeconds !== undefined) {
    const s = toNumber(spec.expireAfterSeconds);
    if (!Number.isFinite(s) || s < 0) throw new MongoServerError(ErrorCodes.CannotCreateIndex, 'expireAfterSeconds must be a non-negative number');
    if (Object.keys(spec.key).length !== 1) throw new MongoServerError(ErrorCodes.CannotCreateIndex, 'TTL indexes are single-field indexes, compound indexes do not support TTL');
  }
  if (spec.partialFilterExpression !== undefined && !isPlainObject(spec.partialFilterExpression)) {
    throw new MongoServerError(ErrorCodes.TypeMismatch, 'partialFilterExpression must be an object');
  }
  return spec;
}

const ID_INDEX: IndexSpec = { v: 2, key: { _id: 1 }, name: '_id_' };

export class Collection {
  readonly indexes = new Map<string, Index>();

  constructor(
    readonly db: string,
    readonly name: string,
    public options: Doc = {},
    readonly uuid: UUID = new UUID(),
    /** Row id in the store; undefined while the collection exists only inside an open transaction. */
    public cid?: number,
  ) {
    this.indexes.set('_id_', new Index(ID_INDEX, 0));
  }

  get ns(): string {
    return `${this.db}.${this.name}`;
  }

  /** The top-level fields the secondary indexes read (the first part of each indexed path). */
  indexedFields(): Set<string> {
    const names = new Set<string>();
    for (const ix of this.indexes.values()) if (!ix.isId) for (const [f] of ix.fields) names.add(f.split('.')[0]);
    return names;
  }

  /**
   * Checks a requested index against the existing ones: 'exists' for the same index again, an error for a
   * name or key pattern already used differently, 'new' otherwise.
   */
  checkNewIndex(spec: IndexSpec): 'exists' | 'new' {
    const sameName = this.indexes.get(spec.name);
    const sameKey = [...this.indexes.values()].find((ix) => JSON.stringify(toView(ix.spec.key)) === JSON.stringify(toView(spec.key)));
    const optionsOf = (s: IndexSpec) =>
      JSON.stringify(toView({ unique: !!s.unique, sparse: !!s.sparse, p: s.partialFilterExpression ?? null, ttl: s.expireAfterSeconds ?? null }));
    if (sameName) {
      if (JSON.stringify(toView(sameName.spec.key)) !== JSON.stringify(toView(spec.key))) {
        throw new MongoServerError(ErrorCodes.IndexKeySpecsConflict, `An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. Requested index: ${shellString(spec.key)}, existing index: ${shellString(sameName.spec.key)}`);
      }
      if (optionsOf(sameName.spec) !== optionsOf(spec)) {
        throw new MongoServerError(ErrorCodes.IndexOptionsConflict, `An existing index has the same name as the requested index but different options: ${spec.name}`);
      }
      return 'exists';
    }
    if (sameKey && optionsOf(sameKey.spec) === optionsOf(spec) && !spec.partialFilterExpression) {
      throw new MongoServerError(ErrorCodes.IndexOptionsConflict, `Index already exists with a different name: ${sameKey.name}`);
    }
    return 'new';
  }

  /** Secondary indexes (every index but _id's, which the documents table serves). */
  secondary(): Index[] {
    return [...this.indexes.values()].filter((ix) => !ix.isId);
  }
}
