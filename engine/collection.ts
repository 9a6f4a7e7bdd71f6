// A collection: documents by _id, its indexes, unique-key enforcement and the choice of index for a filter.
import { ObjectId, UUID } from 'bson';
import { ErrorCodes, MongoServerError } from './errors.ts';
import { type Matcher, compileFilter } from './query.ts';
import {
  type Doc,
  encodeKey,
  isPlainObject,
  pathValuesForIndex,
  shellString,
  toNumber,
  toView,
  typeLowerBound,
  typeUpperBound,
} from './values.ts';

/** One stored document: its exact form, the view mingo reads, and the commit version that wrote it. */
export interface Entry {
  readonly id: string;
  readonly exact: Doc;
  readonly view: Doc;
  version: number;
}

/** Maps views handed to mingo back to the exact documents they came from (aggregation output). */
export const exactOfView = new WeakMap<object, Doc>();
/** Exact documents as stored: never to be modified in place. */
export const storedDocs = new WeakSet<object>();

let versionCounter = 0;

/** The newest commit version; a transaction's snapshot is the version current when it starts. */
export const currentVersion = (): number => versionCounter;

/** Gives an entry the next commit version (a transaction's documents get theirs when it commits). */
export function stamp(entry: Entry): Entry {
  entry.version = ++versionCounter;
  return entry;
}

// Snapshots of open transactions. While any is open, replaced and deleted documents are kept as history, so a
// transaction keeps reading the versions that were current when it started.
const openSnapshots = new Map<object, number>();
const collectionsWithHistory = new Set<Collection>();

export function openSnapshot(owner: object): number {
  openSnapshots.set(owner, versionCounter);
  return versionCounter;
}

export function closeSnapshot(owner: object): void {
  openSnapshots.delete(owner);
  const oldest = openSnapshots.size ? Math.min(...openSnapshots.values()) : Infinity;
  for (const coll of collectionsWithHistory) {
    for (const [id, versions] of coll.history) {
      const kept = versions.filter((h) => h.until > oldest);
      if (kept.length) coll.history.set(id, kept);
      else coll.history.delete(id);
    }
    if (coll.history.size === 0) collectionsWithHistory.delete(coll);
  }
}

export interface PastVersion {
  entry: Entry;
  /** The commit version that replaced or deleted it. */
  until: number;
}

export function makeEntry(exact: Doc): Entry {
  const view = toView(exact) as Doc;
  exactOfView.set(view, exact);
  storedDocs.add(exact);
  return { id: encodeKey(exact._id), exact, view, version: ++versionCounter };
}

export interface IndexSpec {
  v?: number;
  key: Doc;
  name: string;
  unique?: boolean;
  sparse?: boolean;
  partialFilterExpression?: Doc;
  expireAfterSeconds?: number;
  [option: string]: unknown;
}

const ALLOWED_INDEX_OPTIONS = new Set([
  'v', 'key', 'name', 'unique', 'sparse', 'partialFilterExpression', 'expireAfterSeconds', 'background', 'ns', 'hidden',
]);

export class Index {
  readonly fields: Array<[string, number]>;
  readonly unique: boolean;
  readonly sparse: boolean;
  private readonly partial: Matcher | undefined;
  /** Full (compound) key -> ids: uniqueness and compound equality. */
  private readonly byKey = new Map<string, Set<string>>();
  /** First field's key -> ids: candidate lookup for equality and ranges on the leading field. */
  private readonly byFirst = new Map<string, Set<string>>();
  /** First-field keys in sorted order, maintained lazily: new keys wait in `pending` until a range scan. */
  private sorted: string[] = [];
  private pending: string[] = [];

  constructor(readonly spec: IndexSpec) {
    this.fields = Object.entries(spec.key).map(([f, d]) => [f, typeof d === 'string' ? 1 : toNumber(d)]);
    this.unique = spec.unique === true || spec.name === '_id_';
    this.sparse = spec.sparse === true;
    this.partial = spec.partialFilterExpression ? compileFilter(spec.partialFilterExpression) : undefined;
  }

  get name(): string {
    return this.spec.name;
  }

