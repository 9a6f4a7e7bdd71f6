// Choosing how to find the documents of a query: point reads by _id, key ranges of one index (which may also
// give the requested order), or a scan in storage order. Whatever the plan yields is a superset of the matches:
// every document is tested against the whole filter afterwards, so bounds may be loose but never too narrow.
import type { Collection, Index } from './collection.ts';
import { ErrorCodes, MongoServerError } from './errors.ts';
import { typeByte, valueKey } from './keys.ts';
import { type SortSpec, compileFilter } from './query.ts';
import type { KeyRange } from './store.ts';
import { type Doc, isPlainObject } from './values.ts';
import { typeRank } from './value-order.ts';

// `exact`: every stored document the plan yields matches the filter (see exactness below), so the scan need not
// decode it to test it, and a plain find answers with its stored bytes.
export type Plan =
  | { kind: 'ids'; keys: Buffer[]; exact?: boolean }
  | { kind: 'index'; index: Index; ranges: KeyRange[]; reverse: boolean; sorted: boolean; dedupe: boolean; exact?: boolean }
  | { kind: 'scan'; reverse: boolean; sorted: boolean; exact?: boolean }
  /** An `$or` whose every branch an index (or `_id`) answers: the union of the branches' plans, deduplicated. */
  | { kind: 'or'; plans: Exclude<Plan, { kind: 'or' | 'scan' }>[]; exact?: undefined };

export interface PlanOptions {
  sort?: SortSpec;
  /** An index name, or '$natural' (with `naturalDirection`), already checked by the caller. */
  hint?: string;
  naturalDirection?: 1 | -1;
  /** A transaction's snapshot: indexes built after it are not visible to it. */
  snapshotSeq?: number;
}

type Condition = { eq: unknown[] } | { lo?: unknown; hi?: unknown; loExclusive?: boolean; hiExclusive?: boolean };

/**
 * Values whose index key is the value itself and nothing else has (no loose number keys, no type equivalences):
 * an index entry equal to such a value's key, or between two such bounds, is a match, as MongoDB compares them.
 */
const exactKeyed = (v: unknown): boolean => typeof v === 'string' || (v as { _bsontype?: string } | null)?._bsontype === 'ObjectId';

const isOperatorObject = (v: unknown): v is Doc => isPlainObject(v) && Object.keys(v).some((k) => k.startsWith('$'));
const indexable = (v: unknown): boolean =>
  !Array.isArray(v) && !isPlainObject(v) && !(v instanceof RegExp) && (v as { _bsontype?: string })?._bsontype !== 'BSONRegExp';

/** Conditions on fields at the top level of a filter and inside a top-level $and. */
export function leadingConditions(filter: Doc | undefined | null): Map<string, Condition> {
  const out = new Map<string, Condition>();
  if (!filter) return out;
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
  if (!isOperatorObject(cond)) return indexable(cond) ? { eq: [cond] } : undefined;
  if ('$eq' in cond) return indexable(cond.$eq) ? { eq: [cond.$eq] } : undefined;
  if ('$in' in cond) {
    const list = cond.$in;
    return Array.isArray(list) && list.length > 0 && list.every(indexable) ? { eq: list } : undefined;
  }
  const range: { lo?: unknown; hi?: unknown; loExclusive?: boolean; hiExclusive?: boolean } = {};
  if ('$gt' in cond) (range.lo = cond.$gt), (range.loExclusive = true);
  if ('$gte' in cond) (range.lo = cond.$gte), (range.loExclusive = false);
  if ('$lt' in cond) (range.hi = cond.$lt), (range.hiExclusive = true);
  if ('$lte' in cond) (range.hi = cond.$lte), (range.hiExclusive = false);
  if (range.lo === undefined && range.hi === undefined) return undefined;
  for (const b of [range.lo, range.hi]) if (b !== undefined && !indexable(b)) return undefined;
  // Comparison operators only match values of the bound's own type (type bracketing).
  if (range.lo !== undefined && range.hi !== undefined && typeRank(range.lo) !== typeRank(range.hi)) return { lo: range.lo, loExclusive: range.loExclusive };
  return range;
}

// ---------------------------------------------------------------------------------------------------------
// Key bounds. A number bound covers every key with the same double (keys of Longs and decimals a double cannot
// hold carry their exact value after it); exclusive bounds are left to the matcher.

/** The smallest byte string above every string that starts with `prefix`; undefined when there is none. */
export function prefixEnd(prefix: Buffer): Buffer | undefined {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === 0xff) end--;
  if (end === 0) return undefined;
  const out = Buffer.from(prefix.subarray(0, end));
  out[end - 1]++;
  return out;
}

const looseKey = (v: unknown): Buffer => {
  const k = valueKey(v);
  return typeRank(v) === 3 ? k.subarray(0, 9) : k; // numbers: type byte and the 8 bytes of the double
};

const inv = (b: Buffer): Buffer => Buffer.from(b.map((x) => ~x & 0xff));

/**
 * The interval [lo, hi) of one component's encodings (inverted for a descending field) that a condition allows.
 * An exclusive bound of a type whose key is its exact value (exactKeyed) leaves the bound's own key out; other
 * exclusive bounds are left to the matcher.
 */
function componentRange(cond: { lo?: unknown; hi?: unknown; loExclusive?: boolean; hiExclusive?: boolean }, dir: number): { lo: Buffer; hi: Buffer | undefined } {
  const type = Buffer.from([typeByte(cond.lo !== undefined ? cond.lo : cond.hi)]);
  const tightLo = cond.loExclusive === true && exactKeyed(cond.lo);
  const tightHi = cond.hiExclusive === true && exactKeyed(cond.hi);
  if (dir > 0) {
    return {
      lo: cond.lo === undefined ? type : tightLo ? prefixEnd(valueKey(cond.lo))! : looseKey(cond.lo),
      hi: cond.hi === undefined ? prefixEnd(type) : tightHi ? valueKey(cond.hi) : prefixEnd(looseKey(cond.hi)),
    };
  }
  return {
    lo: cond.hi === undefined ? inv(type) : tightHi ? prefixEnd(inv(valueKey(cond.hi)))! : inv(looseKey(cond.hi)),
    hi: cond.lo === undefined ? prefixEnd(inv(type)) : tightLo ? inv(valueKey(cond.lo)) : prefixEnd(inv(looseKey(cond.lo))),
  };
}

const component = (v: unknown, dir: number): Buffer => (dir > 0 ? valueKey(v) : inv(valueKey(v)));

const MAX_RANGES = 1000;

interface Candidate {
  plan: Extract<Plan, { kind: 'index' }>;
  score: number;
}

function candidateFor(index: Index, conditions: Map<string, Condition>, sort: SortSpec | undefined): Candidate | undefined {
  // Equality on a leading run of fields, then at most one range.
  let prefixes: Buffer[] = [Buffer.alloc(0)];
  let eqFields = 0;
  let range: { lo: Buffer; hi: Buffer | undefined } | undefined;
  for (const [field, dir] of index.fields) {
    const cond = conditions.get(field);
    if (!cond) break;
    if ('eq' in cond) {
      // A sparse index holds no entry for missing fields, so it cannot answer a query for null.
      if (index.sparse && cond.eq.some((v) => v === null || v === undefined)) break;
      const next: Buffer[] = [];
      for (const p of prefixes) for (const v of cond.eq) next.push(Buffer.concat([p, component(v, dir)]));
      if (next.length > MAX_RANGES) break;
      prefixes = next;
      eqFields++;
      continue;
    }
    // On a multikey index two bounds of one field may be met by different elements of an array: keep one.
    range = componentRange(index.multikey && cond.lo !== undefined ? { lo: cond.lo, loExclusive: cond.loExclusive } : cond, dir);
    break;
  }
  const ranges: KeyRange[] = prefixes.map((p) => {
    if (range) {
      const hi = range.hi ? Buffer.concat([p, range.hi]) : prefixEnd(p);
      return { lo: Buffer.concat([p, range.lo]), hi };
    }
    return p.length ? { lo: p, hi: prefixEnd(p) } : {};
  });
  // The order the index gives: its fields after the equality prefix, all ascending or all reversed.
  let sorted = false;
  let reverse = false;
  if (sort && ranges.length === 1 && !index.multikey) {
    const rest = sort.filter(([f]) => {
      const c = conditions.get(f);
      return !(c && 'eq' in c && c.eq.length === 1);
    });
    const fields = index.fields.slice(eqFields);
    if (rest.length === 0) sorted = true;
    else if (rest.length <= fields.length && rest.every(([f], i) => fields[i][0] === f)) {
      const flips = rest.map(([, d], i) => d * (fields[i][1] < 0 ? -1 : 1));
      if (flips.every((x) => x === flips[0])) {
        sorted = true;
        reverse = flips[0] < 0;
      }
    }
  }
  if (eqFields === 0 && !range && !sorted) return undefined;
  let score = eqFields * 10 + (range ? 4 : 0) + (sorted ? 3 : 0);
  if (index.unique && eqFields === index.fields.length && prefixes.length === 1) score += 100;
  const dedupe = index.multikey || ranges.length > 1;
  return { plan: { kind: 'index', index, ranges, reverse, sorted, dedupe }, score };
}