  get isPartial(): boolean {
    return this.partial !== undefined;
  }

  /** Key tuples of a document (several for array fields), or none when sparse/partial leaves it out. */
  keysOf(entry: Pick<Entry, 'exact' | 'view'>): { keys: string[]; firsts: string[]; values: unknown[][] } | undefined {
    if (this.partial && !this.partial.test(entry.exact, entry.view)) return undefined;
    const perField = this.fields.map(([f]) => pathValuesForIndex(entry.exact, f));
    if (this.sparse && perField.every((vals) => vals.length === 0)) return undefined;
    let tuples: unknown[][] = [[]];
    for (const vals of perField) {
      const options = vals.length === 0 ? [null] : vals;
      const next: unknown[][] = [];
      for (const t of tuples) for (const v of options) next.push([...t, v === undefined ? null : v]);
      tuples = next;
    }
    const keys = new Set<string>();
    const firsts = new Set<string>();
    const values: unknown[][] = [];
    for (const t of tuples) {
      const k = t.length === 1 ? encodeKey(t[0]) : JSON.stringify(t.map(encodeKey));
      if (!keys.has(k)) values.push(t);
      keys.add(k);
      firsts.add(encodeKey(t[0]));
    }
    return { keys: [...keys], firsts: [...firsts], values };
  }

  add(entry: Entry): void {
    const k = this.keysOf(entry);
    if (!k) return;
    for (const key of k.keys) addTo(this.byKey, key, entry.id);
    for (const f of k.firsts) {
      if (addTo(this.byFirst, f, entry.id)) this.pending.push(f);
    }
  }

  remove(entry: Entry): void {
    const k = this.keysOf(entry);
    if (!k) return;
    for (const key of k.keys) removeFrom(this.byKey, key, entry.id);
    for (const f of k.firsts) removeFrom(this.byFirst, f, entry.id);
  }

  clear(): void {
    this.byKey.clear();
    this.byFirst.clear();
    this.sorted = [];
    this.pending = [];
  }

  /** Ids holding any of the keys of `entry` other than `selfId` and not excused by `ignore`. */
  duplicateOf(
    entry: Pick<Entry, 'exact' | 'view'>,
    selfId: string,
    ignore?: (id: string) => boolean,
  ): { id: string; values: unknown[] } | undefined {
    if (!this.unique) return undefined;
    const k = this.keysOf(entry);
    if (!k) return undefined;
    for (let i = 0; i < k.keys.length; i++) {
      const ids = this.byKey.get(k.keys[i]);
      if (!ids) continue;
      for (const id of ids) if (id !== selfId && !(ignore && ignore(id))) return { id, values: k.values[i] };
    }
    return undefined;
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

  idsForKey(firstKey: string): Iterable<string> {
    return this.byFirst.get(firstKey) ?? [];
  }

  /** Ids whose leading key lies between lo and hi (inclusive flags), in key order. */
  *idsInRange(lo: string, loInclusive: boolean, hi: string, hiInclusive: boolean): Iterable<string> {
    this.settle();
    let i = lowerBound(this.sorted, lo);
    for (; i < this.sorted.length; i++) {
      const key = this.sorted[i];
      if (!loInclusive && key === lo) continue;
      if (key > hi || (!hiInclusive && key === hi)) break;
      const ids = this.byFirst.get(key);
      if (ids) yield* ids;
    }
  }

  private settle(): void {
    if (this.pending.length === 0 && this.sorted.length <= this.byFirst.size * 2 + 64) return;
    if (this.pending.length <= 32) {
      for (const key of this.pending) this.sorted.splice(lowerBound(this.sorted, key), 0, key);
    } else {
      this.sorted.push(...this.pending);
      this.sorted.sort();
    }
    this.pending = [];
    // Drop keys no document holds any more, and keys re-added while still listed.
    if (this.sorted.length > this.byFirst.size) {
      this.sorted = this.sorted.filter((k, i, arr) => this.byFirst.has(k) && (i === 0 || arr[i - 1] !== k));
    }
  }
}

function addTo(map: Map<string, Set<string>>, key: string, id: string): boolean {
  let set = map.get(key);
  const isNew = !set;
  if (!set) map.set(key, (set = new Set()));
  set.add(id);
  return isNew;
}

function removeFrom(map: Map<string, Set<string>>, key: string, id: string): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(id);
  if (set.size === 0) map.delete(key);
}