/** Operators of a partial filter that hold for an array when they hold for one of its elements (as the query's equality does). */
const ELEMENTWISE = new Set(['$eq', '$type', '$exists', '$gt', '$gte', '$lt', '$lte']);

/**
 * Whether every document the query can match is in the partial index, as MongoDB requires before it uses one: here,
 * conservatively, each field of the partial filter (top-level, element-wise operators) is held by the query to
 * equality with values that all pass that field's condition. `{voucherId: 'v1'}` is covered by an index whose filter
 * is `{voucherId: {$type: 'string'}}`; `{voucherId: null}` (which also matches a missing field) is not.
 */
function coveredByPartial(index: Index, conditions: Map<string, Condition>): boolean {
  const filter = index.spec.partialFilterExpression;
  if (!filter) return true;
  for (const [field, predicate] of Object.entries(filter)) {
    if (field.startsWith('$') || field.includes('.')) return false;
    if (isOperatorObject(predicate)) {
      if (!Object.keys(predicate).every((op) => ELEMENTWISE.has(op))) return false;
      if ('$exists' in predicate && predicate.$exists !== true) return false;
      const types = Array.isArray(predicate.$type) ? predicate.$type : [predicate.$type];
      if ('$type' in predicate && types.some((t) => t === 'array' || t === 4)) return false;
    } else if (!indexable(predicate)) return false;
    const cond = conditions.get(field);
    if (!cond || !('eq' in cond)) return false;
    const matcher = compileFilter({ [field]: predicate });
    if (!cond.eq.every((v) => v !== null && v !== undefined && matcher.test({ [field]: v }))) return false;
  }
  return true;
}

export function planQuery(coll: Collection, filter: Doc | undefined | null, opts: PlanOptions = {}): Plan {
  const plan = choosePlan(coll, filter, opts);
  if (plan.kind !== 'or' && isExact(plan, filter)) plan.exact = true;
  return plan;
}

/** The filter's terms: its fields and those of nested `$and`s, empty documents dropped; undefined for any other operator. */
function termsOf(filter: Doc, out: Array<[string, unknown]> = []): Array<[string, unknown]> | undefined {
  for (const [field, cond] of Object.entries(filter)) {
    if (field === '$and') {
      if (!Array.isArray(cond)) return undefined;
      for (const sub of cond) if (!isPlainObject(sub) || !termsOf(sub, out)) return undefined;
    } else if (field.startsWith('$')) return undefined;
    else out.push([field, cond]);
  }
  return out;
}

/**
 * Whether the plan yields only matches: the filter is empty, or its one term is on the plan's only field and the
 * plan's keys are exactly its values: equality with ObjectIds or strings (on _id, or on an index of one top-level
 * field), or a range between such bounds on an index whose field never held an array. Anything else (several
 * terms, dotted paths, other types, `$ne`, `$regex`, ...) is tested document by document, as before.
 */
function isExact(plan: Exclude<Plan, { kind: 'or' }>, filter: Doc | undefined | null): boolean {
  const terms = filter ? termsOf(filter) : [];
  if (!terms) return false;
  if (terms.length === 0) return true;
  if (terms.length !== 1 || plan.kind === 'scan') return false;
  const [field, term] = terms[0];
  const cond = term as Doc;
  const ops = isOperatorObject(term) ? Object.keys(cond) : undefined;
  let eq: unknown[] | undefined;
  if (!ops) eq = [term];
  else if (ops.length === 1 && ops[0] === '$eq') eq = [cond.$eq];
  else if (ops.length === 1 && ops[0] === '$in' && Array.isArray(cond.$in)) eq = cond.$in;
  if (plan.kind === 'ids') return field === '_id' && eq !== undefined && eq.length > 0 && eq.every(exactKeyed);
  const { index, ranges } = plan;
  if (index.fields.length !== 1 || index.fields[0][0] !== field || field.includes('.')) return false;
  // The ranges must be the term's own (one per value, or the one range): an index read whole for a sort or a hint
  // (too many values to bound, say) yields more than the matches.
  const bounded = ranges.every((r) => r.lo !== undefined);
  if (eq) return eq.length > 0 && eq.every(exactKeyed) && bounded && ranges.length === eq.length;
  if (!bounded || ranges.length !== 1) return false;
  const bounds = ops!.every((op) => op === '$gt' || op === '$gte' || op === '$lt' || op === '$lte');
  if (!bounds || ops!.length > 2 || index.multikey) return false;
  const values = ops!.map((op) => (cond as Doc)[op]);
  // Both bounds of one type (else the planner keeps one and the matcher checks the other).
  return values.every(exactKeyed) && new Set(values.map((v) => typeof v)).size === 1 && (ops!.length === 1 || (ops!.some((o) => o.startsWith('$g')) && ops!.some((o) => o.startsWith('$l'))));
}

function choosePlan(coll: Collection, filter: Doc | undefined | null, opts: PlanOptions): Plan {
  const conditions = leadingConditions(filter);
  if (opts.hint === '$natural') return { kind: 'scan', reverse: opts.naturalDirection === -1, sorted: false };
  // A partial index only where the conditions at hand (the query's, or an $or branch's with them) imply its filter.
  const usable = (ix: Index, conds: Map<string, Condition>) => (!ix.isPartial || coveredByPartial(ix, conds)) && (opts.snapshotSeq === undefined || ix.builtSeq <= opts.snapshotSeq);
  if (opts.hint !== undefined) {
    const index = coll.indexes.get(opts.hint);
    if (!index) throw new MongoServerError(ErrorCodes.BadValue, 'error processing query: planner returned error :: caused by :: hint provided does not correspond to an existing index');
    // A hinted partial index is read like any other: it yields the documents it holds, which is what MongoDB
    // answers for such a hint.
    if (opts.snapshotSeq !== undefined && index.builtSeq > opts.snapshotSeq) return { kind: 'scan', reverse: false, sorted: false };
    const c = candidateFor(index, conditions, opts.sort);
    return c?.plan ?? { kind: 'index', index, ranges: [{}], reverse: false, sorted: false, dedupe: index.multikey };
  }
  const best = bestFor(coll, conditions, opts.sort, usable);
  if (best?.plan.kind === 'ids') return best.plan;
  if (best) return best.plan;
  // Nothing around an $or (at the top or in the top-level $and) has an index: one plan per branch, each with the
  // conditions around the $or, when every branch has one (MongoDB's OR stage). Where the conditions around it do
  // have an index, that plan stays: without trial runs, an equality on a broad field in each branch (a type) must
  // not displace a narrow range around them (a seq).
  const branches = orBranches(filter);
  if (branches) {
    const plans: Extract<Plan, { kind: 'or' }>['plans'] = [];
    for (const branch of branches) {
      const c = bestFor(coll, new Map([...conditions, ...leadingConditions(branch)]), undefined, usable);
      if (!c) break;
      plans.push(c.plan);
    }
    if (plans.length === branches.length) return { kind: 'or', plans };
  }
  return { kind: 'scan', reverse: false, sorted: !opts.sort };
}

type Best = { plan: Extract<Plan, { kind: 'ids' | 'index' }>; score: number };

/** `_id` equality (point reads), or the best index for the conditions; undefined when only a scan answers. */
function bestFor(coll: Collection, conditions: Map<string, Condition>, sort: SortSpec | undefined, usable: (ix: Index, conds: Map<string, Condition>) => boolean): Best | undefined {
  const idCond = conditions.get('_id');
  if (idCond && 'eq' in idCond && idCond.eq.length <= MAX_RANGES) return { plan: { kind: 'ids', keys: idCond.eq.map((v) => valueKey(v)) }, score: 1000 };
  let best: Candidate | undefined;
  for (const index of coll.indexes.values()) {
    if (index.hidden || !usable(index, conditions)) continue;
    const c = candidateFor(index, conditions, sort);
    if (c && (!best || c.score > best.score)) best = c;
  }
  return best;
}

/** The branches of the filter's `$or`, at its top level or in its top-level `$and` (the first one); else undefined. */
function orBranches(filter: Doc | undefined | null): Doc[] | undefined {
  if (!filter) return undefined;
  const branchesOf = (or: unknown) => (Array.isArray(or) && or.length > 0 && or.every(isPlainObject) ? (or as Doc[]) : undefined);
  if ('$or' in filter) return branchesOf(filter.$or);
  if (Array.isArray(filter.$and)) {
    for (const part of filter.$and) if (isPlainObject(part) && '$or' in part) return branchesOf(part.$or);
  }
  return undefined;
}