function lowerBound(arr: string[], key: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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

// ---------------------------------------------------------------------------------------------------------

export class Collection {
  readonly docs = new Map<string, Entry>();
  /** Replaced and deleted versions still visible to an open transaction's snapshot. */
  readonly history = new Map<string, PastVersion[]>();
  readonly indexes = new Map<string, Index>();
  readonly uuid: UUID;

  constructor(
    readonly db: string,
    readonly name: string,
    readonly options: Doc = {},
    uuid?: UUID,
  ) {
    this.uuid = uuid ?? new UUID();
    this.indexes.set('_id_', new Index({ v: 2, key: { _id: 1 }, name: '_id_' }));
  }

  get ns(): string {
    return `${this.db}.${this.name}`;
  }

  /** Index whose spec equals `spec` by key and options; throws on a conflicting name or options. */
  addIndex(spec: IndexSpec): { created: boolean } {
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
      return { created: false };
    }
    if (sameKey && optionsOf(sameKey.spec) === optionsOf(spec) && !spec.partialFilterExpression) {
      throw new MongoServerError(ErrorCodes.IndexOptionsConflict, `Index already exists with a different name: ${sameKey.name}`);
    }
    const index = new Index({ v: 2, ...spec });
    for (const entry of this.docs.values()) {
      const dup = index.duplicateOf(entry, entry.id);
      if (dup) throw index.duplicateError(this.ns, dup.values);
      index.add(entry);
    }
    this.indexes.set(spec.name, index);
    return { created: true };
  }

  /** Checks every unique index for `entry` as it would be stored under its id. */
  checkUnique(entry: Pick<Entry, 'id' | 'exact' | 'view'>, ignore?: (id: string) => boolean): void {
    for (const index of this.indexes.values()) {
      if (!index.unique) continue;
      const dup = index.duplicateOf(entry, entry.id, ignore);
      if (dup) throw index.duplicateError(this.ns, dup.values);
    }
  }

  /** Inserts or replaces the document with entry.id; unique indexes are checked first, so failure changes nothing. */
  put(entry: Entry): Entry | undefined {
    const previous = this.docs.get(entry.id);
    this.checkUnique(entry, previous ? (id) => id === previous.id : undefined);
    if (previous) {
      for (const index of this.indexes.values()) index.remove(previous);
      this.remember(previous, entry.version);
    }
    for (const index of this.indexes.values()) index.add(entry);
    this.docs.set(entry.id, entry);
    return previous;
  }

  remove(id: string): Entry | undefined {
    const previous = this.docs.get(id);
    if (!previous) return undefined;
    for (const index of this.indexes.values()) index.remove(previous);
    this.docs.delete(id);
    this.remember(previous, ++versionCounter);
    return previous;
  }

  private remember(previous: Entry, until: number): void {
    if (openSnapshots.size === 0) return;
    const versions = this.history.get(previous.id);
    if (versions) versions.push({ entry: previous, until });
    else this.history.set(previous.id, [{ entry: previous, until }]);
    collectionsWithHistory.add(this);
  }

  /** The version of a document a snapshot sees: committed at or before it, and not yet replaced then. */
  visibleAt(id: string, snapshot: number): Entry | undefined {
    const current = this.docs.get(id);
    if (current && current.version <= snapshot) return current;
    for (const h of this.history.get(id) ?? []) if (h.entry.version <= snapshot && snapshot < h.until) return h.entry;
    return undefined;
  }

  clear(): void {
    this.docs.clear();
    for (const index of this.indexes.values()) index.clear();
  }

  /**
   * Ids that may match `filter`, from the most selective usable index; undefined means "scan everything".
   * Candidates are always re-checked against the full filter.
   */
  candidates(filter: Doc | undefined | null): Iterable<string> | undefined {
    if (!filter) return undefined;
    const conditions = leadingConditions(filter);
    let best: { ids: Iterable<string>; rank: number } | undefined;
    for (const index of this.indexes.values()) {
      if (index.isPartial) continue;
      const cond = conditions.get(index.fields[0][0]);
      if (!cond) continue;
      const plan = planFor(index, cond);
      if (plan && (!best || plan.rank < best.rank)) best = plan;
      if (best && best.rank === 0) break;
    }
    return best?.ids;
  }
}

type Condition = { eq: unknown[] } | { lo?: [unknown, boolean]; hi?: [unknown, boolean] };

const isOperatorObject = (v: unknown): v is Doc => isPlainObject(v) && Object.keys(v).some((k) => k.startsWith('$'));
const indexable = (v: unknown): boolean => !Array.isArray(v) && !(v instanceof RegExp) && (v as { _bsontype?: string })?._bsontype !== 'BSONRegExp';

/** Conditions on fields at the top level of a filter and inside a top-level $and. */
function leadingConditions(filter: Doc): Map<string, Condition> {
  const out = new Map<string, Condition>();
  const visit = (f: Doc) => {
    for (const [field, cond] of Object.entries(f)) {
      if (field === '$and' && Array.isArray(cond)) {
        for (const sub of cond) if (isPlainObject(sub)) visit(sub);
        continue;
      }
      if (field.startsWith('$')) continue;
      const c = conditionOf(cond);
      if (c) out.set(field, c);
    }
  };
  visit(filter);
  return out;
}

function conditionOf(cond: unknown): Condition | undefined {
  if (!isOperatorObject(cond)) return indexable(cond) && !isPlainObject(cond) ? { eq: [cond] } : undefined;
  if ('$eq' in cond) return indexable(cond.$eq) && !isPlainObject(cond.$eq) ? { eq: [cond.$eq] } : undefined;
  if ('$in' in cond) {
    const list = cond.$in;
    return Array.isArray(list) && list.every((v) => indexable(v) && !isPlainObject(v)) ? { eq: list } : undefined;
  }
  const range: { lo?: [unknown, boolean]; hi?: [unknown, boolean] } = {};
  if ('$gt' in cond) range.lo = [cond.$gt, false];
  if ('$gte' in cond) range.lo = [cond.$gte, true];
  if ('$lt' in cond) range.hi = [cond.$lt, false];
  if ('$lte' in cond) range.hi = [cond.$lte, true];
  if (!range.lo && !range.hi) return undefined;
  for (const b of [range.lo, range.hi]) if (b && (!indexable(b[0]) || isPlainObject(b[0]))) return undefined;
  return range;
}

function planFor(index: Index, cond: Condition): { ids: Iterable<string>; rank: number } | undefined {
  if ('eq' in cond) {
    // A sparse index holds no entry for missing fields, so it cannot answer a query for null.
    if (index.sparse && cond.eq.some((v) => v === null || v === undefined)) return undefined;
    const keys = cond.eq.map(encodeKey);
    if (keys.length === 1) return { ids: index.idsForKey(keys[0]), rank: index.unique && index.fields.length === 1 ? 0 : 1 };
    const ids = new Set<string>();
    for (const k of keys) for (const id of index.idsForKey(k)) ids.add(id);
    return { ids, rank: 2 };
  }
  const lo = cond.lo ? encodeKey(cond.lo[0]) : typeLowerBound(cond.hi![0]);
  const hi = cond.hi ? encodeKey(cond.hi[0]) : typeUpperBound(cond.lo![0]);
  // Comparison operators only match values of the bound's own type (type bracketing).
  const loInc = cond.lo ? cond.lo[1] : true;
  const hiInc = cond.hi ? cond.hi[1] : true;
  const boundedHi = cond.lo && cond.hi && lo[0] !== hi[0] ? typeUpperBound(cond.lo[0]) : hi;
  return { ids: [...index.idsInRange(lo, loInc, boundedHi, hiInc)], rank: 3 };
}

export const newObjectId = (): ObjectId => new ObjectId();
